package spec

import (
	"fmt"
	"slices"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
)

// checkExpressions compiles every expression of the spec for syntax, and
// refuses a constant quadratic coefficient of the wrong sign (a
// data-dependent one is checked per row by the optimizer).
func (s *Spec) checkExpressions() Errors {
	var errs Errors
	check := func(path, code string) *parser.Tree {
		if code == "" {
			return nil
		}
		tree, err := parser.Parse(code)
		if err != nil {
			errs = append(errs, &FieldError{Path: path, Message: fmt.Sprintf("not a valid expression: %v", err)})
			return nil
		}
		return tree
	}
	if o := s.Optimize; o != nil {
		check("optimize.objective.linear", o.Objective.Linear)
		if tree := check("optimize.objective.quadratic", o.Objective.Quadratic); tree != nil && constant(tree.Node) {
			if v, err := expr.Eval(o.Objective.Quadratic, nil); err == nil {
				if f, ok := number(v); ok && ((o.Sense == "maximize" && f > 0) || (o.Sense == "minimize" && f < 0)) {
					errs = append(errs, &FieldError{Path: "optimize.objective.quadratic", Code: CodeNonConvex, Message: fmt.Sprintf("is %g: under %s the quadratic coefficient must be %s 0 (the problem would not be convex)", f, o.Sense, map[string]string{"maximize": "<=", "minimize": ">="}[o.Sense])})
				}
			}
		}
		for i, c := range o.Constraints {
			check(fmt.Sprintf("optimize.constraints[%d].coef", i), c.Coef)
		}
	}
	for i, item := range s.Aggregate.Summary {
		if sm, err := ParseSummary(item); err == nil {
			check(fmt.Sprintf("aggregate.summary[%d]", i), sm.Expr)
		}
	}
	return errs
}

// constant reports whether an expression uses no column.
func constant(n ast.Node) bool {
	found := false
	ast.Find(n, func(n ast.Node) bool {
		if _, ok := n.(*ast.IdentifierNode); ok {
			found = true
		}
		return found
	})
	return !found
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	}
	return 0, false
}

// ExpressionColumns lists, per field path, the columns each expression of
// the spec reads (identifiers that are not function names).
func (s *Spec) ExpressionColumns() map[string][]string {
	out := map[string][]string{}
	add := func(path, code string) {
		if code == "" {
			return
		}
		tree, err := parser.Parse(code)
		if err != nil {
			return // reported by Validate
		}
		callees := map[ast.Node]bool{}
		ast.Find(tree.Node, func(n ast.Node) bool {
			if c, ok := n.(*ast.CallNode); ok {
				callees[c.Callee] = true
			}
			return false
		})
		seen := map[string]bool{}
		ast.Find(tree.Node, func(n ast.Node) bool {
			if id, ok := n.(*ast.IdentifierNode); ok && !callees[n] && !seen[id.Value] {
				seen[id.Value] = true
				out[path] = append(out[path], id.Value)
			}
			return false
		})
	}
	if o := s.Optimize; o != nil {
		add("optimize.objective.linear", o.Objective.Linear)
		add("optimize.objective.quadratic", o.Objective.Quadratic)
		for i, c := range o.Constraints {
			add(fmt.Sprintf("optimize.constraints[%d].coef", i), c.Coef)
		}
	}
	for i, item := range s.Aggregate.Summary {
		if sm, err := ParseSummary(item); err == nil {
			add(fmt.Sprintf("aggregate.summary[%d]", i), sm.Expr)
		}
	}
	return out
}

// CheckExpressionColumns reports expressions that read a column the rows
// will not have: input columns, plus the score output (and, for summaries,
// the decision variable).
func (s *Spec) CheckExpressionColumns(header []string) Errors {
	have := map[string]bool{s.Score.Output: true}
	for _, h := range header {
		have[h] = true
	}
	var errs Errors
	cols := s.ExpressionColumns()
	paths := make([]string, 0, len(cols))
	for p := range cols {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		for _, c := range cols[p] {
			ok := have[c] || (s.Optimize != nil && c == s.Optimize.Variable.Name && strings.HasPrefix(p, "aggregate."))
			if !ok {
				errs = append(errs, &FieldError{Path: p, Message: fmt.Sprintf("uses column %q, which is not in the input", c)})
			}
		}
	}
	return errs
}
