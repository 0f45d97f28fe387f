package aggregator

import (
	"fmt"
	"math"
	"strconv"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/partita/partita/libs/spec"
)

// summarizer evaluates aggregate.summary over rows as they stream past.
// An item that cannot be evaluated is reported in errors instead of
// failing the job.
type summarizer struct {
	columns []string
	items   []*summaryItem
	errs    map[string]string
	env     map[string]any
	row     int
}

type summaryItem struct {
	text    string
	fn      string
	prog    *vm.Program
	failed  bool
	sum     float64
	count   int
	lo, hi  float64
	numeric int
}

func newSummarizer(columns, items []string) *summarizer {
	s := &summarizer{columns: columns, env: make(map[string]any, len(columns))}
	for _, text := range items {
		it := &summaryItem{text: text, lo: math.Inf(1), hi: math.Inf(-1)}
		s.items = append(s.items, it)
		sm, err := spec.ParseSummary(text)
		if err != nil {
			s.fail(it, err)
			continue
		}
		it.fn = sm.Func
		if it.prog, err = expr.Compile(sm.Expr, expr.AllowUndefinedVariables()); err != nil {
			s.fail(it, err)
		}
	}
	return s
}

func (s *summarizer) fail(it *summaryItem, err error) {
	if s.errs == nil {
		s.errs = map[string]string{}
	}
	s.errs[it.text] = err.Error()
	it.failed = true
}

// wantsRows reports whether an item reads rows (else count will do).
func (s *summarizer) wantsRows() bool { return len(s.items) > 0 }

// count counts n rows that no item reads.
func (s *summarizer) count(n int) { s.row += n }

// add folds one row (laid out as s.columns) into every item.
func (s *summarizer) add(row []string) {
	s.row++
	if len(s.items) == 0 {
		return
	}
	for i, c := range s.columns {
		if f, err := strconv.ParseFloat(row[i], 64); err == nil {
			s.env[c] = f
		} else {
			s.env[c] = row[i]
		}
	}
	for _, it := range s.items {
		if it.failed {
			continue
		}
		v, err := expr.Run(it.prog, s.env)
		if err != nil {
			s.fail(it, fmt.Errorf("row %d: %w", s.row, err))
			continue
		}
		if it.fn == "count" {
			if truthy(v) {
				it.count++
			}
			continue
		}
		f, ok := toFloat(v)
		if !ok {
			continue // rows without a number (e.g. a failed part's) are skipped
		}
		it.sum += f
		it.numeric++
		it.lo, it.hi = min(it.lo, f), max(it.hi, f)
	}
}

// result is the summary object and the items' errors.
func (s *summarizer) result() (map[string]any, map[string]string) {
	out := map[string]any{}
	for _, it := range s.items {
		if it.failed {
			out[it.text] = nil
			continue
		}
		switch {
		case it.fn == "count":
			out[it.text] = it.count
		case it.fn == "sum":
			out[it.text] = it.sum
		case it.numeric == 0:
			out[it.text] = nil
		case it.fn == "mean":
			out[it.text] = it.sum / float64(it.numeric)
		case it.fn == "min":
			out[it.text] = it.lo
		case it.fn == "max":
			out[it.text] = it.hi
		}
	}
	return out, s.errs
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
