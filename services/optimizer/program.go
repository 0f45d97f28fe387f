package optimizer

import (
	"fmt"
	"math"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/partita/partita/libs/plan"
	"github.com/partita/partita/libs/qp"
	"github.com/partita/partita/libs/spec"
	"github.com/partita/partita/libs/stage"
	"github.com/partita/partita/libs/table"
)

// Program is a job's `optimize` compiled once: its expressions, ready to be
// evaluated over each part's rows into a QP
//
//	minimize ½xᵀPx + qᵀx  subject to  l ≤ Ax ≤ u
//
// with one variable per row, P diagonal.
type Program struct {
	o         *spec.Optimize
	linear    *vm.Program
	quadratic *vm.Program
	coefs     []*vm.Program
}

// Compile compiles the expressions of o.
func Compile(o *spec.Optimize) (*Program, error) {
	p := &Program{o: o}
	var err error
	if p.linear, err = compile("optimize.objective.linear", o.Objective.Linear); err != nil {
		return nil, err
	}
	if p.quadratic, err = compile("optimize.objective.quadratic", o.Objective.Quadratic); err != nil {
		return nil, err
	}
	for i, c := range o.Constraints {
		prog, err := compile(fmt.Sprintf("optimize.constraints[%d].coef", i), c.Coef)
		if err != nil {
			return nil, err
		}
		p.coefs = append(p.coefs, prog)
	}
	return p, nil
}

func compile(path, code string) (*vm.Program, error) {
	if code == "" {
		return nil, nil
	}
	prog, err := expr.Compile(code, expr.AllowUndefinedVariables())
	if err != nil {
		return nil, &spec.FieldError{Path: path, Message: err.Error()}
	}
	return prog, nil
}

// Built is a part's QP and what is needed to read its solution.
type Built struct {
	// Problem holds the part's own rows: per-part constraints, and the
	// job-wide ones whose rows all lie in this part.
	Problem *qp.Problem
	Groups  [][]int // rows of each one_per_group group, when select is set (exactly one x = 1 each)
	// Part is the part's share of the job-wide plan: Problem and its
	// coefficients in the coupling rows (constraints whose rows lie in
	// other parts too). Coupled() is false when the part stands alone.
	Part *plan.Part
	// GroupValues are the one_per_group values of Groups, in order.
	GroupValues []string
	sign        float64 // +1 minimize, −1 maximize: the user's objective is sign·(QP objective)
}

// Layout is what the splitter said about a part: whether it holds every
// row of its split.by group, and whether it is the job's only part.
type Layout struct {
	SplitBy string
	Whole   bool
	Single  bool
}

// local reports whether a constraint's row for one group value ("" for
// the row over every row) lies only in this part.
func (l Layout) local(c spec.Constraint) bool {
	return c.PerPart() || l.Single || (c.Group != "" && c.Group == l.SplitBy && l.Whole)
}

// Objective converts a QP objective to the user's objective.
func (b *Built) Objective(v float64) float64 { return b.sign * v }

