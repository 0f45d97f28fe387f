package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/partita/partita/internal/client"
)

// tenant is a tenant as the admin API shows it.
type tenant struct {
	Name      string    `json:"name"`
	Tier      string    `json:"tier"`
	CreatedAt time.Time `json:"created_at"`
	Suspended bool      `json:"suspended"`
}

func tenantsCmd() *cobra.Command {
	cmd := groupCmd("tenants", "onboard and manage tenants (admin: PARTITA_ADMIN_KEY)")
	cmd.AddCommand(
		tenantsCallCmd("create NAME [--tier free|standard|pro]", "create a tenant; prints its API key (shown once)", []string{"NAME"}, func(cmd *cobra.Command, a []string) (string, string, any) {
			tier, _ := cmd.Flags().GetString("tier")
			return "POST", "/v1/admin/tenants", map[string]string{"name": a[0], "tier": tier}
		}, func(cmd *cobra.Command) {
			cmd.Flags().String("tier", "free", "the tenant's tier: free, standard or pro")
			_ = cmd.RegisterFlagCompletionFunc("tier", cobra.FixedCompletions([]string{"free", "standard", "pro"}, cobra.ShellCompDirectiveNoFileComp))
		}),
		tenantsListCmd(),
		tenantsCallCmd("get NAME", "show a tenant", []string{"NAME"}, func(_ *cobra.Command, a []string) (string, string, any) {
			return "GET", "/v1/admin/tenants/" + url.PathEscape(a[0]), nil
		}, nil),
		tenantsCallCmd("set-tier NAME TIER", "change a tenant's tier", []string{"NAME", "TIER"}, func(_ *cobra.Command, a []string) (string, string, any) {
			return "PATCH", "/v1/admin/tenants/" + url.PathEscape(a[0]), map[string]string{"tier": a[1]}
		}, nil),
		tenantsCallCmd("suspend NAME", "suspend a tenant: its keys answer 403, its running jobs finish", []string{"NAME"}, func(_ *cobra.Command, a []string) (string, string, any) {
			return "PATCH", "/v1/admin/tenants/" + url.PathEscape(a[0]), map[string]bool{"suspended": true}
		}, nil),
		tenantsCallCmd("resume NAME", "resume a suspended tenant", []string{"NAME"}, func(_ *cobra.Command, a []string) (string, string, any) {
			return "PATCH", "/v1/admin/tenants/" + url.PathEscape(a[0]), map[string]bool{"suspended": false}
		}, nil),
		tenantsCallCmd("delete NAME --confirm NAME", "delete a tenant and everything it stored (its usage is kept)", []string{"NAME"}, func(cmd *cobra.Command, a []string) (string, string, any) {
			confirm, _ := cmd.Flags().GetString("confirm")
			return "DELETE", "/v1/admin/tenants/" + url.PathEscape(a[0]) + "?confirm=" + url.QueryEscape(confirm), nil
		}, func(cmd *cobra.Command) {
			cmd.Flags().String("confirm", "", "the tenant's name again")
		}),
		tenantsKeysCmd(),
		usageCmd("usage [--from DAY] [--to DAY]", "every tenant's usage and cost", "/v1/admin/usage", adminClient, adminUsageDoc),
	)
	return cmd
}

// adminClient is the client of the admin API, with PARTITA_ADMIN_KEY.
func adminClient() (*client.Client, error) {
	key := os.Getenv("PARTITA_ADMIN_KEY")
	if key == "" {
		return nil, usageErrorf("set PARTITA_ADMIN_KEY to the admin key (`partita dev` prints it)")
	}
	return client.New(os.Getenv("PARTITA_URL"), key), nil
}

func tenantClient() (*client.Client, error) { return newClient(), nil }

