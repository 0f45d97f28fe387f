package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// runModels is `partita models push NAME FILE [--alias A] [--kind K] | list | get NAME | alias NAME ALIAS VERSION[=W][,VERSION=W]`.
func runModels(args []string) int {
	usage := "usage: partita models push NAME MODEL.onnx [--alias prod] [--kind onnx|logistic] | list | get NAME | alias NAME ALIAS VERSION[=WEIGHT][,VERSION=WEIGHT]"
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, usage)
		return exitUsage
	}
	ctx := context.Background()
	c := newClient()
	sub, rest := args[0], args[1:]
	fs := flag.NewFlagSet("partita models "+sub, flag.ContinueOnError)
	alias := fs.String("alias", "", "point this alias at the new version")
	kind := fs.String("kind", "", "model kind: onnx (default; .json files: logistic)")
	pos, ok := positionals(fs, rest)
	if !ok {
		return exitUsage
	}
	var out []byte
	var err error
	switch {
	case sub == "list" && len(pos) == 0:
		out, err = c.Call(ctx, "GET", "/v1/models", "", nil)
	case sub == "get" && len(pos) == 1:
		out, err = c.Call(ctx, "GET", "/v1/models/"+url.PathEscape(pos[0]), "", nil)
	case sub == "push" && len(pos) == 2:
		out, err = pushModel(ctx, pos[0], pos[1], *kind, *alias)
	case sub == "alias" && len(pos) == 3:
		body, perr := aliasBody(pos[2])
		if perr != nil {
			fmt.Fprintln(os.Stderr, "partita models alias:", perr)
			return exitUsage
		}
		out, err = c.Call(ctx, "PUT", "/v1/models/"+url.PathEscape(pos[0])+"/aliases/"+url.PathEscape(pos[1]), "application/json", bytes.NewReader(body))
	default:
		fmt.Fprintln(os.Stderr, usage)
		return exitUsage
	}
	return printAnswer(out, err)
}

func pushModel(ctx context.Context, name, path, kind, alias string) ([]byte, error) {
	file, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if kind == "" {
		kind = "onnx"
		if strings.HasSuffix(path, ".json") {
			kind = "logistic"
		}
	}
	c := newClient()
	out, err := c.Call(ctx, "POST", "/v1/models/"+url.PathEscape(name)+"/versions?kind="+url.QueryEscape(kind), "application/octet-stream", bytes.NewReader(file))
	if err != nil || alias == "" {
		return out, err
	}
	var v struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		return nil, err
	}
	body, _ := json.Marshal(map[string]int{"version": v.Version})
	if _, err := c.Call(ctx, "PUT", "/v1/models/"+url.PathEscape(name)+"/aliases/"+url.PathEscape(alias), "application/json", bytes.NewReader(body)); err != nil {
		return nil, err
	}
	return out, nil
}

// aliasBody reads "3" or "3=90,4=10".
func aliasBody(spec string) ([]byte, error) {
	if n, err := strconv.Atoi(spec); err == nil {
		return json.Marshal(map[string]int{"version": n})
	}
	weights := map[string]int{}
	for _, item := range strings.Split(spec, ",") {
		v, w, ok := strings.Cut(item, "=")
		n, err1 := strconv.Atoi(v)
		wt, err2 := strconv.Atoi(w)
		if !ok || err1 != nil || err2 != nil || n < 1 || wt < 0 {
			return nil, fmt.Errorf("%q is not VERSION or VERSION=WEIGHT,…", spec)
		}
		weights[v] = wt
	}
	return json.Marshal(map[string]map[string]int{"weights": weights})
}