// Build evaluates the program over a part's rows.
func (p *Program) Build(rows *table.Rows, layout Layout) (*Built, error) {
	n := rows.Len()
	env := make(map[string]any, len(rows.Columns))
	sign := 1.0
	if p.o.Sense == "maximize" {
		sign = -1
	}
	q := make([]float64, n)
	diag := make([]float64, n)
	coefs := make([][]float64, len(p.coefs))
	for k := range coefs {
		coefs[k] = make([]float64, n)
	}
	for i := range n {
		for c, name := range rows.Columns {
			if f, ok := rows.Number(i, c); ok {
				env[name] = f
			} else {
				env[name] = rows.Cell(i, c)
			}
		}
		lin, err := eval(p.linear, env, i, "optimize.objective.linear")
		if err != nil {
			return nil, err
		}
		quad, err := eval(p.quadratic, env, i, "optimize.objective.quadratic")
		if err != nil {
			return nil, err
		}
		if sign*quad < 0 {
			return nil, stage.Fail("non_convex", "row %d: optimize.objective.quadratic is %g; under %s it must be %s 0", i+1, quad, p.o.Sense, map[bool]string{true: ">=", false: "<="}[sign > 0])
		}
		q[i] = sign * lin
		diag[i] = 2 * sign * quad
		for k, prog := range p.coefs {
			if coefs[k][i], err = eval(prog, env, i, fmt.Sprintf("optimize.constraints[%d].coef", k)); err != nil {
				return nil, err
			}
		}
	}

	pt := qp.NewTriplets(n, n)
	for i, d := range diag {
		if d != 0 {
			pt.Add(i, i, d)
		}
	}
	P, err := pt.CSC()
	if err != nil {
		return nil, fmt.Errorf("build P: %w", err)
	}
	type entry struct {
		row, col int
		v        float64
	}
	var entries []entry
	var l, u []float64
	addRow := func(members []int, coef []float64, lo, hi float64) {
		r := len(l)
		for _, i := range members {
			c := 1.0
			if coef != nil {
				c = coef[i]
			}
			if c != 0 {
				entries = append(entries, entry{r, i, c})
			}
		}
		l, u = append(l, lo), append(u, hi)
	}
	lower, upper := math.Inf(-1), math.Inf(1)
	if v := p.o.Variable.Lower; v != nil {
		lower = *v
	}
	if v := p.o.Variable.Upper; v != nil {
		upper = *v
	}
	var groups [][]int
	var groupValues []string
	if g := p.o.Select.OnePerGroup; g != "" {
		lower, upper = 0, 1
		groups = groupRows(rows, g)
		gc := rows.Col(g)
		for _, members := range groups {
			groupValues = append(groupValues, rows.Cell(members[0], gc))
		}
	}
	if !math.IsInf(lower, -1) || !math.IsInf(upper, 1) {
		for i := range n {
			addRow([]int{i}, nil, lower, upper)
		}
	}
	part := &plan.Part{Coupling: map[plan.Key]plan.Sparse{}, Lower: make([]float64, n), Upper: make([]float64, n), Groups: groups}
	for i := range n {
		part.Lower[i], part.Upper[i] = lower, upper
	}
	couple := func(key plan.Key, members []int, coef []float64) {
		var a plan.Sparse
		for _, i := range members {
			if coef[i] != 0 {
				a.Index, a.Value = append(a.Index, i), append(a.Value, coef[i])
			}
		}
		part.Coupling[key] = a
	}
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	for k, c := range p.o.Constraints {
		lo, hi := math.Inf(-1), math.Inf(1)
		switch {
		case c.Equal != nil:
			lo, hi = *c.Equal, *c.Equal
		default:
			if c.Min != nil {
				lo = *c.Min
			}
			if c.Max != nil {
				hi = *c.Max
			}
		}
		local := layout.local(c)
		if c.Group == "" {
			if local {
				addRow(all, coefs[k], lo, hi)
			} else {
				couple(plan.RowKey(k, ""), all, coefs[k])
			}
			continue
		}
		gc := rows.Col(c.Group)
		for _, members := range groupRows(rows, c.Group) {
			if local {
				addRow(members, coefs[k], lo, hi)
			} else {
				couple(plan.RowKey(k, rows.Cell(members[0], gc)), members, coefs[k])
			}
		}
	}
	// one_per_group's rows (one 1 per group) are added by the branch and bound.
	at := qp.NewTriplets(len(l), n)
	for _, e := range entries {
		at.Add(e.row, e.col, e.v)
	}
	A, err := at.CSC()
	if err != nil {
		return nil, fmt.Errorf("build A: %w", err)
	}
	prob := &qp.Problem{P: P, Q: q, A: A, L: l, U: u}
	part.Local = prob
	return &Built{Problem: prob, Groups: groups, GroupValues: groupValues, Part: part, sign: sign}, nil
}

// groupRows lists the row indexes of each value of a column, in order of first appearance.
func groupRows(rows *table.Rows, col string) [][]int {
	c := rows.Col(col)
	index := map[string]int{}
	var out [][]int
	for i := range rows.Len() {
		v := rows.Cell(i, c)
		g, ok := index[v]
		if !ok {
			g = len(out)
			index[v] = g
			out = append(out, nil)
		}
		out[g] = append(out[g], i)
	}
	return out
}

func eval(prog *vm.Program, env map[string]any, row int, path string) (float64, error) {
	if prog == nil {
		return 0, nil
	}
	v, err := expr.Run(prog, env)
	if err != nil {
		return 0, stage.Fail("bad_expression", "row %d: %s: %v", row+1, path, err)
	}
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	case nil:
		return 0, stage.Fail("bad_value", "row %d: %s: a column it uses is missing or empty", row+1, path)
	default:
		return 0, stage.Fail("bad_value", "row %d: %s is %v (%T), not a number", row+1, path, v, v)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, stage.Fail("bad_value", "row %d: %s is %g", row+1, path, f)
	}
	return f, nil
}