// tenantsCallCmd is an admin command of one call whose answer is a
// tenant-like object, printed as "key: value" lines.
func tenantsCallCmd(use, short string, args []string, call func(*cobra.Command, []string) (method, path string, body any), flags func(*cobra.Command)) *cobra.Command {
	var out *outputFlags
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  exactArgs(args...),
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := adminClient()
			if err != nil {
				return err
			}
			method, path, body := call(cmd, a)
			var r io.Reader
			ctype := ""
			if body != nil {
				r, ctype = jsonBody(body), "application/json"
			}
			return callAndEmit(cmd.Context(), c, out, method, path, ctype, r, func(raw []byte) (doc, error) { return fieldsDoc(raw), nil })
		},
	}
	if flags != nil {
		flags(cmd)
	}
	out = addOutputFlags(cmd, formatTable, formatJSON, formatYAML)
	return cmd
}

func tenantsListCmd() *cobra.Command {
	var out *outputFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "list the tenants by name",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := adminClient()
			if err != nil {
				return err
			}
			return callAndEmit(cmd.Context(), c, out, "GET", "/v1/admin/tenants", "", nil, func(raw []byte) (doc, error) {
				var page struct {
					Tenants []tenant `json:"tenants"`
				}
				if err := json.Unmarshal(raw, &page); err != nil {
					return doc{}, fmt.Errorf("decode tenants: %w", err)
				}
				return doc{raw: raw, table: func(machine bool) *table {
					t := &table{header: []string{"name", "tier", "suspended", "created"}}
					for _, tn := range page.Tenants {
						created := stamp(tn.CreatedAt)
						if machine {
							created = tn.CreatedAt.UTC().Format(time.RFC3339Nano)
						}
						t.add(tn.Name, tn.Tier, strconv.FormatBool(tn.Suspended), created)
					}
					return t
				}}, nil
			})
		},
	}
	out = addOutputFlags(cmd, formatTable, formatJSON, formatYAML, formatCSV)
	return cmd
}

func tenantsKeysCmd() *cobra.Command {
	cmd := groupCmd("keys", "manage a tenant's API keys")
	cmd.AddCommand(tenantsCallCmd("rotate NAME [--grace 24h]", "give a tenant a new API key (shown once); --grace keeps the old one working", []string{"NAME"},
		func(cmd *cobra.Command, a []string) (string, string, any) {
			path := "/v1/admin/tenants/" + url.PathEscape(a[0]) + "/keys:rotate"
			if grace, _ := cmd.Flags().GetString("grace"); grace != "" {
				return "POST", path, map[string]string{"grace": grace}
			}
			return "POST", path, nil
		}, func(cmd *cobra.Command) {
			cmd.Flags().String("grace", "", "keep the old key working this long (e.g. 24h, at most 168h)")
		}))
	return cmd
}

// usageReport is a tenant's usage over days, as the API shows it.
type usageReport struct {
	Tenant            string             `json:"tenant"`
	Day               string             `json:"day"`
	Jobs              map[string]int     `json:"jobs"`
	Parts             int64              `json:"parts"`
	Rows              int64              `json:"rows"`
	Inferences        int64              `json:"inferences"`
	BytesStored       int64              `json:"bytes_stored"`
	CPUSecondsByStage map[string]float64 `json:"cpu_seconds_per_stage"`
	WebhookDeliveries int64              `json:"webhook_deliveries"`
	Cost              *struct {
		Currency string  `json:"currency"`
		Total    float64 `json:"total"`
	} `json:"cost"`
	Days []usageReport `json:"days"`
}

// usageCells are a report's figures, in the columns of usageHeader.
func usageCells(u usageReport, machine bool) []string {
	var statuses []string
	for s, n := range u.Jobs {
		statuses = append(statuses, fmt.Sprintf("%d %s", n, s))
	}
	sort.Strings(statuses)
	cpu := 0.0
	for _, s := range u.CPUSecondsByStage {
		cpu += s
	}
	stored := strconv.FormatInt(u.BytesStored, 10)
	if !machine {
		stored = bytesize(u.BytesStored)
	}
	return []string{strings.Join(statuses, ", "), strconv.FormatInt(u.Parts, 10), strconv.FormatInt(u.Rows, 10),
		strconv.FormatInt(u.Inferences, 10), strconv.FormatFloat(cpu, 'f', 3, 64), stored, strconv.FormatInt(u.WebhookDeliveries, 10)}
}

