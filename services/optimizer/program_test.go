package optimizer

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/metrics"
	"github.com/partita/partita/libs/qp"
	"github.com/partita/partita/libs/spec"
	"github.com/partita/partita/libs/stage"
	"github.com/partita/partita/libs/table"
	"github.com/partita/partita/libs/work"
)

var inf = math.Inf(1)

func parseSpec(t *testing.T, optimize string) *spec.Spec {
	t.Helper()
	s, err := spec.Parse([]byte("score: {model: m, features: [a]}\noptimize:\n"+optimize), spec.DefaultLimits)
	require.NoError(t, err)
	return s
}

func build(t *testing.T, optimize string, rows *table.Rows) (*Built, error) {
	t.Helper()
	prog, err := Compile(parseSpec(t, optimize).Optimize)
	require.NoError(t, err)
	return prog.Build(rows, Layout{Single: true}) // every constraint local, as in a one-part job
}

func tbl(header string, rows ...string) *table.Rows {
	var cells [][]string
	for _, r := range rows {
		cells = append(cells, strings.Split(r, ","))
	}
	t, err := table.FromRows(strings.Split(header, ","), cells)
	if err != nil {
		panic(err)
	}
	return t
}

// dense expands a CSC matrix.
func dense(m *qp.CSC) [][]float64 {
	out := make([][]float64, m.Rows)
	for i := range out {
		out[i] = make([]float64, m.Cols)
	}
	for j := 0; j < m.Cols; j++ {
		for p := m.ColPtr[j]; p < m.ColPtr[j+1]; p++ {
			out[m.RowIdx[p]][j] += m.Val[p]
		}
	}
	return out
}

func failureCode(t *testing.T, err error) string {
	t.Helper()
	var f *stage.Failure
	require.ErrorAs(t, err, &f)
	return f.Code
}

const maximize = `
  sense: maximize
  variable: {name: x, lower: 0, upper: 1}
  objective: {linear: score, quadratic: '-0.5'}
  constraints:
    - {name: budget, coef: cost, max: 10}
`

func TestBuildMaximize(t *testing.T) {
	b, err := build(t, maximize, tbl("id,score,cost", "r1,0.3,4", "r2,2,0", "r3,1,8"))
	require.NoError(t, err)
	p := b.Problem

	assert.Equal(t, []float64{-0.3, -2, -1}, p.Q, "maximize flips the linear sign")
	assert.Equal(t, [][]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, dense(p.P), "P = 2·(−1)·quadratic on the diagonal")
	// Rows 0..2: the variable's bounds; row 3: budget (cost 0 has no entry but the row exists).
	assert.Equal(t, [][]float64{
		{1, 0, 0},
		{0, 1, 0},
		{0, 0, 1},
		{4, 0, 8},
	}, dense(p.A))
	assert.Equal(t, []float64{0, 0, 0, -inf}, p.L)
	assert.Equal(t, []float64{1, 1, 1, 10}, p.U)
	assert.Nil(t, b.Groups)
	assert.Equal(t, -5.0, b.Objective(5), "the user's objective is the negated QP objective")
}

func TestBuildMinimize(t *testing.T) {
	b, err := build(t, `
  sense: minimize
  objective: {linear: cost * 2, quadratic: w}
  constraints:
    - {name: total, coef: '1', equal: 1}
    - {name: floor, coef: w, min: 0.5}
`, tbl("cost,w", "1,0.5", "-2,3"))
	require.NoError(t, err)
	p := b.Problem

	assert.Equal(t, []float64{2, -4}, p.Q)
	assert.Equal(t, [][]float64{{1, 0}, {0, 6}}, dense(p.P))
	// No variable bounds: no bound rows, only the two constraints.
	assert.Equal(t, [][]float64{{1, 1}, {0.5, 3}}, dense(p.A))
	assert.Equal(t, []float64{1, 0.5}, p.L)
	assert.Equal(t, []float64{1, inf}, p.U)
	assert.Equal(t, 5.0, b.Objective(5))
}

