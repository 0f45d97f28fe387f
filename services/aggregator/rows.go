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

// resultLayout is where each result column is in a part's rows (-1 when
// the part lacks it: a failed part keeps its rows, without the columns the
// failing stage would have added, which are left empty).
func resultLayout(columns []string, p *work.Part) []int {
	idx := make([]int, len(columns))
	for i, c := range columns {
		idx[i] = p.Rows.Col(c)
	}
	return idx
}

// eachRow calls fn with each of a part's rows laid out under the result
// columns, read from the part's columns into one slice that fn must copy
// to keep.
func eachRow(columns []string, p *work.Part, fn func(row []string) error) error {
	if p.Rows == nil {
		return nil
	}
	idx := resultLayout(columns, p)
	row := make([]string, len(columns))
	for r := range p.Rows.Len() {
		for i, j := range idx {
			if j >= 0 {
				row[i] = p.Rows.Cell(r, j)
			}
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	return nil
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
