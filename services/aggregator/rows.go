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

// sortKey is aggregate.sort: a column, ascending or ("-col") descending.
type sortKey struct {
	col  int
	desc bool
}

// parseSort reads aggregate.sort against the result columns.
func parseSort(columns []string, by string) (sortKey, error) {
	desc := strings.HasPrefix(by, "-")
	col := slices.Index(columns, strings.TrimPrefix(by, "-"))
	if col < 0 {
		return sortKey{}, fmt.Errorf("aggregate.sort: column %q is not in the result", strings.TrimPrefix(by, "-"))
	}
	return sortKey{col: col, desc: desc}, nil
}

// cellKey is a sort cell read once: numbers compare as numbers and sort
// before text; empty cells go last whatever the direction.
type cellKey struct {
	num   float64
	isNum bool
	text  string
}

func keyOf(cell string) cellKey {
	v, err := strconv.ParseFloat(cell, 64)
	return cellKey{num: v, isNum: err == nil && !math.IsNaN(v), text: cell}
}

func (k sortKey) compare(a, b cellKey) int {
	if (a.text == "") != (b.text == "") {
		if a.text == "" {
			return 1
		}
		return -1
	}
	var c int
	switch {
	case a.isNum && b.isNum:
		c = cmp.Compare(a.num, b.num)
	case a.isNum:
		return -1
	case b.isNum:
		return 1
	default:
		c = strings.Compare(a.text, b.text)
	}
	if k.desc {
		return -c
	}
	return c
}