func TestBuildGroupConstraint(t *testing.T) {
	b, err := build(t, `
  sense: minimize
  objective: {linear: cost}
  variable: {lower: 0}
  constraints:
    - {name: per_site, group: site, coef: '1', min: 1, max: 2}
`, tbl("site,cost", "b,1", "a,2", "b,3", "c,4", "a,5"))
	require.NoError(t, err)
	p := b.Problem
	// 5 bound rows (lower only), then one row per site in order of first appearance: b, a, c.
	require.Equal(t, 8, p.A.Rows)
	a := dense(p.A)
	assert.Equal(t, []float64{1, 0, 1, 0, 0}, a[5], "site b")
	assert.Equal(t, []float64{0, 1, 0, 0, 1}, a[6], "site a")
	assert.Equal(t, []float64{0, 0, 0, 1, 0}, a[7], "site c")
	assert.Equal(t, []float64{0, 0, 0, 0, 0, 1, 1, 1}, p.L)
	assert.Equal(t, []float64{inf, inf, inf, inf, inf, 2, 2, 2}, p.U)
}

func TestBuildOnePerGroup(t *testing.T) {
	b, err := build(t, `
  objective: {linear: score}
  select: {one_per_group: site}
`, tbl("site,score", "a,1", "b,2", "a,3"))
	require.NoError(t, err)
	assert.Equal(t, [][]int{{0, 2}, {1}}, b.Groups)
	assert.Equal(t, []float64{0, 0, 0}, b.Problem.L, "select forces 0 ≤ x ≤ 1")
	assert.Equal(t, []float64{1, 1, 1}, b.Problem.U)
}

func TestBuildFailures(t *testing.T) {
	tests := []struct {
		name     string
		optimize string
		rows     *table.Rows
		code     string
	}{
		{"text coefficient", "  objective: {linear: name}", tbl("name,score", "bob,1"), "bad_value"},
		{"missing column", "  objective: {linear: nope}", tbl("score", "1"), "bad_value"},
		{"empty value", "  objective: {linear: score}", tbl("id,score", "r1,1", "r2,"), "bad_value"},
		{"infinite coefficient", "  objective: {linear: score / 0}", tbl("score", "1"), "bad_value"},
		{"boolean constraint coefficient", "  objective: {linear: score}\n  constraints: [{name: c, coef: score > 0, max: 1}]", tbl("score", "1"), "bad_value"},
		{"non-convex maximize", "  objective: {linear: score, quadratic: q}", tbl("score,q", "1,-1", "1,1"), "non_convex"},
		{"non-convex minimize", "  sense: minimize\n  objective: {quadratic: q}", tbl("q", "-1"), "non_convex"},
		{"runtime error", "  objective: {linear: score + name}", tbl("score,name", "1,bob"), "bad_expression"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := build(t, tc.optimize, tc.rows)
			assert.Equal(t, tc.code, failureCode(t, err))
		})
	}
}

func TestCompileBadExpression(t *testing.T) {
	o := parseSpec(t, "  objective: {linear: score}").Optimize
	o.Constraints = []spec.Constraint{{Name: "c", Coef: "(("}}
	_, err := Compile(o)
	var fe *spec.FieldError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "optimize.constraints[0].coef", fe.Path)
}

func TestSolveMaximize(t *testing.T) {
	// maximize Σ score·x − ½x², 0 ≤ x ≤ 1: x = clamp(score, 0, 1).
	b, err := build(t, maximize, tbl("id,score,cost", "r1,0.3,1", "r2,2,1", "r3,-1,1"))
	require.NoError(t, err)
	x, report, err := Solve(context.Background(), b)
	require.NoError(t, err)
	require.Len(t, x, 3)
	assert.InDelta(t, 0.3, x[0], 1e-3)
	assert.InDelta(t, 1, x[1], 1e-3)
	assert.InDelta(t, 0, x[2], 1e-3)
	assert.Equal(t, qp.StatusOptimal.String(), report.Status)
	// 0.3·0.3 − ½·0.09 + 2 − ½ = 1.545, in the user's sense (positive).
	assert.InDelta(t, 1.545, report.Objective, 1e-3)
}

