package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"

	"github.com/partita/partita/internal/client"
)

// runTenants is `partita tenants create NAME --tier TIER | list | get NAME
// | set-tier NAME TIER | keys rotate NAME`, with the admin key from
// PARTITA_ADMIN_KEY.
func runTenants(args []string) int {
	usage := "usage: partita tenants create NAME --tier free|standard|pro | list | get NAME | set-tier NAME TIER | suspend NAME | resume NAME | delete NAME --confirm NAME | keys rotate NAME [--grace 24h] | usage [--from DAY] [--to DAY]   (PARTITA_URL, PARTITA_ADMIN_KEY)"
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, usage)
		return exitUsage
	}
	admin := os.Getenv("PARTITA_ADMIN_KEY")
	if admin == "" {
		fmt.Fprintln(os.Stderr, "partita tenants: set PARTITA_ADMIN_KEY to the admin key (`partita dev` prints it)")
		return exitUsage
	}
	c := client.New(os.Getenv("PARTITA_URL"), admin)
	ctx := context.Background()
	fs := flag.NewFlagSet("partita tenants "+args[0], flag.ContinueOnError)
	tier := fs.String("tier", "free", "the tenant's tier: free, standard or pro")
	from, to := usageFlags(fs)
	grace := fs.String("grace", "", "keys rotate: keep the old key working this long (e.g. 24h, at most 168h)")
	confirm := fs.String("confirm", "", "delete: the tenant's name again")
	pos, ok := positionals(fs, args[1:])
	if !ok {
		return exitUsage
	}
	var out []byte
	var err error
	switch sub := args[0]; {
	case sub == "create" && len(pos) == 1:
		out, err = c.Call(ctx, "POST", "/v1/admin/tenants", "application/json", jsonBody(map[string]string{"name": pos[0], "tier": *tier}))
	case sub == "list" && len(pos) == 0:
		out, err = c.Call(ctx, "GET", "/v1/admin/tenants", "", nil)
	case sub == "get" && len(pos) == 1:
		out, err = c.Call(ctx, "GET", "/v1/admin/tenants/"+url.PathEscape(pos[0]), "", nil)
	case sub == "set-tier" && len(pos) == 2:
		out, err = c.Call(ctx, "PATCH", "/v1/admin/tenants/"+url.PathEscape(pos[0]), "application/json", jsonBody(map[string]string{"tier": pos[1]}))
	case (sub == "suspend" || sub == "resume") && len(pos) == 1:
		out, err = c.Call(ctx, "PATCH", "/v1/admin/tenants/"+url.PathEscape(pos[0]), "application/json", jsonBody(map[string]bool{"suspended": sub == "suspend"}))
	case sub == "delete" && len(pos) == 1:
		out, err = c.Call(ctx, "DELETE", "/v1/admin/tenants/"+url.PathEscape(pos[0])+"?confirm="+url.QueryEscape(*confirm), "", nil)
	case sub == "keys" && len(pos) == 2 && pos[0] == "rotate" && *grace != "":
		out, err = c.Call(ctx, "POST", "/v1/admin/tenants/"+url.PathEscape(pos[1])+"/keys:rotate", "application/json", jsonBody(map[string]string{"grace": *grace}))
	case sub == "keys" && len(pos) == 2 && pos[0] == "rotate":
		out, err = c.Call(ctx, "POST", "/v1/admin/tenants/"+url.PathEscape(pos[1])+"/keys:rotate", "", nil)
	case sub == "usage" && len(pos) == 0:
		out, err = c.Call(ctx, "GET", "/v1/admin/usage"+usageQuery(*from, *to), "", nil)
	default:
		fmt.Fprintln(os.Stderr, usage)
		return exitUsage
	}
	return printAnswer(out, err)
}

// runUsage is `partita usage [--from DAY] [--to DAY]`: the tenant's usage by day.
func runUsage(args []string) int {
	fs := flag.NewFlagSet("partita usage", flag.ContinueOnError)
	from, to := usageFlags(fs)
	pos, ok := positionals(fs, args)
	if !ok || len(pos) > 0 {
		fmt.Fprintln(os.Stderr, "usage: partita usage [--from YYYY-MM-DD] [--to YYYY-MM-DD]   (PARTITA_URL, PARTITA_API_KEY)")
		return exitUsage
	}
	c := client.New(os.Getenv("PARTITA_URL"), os.Getenv("PARTITA_API_KEY"))
	out, err := c.Call(context.Background(), "GET", "/v1/usage"+usageQuery(*from, *to), "", nil)
	return printAnswer(out, err)
}

func usageFlags(fs *flag.FlagSet) (from, to *string) {
	return fs.String("from", "", "first day, YYYY-MM-DD UTC (default: 29 days before --to)"),
		fs.String("to", "", "last day, YYYY-MM-DD UTC, inclusive (default: today)")
}

func usageQuery(from, to string) string {
	q := url.Values{}
	if from != "" {
		q.Set("from", from)
	}
	if to != "" {
		q.Set("to", to)
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

func jsonBody(v any) *bytes.Reader {
	b, _ := json.Marshal(v) // maps of strings and bools always marshal
	return bytes.NewReader(b)
}
