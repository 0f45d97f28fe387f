package spec

import (
	"fmt"

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
					errs = append(errs, &FieldError{Path: "optimize.objective.quadratic", Message: fmt.Sprintf("is %g: under %s the quadratic coefficient must be %s 0 (the problem would not be convex)", f, o.Sense, map[string]string{"maximize": "<=", "minimize": ">="}[o.Sense])})
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