func TestSolveMinimizeWithEquality(t *testing.T) {
	// minimize x1 + x1² + x2², x1 + x2 = 1: x = (0.25, 0.75), objective 0.875.
	b, err := build(t, `
  sense: minimize
  objective: {linear: cost, quadratic: '1'}
  constraints: [{name: total, coef: '1', equal: 1}]
`, tbl("cost", "1", "0"))
	require.NoError(t, err)
	x, report, err := Solve(context.Background(), b)
	require.NoError(t, err)
	assert.InDelta(t, 0.25, x[0], 1e-3)
	assert.InDelta(t, 0.75, x[1], 1e-3)
	assert.InDelta(t, 0.875, report.Objective, 1e-3)
}

func TestSolveOnePerGroupPicksBest(t *testing.T) {
	b, err := build(t, `
  objective: {linear: score}
  select: {one_per_group: site}
`, tbl("site,score", "a,1", "b,2", "a,3", "b,0.5"))
	require.NoError(t, err)
	x, report, err := Solve(context.Background(), b)
	require.NoError(t, err)
	assert.Equal(t, []float64{0, 1, 1, 0}, roundAll(x))
	assert.InDelta(t, 5, report.Objective, 1e-6)
}

func TestSolveInfeasible(t *testing.T) {
	b, err := build(t, `
  sense: minimize
  variable: {lower: 0, upper: 1}
  objective: {linear: '1'}
  constraints: [{name: impossible, coef: '1', min: 5}]
`, tbl("id", "r1", "r2"))
	require.NoError(t, err)
	_, _, err = Solve(context.Background(), b)
	assert.Contains(t, failureCode(t, err), "infeasible")
}

func roundAll(x []float64) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = math.Round(v*1e6) / 1e6
	}
	return out
}

func TestOptimizeAddsVariableColumn(t *testing.T) {
	s := New(Config{}, Deps{Metrics: metrics.New()})
	j := &jobs.Job{ID: "j1", Tenant: "acme", Spec: parseSpec(t, maximize)}
	p := &work.Part{Tenant: "acme", Job: "j1", Kind: contracts.KindPart, Rows: tbl("id,score,cost", "r1,0.3,1", "r2,2,1")}

	next, err := s.optimize(context.Background(), j, p)
	require.NoError(t, err)
	assert.Equal(t, contracts.Aggregate, next)
	assert.Equal(t, []string{"id", "score", "cost", "x"}, p.Rows.Columns)
	require.NotNil(t, p.Solver)
	assert.Equal(t, "optimal", p.Solver.Status)
	assert.Len(t, s.programs, 1, "the program is compiled once per job")

	_, err = s.optimize(context.Background(), j, &work.Part{Tenant: "acme", Job: "j1", Rows: tbl("id,score,cost", "r1,1,1")})
	require.NoError(t, err)
	assert.Len(t, s.programs, 1)
}

func TestOptimizeWithoutSpecPassesThrough(t *testing.T) {
	s := New(Config{}, Deps{Metrics: metrics.New()})
	sp, err := spec.Parse([]byte("score: {model: m, features: [a]}"), spec.DefaultLimits)
	require.NoError(t, err)
	p := &work.Part{Rows: tbl("a", "1")}
	next, err := s.optimize(context.Background(), &jobs.Job{ID: "j", Tenant: "t", Spec: sp}, p)
	require.NoError(t, err)
	assert.Equal(t, contracts.Aggregate, next)
	assert.Equal(t, []string{"a"}, p.Rows.Columns)
}
