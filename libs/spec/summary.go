package spec

import (
	"fmt"
	"regexp"
	"strings"
)

// Summary is one aggregate.summary item: a function over an expression
// evaluated per row, e.g. sum(repair_cost * x).
type Summary struct {
	Func string // sum | count | mean | min | max
	Expr string
}

// SummaryFuncs are the functions a summary item may use.
var SummaryFuncs = []string{"sum", "count", "mean", "min", "max"}

var summaryRE = regexp.MustCompile(`^\s*(sum|count|mean|min|max)\s*\((.+)\)\s*$`)

// ParseSummary splits a summary item into its function and expression.
func ParseSummary(item string) (Summary, error) {
	m := summaryRE.FindStringSubmatch(item)
	if m == nil {
		return Summary{}, fmt.Errorf("must be FUNC(EXPRESSION) with FUNC one of %s, got %q", strings.Join(SummaryFuncs, ", "), item)
	}
	return Summary{Func: m[1], Expr: strings.TrimSpace(m[2])}, nil
}
