package aggregator

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/partita/partita/libs/results"
	"github.com/partita/partita/libs/spec"
	"github.com/partita/partita/libs/work"
)

// merge lays the parts' rows out under the result columns, in part order,
// and lists the part reports. A failed part keeps its rows, without the
// columns the failing stage would have added.
func merge(columns []string, parts map[int]*work.Part) ([][]string, *results.Meta) {
	ids := make([]int, 0, len(parts))
	n := 0
	for id, p := range parts {
		ids = append(ids, id)
		if p.Rows != nil {
			n += len(p.Rows.Rows)
		}
	}
	slices.Sort(ids)
	rows := make([][]string, 0, n)
	meta := &results.Meta{Columns: columns, Parts: make([]results.Part, 0, len(ids))}
	for _, id := range ids {
		p := parts[id]
		rp := results.Part{ID: p.ID(), Rows: p.RowCount, Solver: p.Solver}
		if name, v, ok := strings.Cut(p.Model, "@"); ok {
			version, _ := strconv.Atoi(v)
			rp.Model = &results.ModelRef{Name: name, Version: version}
		}
		if p.Error != nil {
			rp.Error = &results.PartError{Stage: p.Error.Stage, Code: p.Error.Code, Message: p.Error.Message}
		}
		meta.Parts = append(meta.Parts, rp)
		if p.Rows == nil {
			continue
		}
		idx := make([]int, len(columns))
		for i, c := range columns {
			idx[i] = p.Rows.Col(c)
		}
		cells := make([]string, len(columns)*len(p.Rows.Rows))
		for r, src := range p.Rows.Rows {
			row := cells[r*len(columns) : (r+1)*len(columns) : (r+1)*len(columns)]
			for i, j := range idx {
				if j >= 0 {
					row[i] = src[j]
				}
			}
			rows = append(rows, row)
		}
	}
	return rows, meta
}

// sortRows orders rows by a column ("-col" descending); numbers compare as
// numbers and sort before text; empty cells go last. The sort is stable.
func sortRows(columns []string, rows [][]string, by string) error {
	if by == "" {
		return nil
	}
	desc := strings.HasPrefix(by, "-")
	col := slices.Index(columns, strings.TrimPrefix(by, "-"))
	if col < 0 {
		return fmt.Errorf("aggregate.sort: column %q is not in the result", strings.TrimPrefix(by, "-"))
	}
	type key struct {
		num   float64
		isNum bool
		text  string
	}
	keys := make(map[*string]key, len(rows))
	for _, r := range rows {
		v, err := strconv.ParseFloat(r[col], 64)
		keys[&r[col]] = key{num: v, isNum: err == nil && !math.IsNaN(v), text: r[col]}
	}
	slices.SortStableFunc(rows, func(a, b []string) int {
		ka, kb := keys[&a[col]], keys[&b[col]]
		if (ka.text == "") != (kb.text == "") {
			if ka.text == "" {
				return 1
			}
			return -1
		}
		var c int
		switch {
		case ka.isNum && kb.isNum:
			c = cmp.Compare(ka.num, kb.num)
		case ka.isNum:
			return -1
		case kb.isNum:
			return 1
		default:
			c = strings.Compare(ka.text, kb.text)
		}
		if desc {
			return -c
		}
		return c
	})
	return nil
}

// summarize evaluates aggregate.summary over the rows. An item that cannot
// be evaluated is reported in the errors map instead of failing the job.
func summarize(columns []string, rows [][]string, items []string) (map[string]any, map[string]string) {
	out := map[string]any{}
	var errs map[string]string
	fail := func(item string, err error) {
		if errs == nil {
			errs = map[string]string{}
		}
		errs[item] = err.Error()
		out[item] = nil
	}
	env := make(map[string]any, len(columns))
	for _, item := range items {
		s, err := spec.ParseSummary(item)
		if err != nil {
			fail(item, err)
			continue
		}
		prog, err := expr.Compile(s.Expr, expr.AllowUndefinedVariables())
		if err != nil {
			fail(item, err)
			continue
		}
		v, err := evaluate(s.Func, prog, columns, rows, env)
		if err != nil {
			fail(item, err)
			continue
		}
		out[item] = v
	}
	return out, errs
}

func evaluate(fn string, prog *vm.Program, columns []string, rows [][]string, env map[string]any) (any, error) {
	var sum float64
	var count int
	lo, hi := math.Inf(1), math.Inf(-1)
	for r, row := range rows {
		for i, c := range columns {
			if f, err := strconv.ParseFloat(row[i], 64); err == nil {
				env[c] = f
			} else {
				env[c] = row[i]
			}
		}
		v, err := expr.Run(prog, env)
		if err != nil {
			return nil, fmt.Errorf("row %d: %w", r+1, err)
		}
		if fn == "count" {
			if truthy(v) {
				count++
			}
			continue
		}
		f, ok := toFloat(v)
		if !ok {
			continue // rows without a number (e.g. a failed part's) are skipped
		}
		sum += f
		count++
		lo, hi = min(lo, f), max(hi, f)
	}
	switch fn {
	case "count":
		return count, nil
	case "sum":
		return sum, nil
	case "mean":
		if count == 0 {
			return nil, nil
		}
		return sum / float64(count), nil
	case "min":
		if count == 0 {
			return nil, nil
		}
		return lo, nil
	case "max":
		if count == 0 {
			return nil, nil
		}
		return hi, nil
	}
	return nil, fmt.Errorf("unknown summary function %q", fn)
}

func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case nil:
		return false
	}
	f, ok := toFloat(v)
	return ok && f != 0
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, !math.IsNaN(x)
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case float32:
		return float64(x), true
	}
	return 0, false
}
