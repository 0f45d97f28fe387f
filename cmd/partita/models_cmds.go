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
)

// model is a model of the registry as the API shows it.
type model struct {
	Name     string `json:"name"`
	Versions []struct {
		Version   int       `json:"version"`
		Kind      string    `json:"kind"`
		Size      int64     `json:"size"`
		Width     int       `json:"width"`
		SHA256    string    `json:"sha256"`
		CreatedAt time.Time `json:"created_at"`
	} `json:"versions"`
	Aliases map[string]struct {
		Version int            `json:"version"`
		Weights map[string]int `json:"weights"`
	} `json:"aliases"`
}

func modelsCmd() *cobra.Command {
	cmd := groupCmd("models", "push model versions, point aliases at them, list and show models")
	cmd.AddCommand(modelsListCmd(), modelsGetCmd(), modelsPushCmd(), modelsAliasCmd())
	return cmd
}

func modelsListCmd() *cobra.Command {
	var out *outputFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "list the tenant's models",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return callAndEmit(cmd.Context(), newClient(), out, "GET", "/v1/models", "", nil, func(raw []byte) (doc, error) {
				var page struct {
					Models []model `json:"models"`
				}
				if err := json.Unmarshal(raw, &page); err != nil {
					return doc{}, fmt.Errorf("decode models: %w", err)
				}
				return doc{raw: raw, table: func(bool) *table { return modelsTable(page.Models) }}, nil
			})
		},
	}
	out = addOutputFlags(cmd, formatTable, formatJSON, formatYAML, formatCSV)
	return cmd
}

func modelsTable(ms []model) *table {
	t := &table{header: []string{"name", "versions", "latest", "aliases"}}
	for _, m := range ms {
		latest := ""
		if n := len(m.Versions); n > 0 {
			v := m.Versions[n-1]
			latest = fmt.Sprintf("%d (%s, %s)", v.Version, v.Kind, v.CreatedAt.UTC().Format(time.DateOnly))
		}
		t.add(m.Name, strconv.Itoa(len(m.Versions)), latest, aliasList(m))
	}
	return t
}

