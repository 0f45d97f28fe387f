package aggregator

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/partita/partita/libs/results"
	"github.com/partita/partita/libs/work"
)

// layout lays a part's rows out under the result columns. A failed part
// keeps its rows, without the columns the failing stage would have added.
func layout(columns []string, p *work.Part) [][]string {
	if p.Rows == nil {
		return nil
	}
	idx := make([]int, len(columns))
	for i, c := range columns {
		idx[i] = p.Rows.Col(c)
	}
	cells := make([]string, len(columns)*len(p.Rows.Rows))
	rows := make([][]string, len(p.Rows.Rows))
	for r, src := range p.Rows.Rows {
		row := cells[r*len(columns) : (r+1)*len(columns) : (r+1)*len(columns)]
		for i, j := range idx {
			if j >= 0 {
				row[i] = src[j]
			}
		}
		rows[r] = row
	}
	return rows
}

// report is a part's entry in the result's parts list.
func report(p *work.Part) results.Part {
	rp := results.Part{ID: p.ID(), Rows: p.RowCount, Solver: p.Solver}
	if name, v, ok := strings.Cut(p.Model, "@"); ok {
		version, _ := strconv.Atoi(v)
		rp.Model = &results.ModelRef{Name: name, Version: version}
	}
	if p.Error != nil {
		rp.Error = &results.PartError{Stage: p.Error.Stage, Code: p.Error.Code, Message: p.Error.Message}
	}
	return rp
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