var usageHeader = []string{"jobs", "parts", "rows", "inferences", "cpu_s", "stored", "webhooks"}

// tenantUsageDoc is `partita usage`: a row per day, then the total.
func tenantUsageDoc(raw []byte) (doc, error) {
	var u usageReport
	if err := json.Unmarshal(raw, &u); err != nil {
		return doc{}, fmt.Errorf("decode usage: %w", err)
	}
	return doc{raw: raw, table: func(machine bool) *table {
		t := &table{header: append([]string{"day"}, usageHeader...)}
		for _, d := range u.Days {
			t.add(append([]string{d.Day}, usageCells(d, machine)...)...)
		}
		t.add(append([]string{"total"}, usageCells(u, machine)...)...)
		return t
	}}, nil
}

// adminUsageDoc is `partita tenants usage`: a row per tenant, with its cost.
func adminUsageDoc(raw []byte) (doc, error) {
	var all struct {
		Tenants []usageReport `json:"tenants"`
	}
	if err := json.Unmarshal(raw, &all); err != nil {
		return doc{}, fmt.Errorf("decode usage: %w", err)
	}
	return doc{raw: raw, table: func(machine bool) *table {
		t := &table{header: append(append([]string{"tenant"}, usageHeader...), "cost")}
		for _, u := range all.Tenants {
			cost := ""
			if u.Cost != nil {
				cost = strconv.FormatFloat(u.Cost.Total, 'f', -1, 64) + " " + u.Cost.Currency
			}
			t.add(append(append([]string{u.Tenant}, usageCells(u, machine)...), cost)...)
		}
		return t
	}}, nil
}

// usageCmd is `partita usage` or `partita tenants usage`.
func usageCmd(use, short, path string, newClient func() (*client.Client, error), mk func([]byte) (doc, error)) *cobra.Command {
	var from, to string
	var out *outputFlags
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			p, q := path, url.Values{}
			if from != "" {
				q.Set("from", from)
			}
			if to != "" {
				q.Set("to", to)
			}
			if len(q) > 0 {
				p += "?" + q.Encode()
			}
			return callAndEmit(cmd.Context(), c, out, "GET", p, "", nil, mk)
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "first day, YYYY-MM-DD UTC (default: 29 days before --to)")
	cmd.Flags().StringVar(&to, "to", "", "last day, YYYY-MM-DD UTC, inclusive (default: today)")
	out = addOutputFlags(cmd, formatTable, formatJSON, formatYAML, formatCSV)
	return cmd
}

// callAndEmit makes one API call and writes its answer, made a doc by mk.
func callAndEmit(ctx context.Context, c *client.Client, out *outputFlags, method, path, ctype string, body io.Reader, mk func([]byte) (doc, error)) error {
	s, err := out.open()
	if err != nil {
		return err
	}
	defer s.discard()
	raw, err := c.Call(ctx, method, path, ctype, body)
	if err != nil {
		return apiError(err)
	}
	v, err := mk(raw)
	if err != nil {
		return apiError(err)
	}
	return s.emit(v)
}

// fieldsDoc is an object shown as "key: value" lines.
func fieldsDoc(raw []byte) doc {
	return doc{raw: raw, human: func(w io.Writer) error { return writeFields(w, raw) }}
}

func jsonBody(v any) *bytes.Reader {
	b, _ := json.Marshal(v) // maps of strings, ints and bools always marshal
	return bytes.NewReader(b)
}

// bytesize shows a byte count in kB, MB, GB (powers of 1000).
func bytesize(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}