// aliasList shows aliases as prod=3, canary=3:90/4:10, by name.
func aliasList(m model) string {
	var out []string
	for name, a := range m.Aliases {
		target := strconv.Itoa(a.Version)
		if len(a.Weights) > 0 {
			var ws []string
			for v, w := range a.Weights {
				ws = append(ws, v+":"+strconv.Itoa(w))
			}
			sort.Strings(ws)
			target = strings.Join(ws, "/")
		}
		out = append(out, name+"="+target)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// modelDoc is a model: its aliases, then its versions.
func modelDoc(raw []byte) (doc, error) {
	var m model
	if err := json.Unmarshal(raw, &m); err != nil {
		return doc{}, fmt.Errorf("decode model: %w", err)
	}
	versions := func(bool) *table {
		t := &table{header: []string{"version", "kind", "width", "size", "sha256", "created"}}
		for _, v := range m.Versions {
			t.add(strconv.Itoa(v.Version), v.Kind, strconv.Itoa(v.Width), strconv.FormatInt(v.Size, 10), v.SHA256, v.CreatedAt.UTC().Format(time.RFC3339))
		}
		return t
	}
	human := func(w io.Writer) error {
		fmt.Fprintf(w, "Model:    %s\nAliases:  %s\n\n", m.Name, aliasList(m))
		return versions(false).write(w)
	}
	return doc{raw: raw, human: human, table: versions}, nil
}

func modelsGetCmd() *cobra.Command {
	var out *outputFlags
	cmd := &cobra.Command{
		Use:               "get NAME",
		Short:             "show a model: its aliases and versions",
		Args:              exactArgs("NAME"),
		ValidArgsFunction: completeModels,
		RunE: func(cmd *cobra.Command, args []string) error {
			return callAndEmit(cmd.Context(), newClient(), out, "GET", "/v1/models/"+url.PathEscape(args[0]), "", nil, modelDoc)
		},
	}
	out = addOutputFlags(cmd, formatTable, formatJSON, formatYAML, formatCSV)
	return cmd
}

func modelsPushCmd() *cobra.Command {
	var alias, kind string
	var out *outputFlags
	cmd := &cobra.Command{
		Use:   "push NAME MODEL.onnx [--alias prod] [--kind onnx|logistic]",
		Short: "push a new version of a model",
		Long: `Push a model file as the model's next version (validated by the server), and
with --alias point an alias at it. Prints the new version.`,
		Args: exactArgs("NAME", "FILE"),
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 1 {
				return []string{"onnx", "json"}, cobra.ShellCompDirectiveFilterFileExt
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			name, path := args[0], args[1]
			file, err := os.ReadFile(path)
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			if kind == "" {
				kind = "onnx"
				if strings.HasSuffix(path, ".json") {
					kind = "logistic"
				}
			}
			s, err := out.open()
			if err != nil {
				return err
			}
			defer s.discard()
			ctx, c := cmd.Context(), newClient()
			raw, err := c.Call(ctx, "POST", "/v1/models/"+url.PathEscape(name)+"/versions?kind="+url.QueryEscape(kind), "application/octet-stream", bytes.NewReader(file))
			if err != nil {
				return apiError(err)
			}
			if alias != "" {
				var v struct {
					Version int `json:"version"`
				}
				if err := json.Unmarshal(raw, &v); err != nil {
					return apiError(fmt.Errorf("decode version: %w", err))
				}
				if _, err := c.Call(ctx, "PUT", "/v1/models/"+url.PathEscape(name)+"/aliases/"+url.PathEscape(alias), "application/json", jsonBody(map[string]int{"version": v.Version})); err != nil {
					return apiError(fmt.Errorf("version %d pushed, alias %s not set: %w", v.Version, alias, err))
				}
			}
			return s.emit(fieldsDoc(raw))
		},
	}
	cmd.Flags().StringVar(&alias, "alias", "", "point this alias at the new version")
	cmd.Flags().StringVar(&kind, "kind", "", "model kind: onnx, or logistic (default: onnx; .json files logistic)")
	_ = cmd.RegisterFlagCompletionFunc("kind", cobra.FixedCompletions([]string{"onnx", "logistic"}, cobra.ShellCompDirectiveNoFileComp))
	out = addOutputFlags(cmd, formatTable, formatJSON, formatYAML)
	return cmd
}

func modelsAliasCmd() *cobra.Command {
	var out *outputFlags
	cmd := &cobra.Command{
		Use:   "alias NAME ALIAS VERSION[=WEIGHT][,VERSION=WEIGHT]",
		Short: "point an alias at a version, or split it between versions by weight",
		Long: `Point ALIAS of model NAME at a version (3), or at versions by weight (A/B:
3=90,4=10). Rolling back is pointing it back. Prints the model.`,
		Example:           "  partita models alias dga-risk prod 3\n  partita models alias dga-risk canary 3=90,4=10",
		Args:              exactArgs("NAME", "ALIAS", "VERSION"),
		ValidArgsFunction: completeModels,
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := aliasBody(args[2])
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			return callAndEmit(cmd.Context(), newClient(), out, "PUT", "/v1/models/"+url.PathEscape(args[0])+"/aliases/"+url.PathEscape(args[1]), "application/json", bytes.NewReader(body), modelDoc)
		},
	}
	out = addOutputFlags(cmd, formatTable, formatJSON, formatYAML)
	return cmd
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

// completeModels completes the first argument with the tenant's models.
func completeModels(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Second)
	defer cancel()
	raw, err := newClient().Call(ctx, "GET", "/v1/models", "", nil)
	var page struct {
		Models []model `json:"models"`
	}
	if err != nil || json.Unmarshal(raw, &page) != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	names := make([]string, len(page.Models))
	for i, m := range page.Models {
		names[i] = m.Name
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}
