package qp

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"testing"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize/convex/lp"
)

// randomFixture is the file written by examples/qp-fixtures/gen_random_qps.py.
type randomFixture struct {
	Seed      int              `json:"seed"`
	Dropped   []string         `json:"dropped"`
	Instances []randomInstance `json:"instances"`
}

type tripletsJSON struct {
	M int       `json:"m"`
	I []int     `json:"i"`
	J []int     `json:"j"`
	V []float64 `json:"v"`
}

// randomInstance is one QP; null bounds are infinite.
type randomInstance struct {
	Name      string       `json:"name"`
	Kind      string       `json:"kind"`
	N         int          `json:"n"`
	P         tripletsJSON `json:"P"`
	Q         []float64    `json:"q"`
	A         tripletsJSON `json:"A"`
	L         []*float64   `json:"l"`
	U         []*float64   `json:"u"`
	LB        []*float64   `json:"lb"`
	UB        []*float64   `json:"ub"`
	X         []float64    `json:"x"`
	Objective float64      `json:"objective"`
}

func orInf(v *float64, sign int) float64 {
	if v == nil {
		return math.Inf(sign)
	}
	return *v
}

// problem builds the instance with its variable bounds appended to A as
// identity rows.
func (ri randomInstance) problem(t testing.TB) *Problem {
	t.Helper()
	n, m := ri.N, ri.A.M
	tp := NewTriplets(n, n)
	for k := range ri.P.V {
		tp.Add(ri.P.I[k], ri.P.J[k], ri.P.V[k])
	}
	ta := NewTriplets(m+n, n)
	for k := range ri.A.V {
		ta.Add(ri.A.I[k], ri.A.J[k], ri.A.V[k])
	}
	l := make([]float64, 0, m+n)
	u := make([]float64, 0, m+n)
	for i := 0; i < m; i++ {
		l = append(l, orInf(ri.L[i], -1))
		u = append(u, orInf(ri.U[i], 1))
	}
	for j := 0; j < n; j++ {
		ta.Add(m+j, j, 1)
		l = append(l, orInf(ri.LB[j], -1))
		u = append(u, orInf(ri.UB[j], 1))
	}
	p, err := tp.CSC()
	if err != nil {
		t.Fatal(err)
	}
	a, err := ta.CSC()
	if err != nil {
		t.Fatal(err)
	}
	return &Problem{P: p, Q: ri.Q, A: a, L: l, U: u}
}

func loadRandomFixture(t *testing.T) randomFixture {
	t.Helper()
	raw, err := os.ReadFile("testdata/random_qps.json")
	if err != nil {
		t.Fatalf("reading fixture (regenerate with examples/qp-fixtures/gen_random_qps.py): %v", err)
	}
	var fx randomFixture
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatalf("decoding fixture: %v", err)
	}
	return fx
}

// TestRandomAgainstSciPy solves the 200 generated instances and compares the
// objective with SciPy's verified answer.
func TestRandomAgainstSciPy(t *testing.T) {
	fx := loadRandomFixture(t)
	if len(fx.Instances) != 200 {
		t.Fatalf("fixture has %d instances, want 200", len(fx.Instances))
	}
	polished := 0
	for _, ri := range fx.Instances {
		prob := ri.problem(t)
		res, err := Solve(context.Background(), prob, DefaultSettings())
		if err != nil {
			t.Fatalf("%s: %v", ri.Name, err)
		}
		if res.Status != StatusOptimal {
			t.Errorf("%s: status %v after %d iterations", ri.Name, res.Status, res.Iterations)
			continue
		}
		if res.Polished {
			polished++
		}
		if e := kktError(prob, res.X, res.Y); e > 1e-6 {
			t.Errorf("%s: scaled KKT error %.3g (polished %v)", ri.Name, e, res.Polished)
		}
		// Relative error, with |f| < 1 treated as 1.
		if e := relErr(res.Objective, ri.Objective); e > 1e-6 {
			t.Errorf("%s: objective %.12g, SciPy %.12g (relative error %.2g, polished %v)", ri.Name, res.Objective, ri.Objective, e, res.Polished)
		}
	}
	t.Logf("%d of %d instances polished", polished, len(fx.Instances))
}

// TestLinearAgainstGonumSimplex compares the purely linear instances with
// gonum's simplex method.
func TestLinearAgainstGonumSimplex(t *testing.T) {
	fx := loadRandomFixture(t)
	count := 0
	for _, ri := range fx.Instances {
		if ri.Kind != "lp" {
			continue
		}
		count++
		prob := ri.problem(t)
		res, err := Solve(context.Background(), prob, DefaultSettings())
		if err != nil {
			t.Fatalf("%s: %v", ri.Name, err)
		}
		want := simplexOptimum(t, ri)
		if res.Status != StatusOptimal || relErr(res.Objective, want) > 1e-6 {
			t.Errorf("%s: status %v objective %.12g, simplex %.12g", ri.Name, res.Status, res.Objective, want)
		}
	}
	if count < 20 {
		t.Fatalf("only %d linear instances in the fixture", count)
	}
}

// simplexOptimum solves the linear instance ri with gonum's simplex. Every
// variable of a linear instance is boxed, so x = lb + s with s ≥ 0 gives the
// standard form directly: each finite side of a row of A and each upper
// bound becomes an equality with its own slack, and l = u rows stay
// equalities.
func simplexOptimum(t *testing.T, ri randomInstance) float64 {
	t.Helper()
	n := ri.N
	lb := make([]float64, n)
	for j := range lb {
		lb[j] = orInf(ri.LB[j], -1)
		if math.IsInf(lb[j], 0) {
			t.Fatalf("%s: variable %d has no lower bound", ri.Name, j)
		}
	}
	rowsA := make([][]float64, ri.A.M)
	for i := range rowsA {
		rowsA[i] = make([]float64, n)
	}
	for k, v := range ri.A.V {
		rowsA[ri.A.I[k]][ri.A.J[k]] = v
	}
	// Each constraint is coef·s (+ slack) = rhs.
	type constraint struct {
		coef  []float64
		rhs   float64
		slack bool
	}
	var cons []constraint
	for i, row := range rowsA {
		shift := 0.0
		for j, v := range row {
			shift += v * lb[j]
		}
		l, u := orInf(ri.L[i], -1), orInf(ri.U[i], 1)
		if l == u {
			cons = append(cons, constraint{row, u - shift, false})
			continue
		}
		if !math.IsInf(u, 1) {
			cons = append(cons, constraint{row, u - shift, true})
		}
		if !math.IsInf(l, -1) {
			neg := make([]float64, n)
			for j, v := range row {
				neg[j] = -v
			}
			cons = append(cons, constraint{neg, shift - l, true})
		}
	}
	for j := 0; j < n; j++ {
		unit := make([]float64, n)
		unit[j] = 1
		cons = append(cons, constraint{unit, orInf(ri.UB[j], 1) - lb[j], true})
	}
	slacks := 0
	for _, c := range cons {
		if c.slack {
			slacks++
		}
	}
	std := mat.NewDense(len(cons), n+slacks, nil)
	b := make([]float64, len(cons))
	next := n
	for i, c := range cons {
		std.SetRow(i, append(append([]float64(nil), c.coef...), make([]float64, slacks)...))
		if c.slack {
			std.Set(i, next, 1)
			next++
		}
		b[i] = c.rhs
	}
	cost := make([]float64, n+slacks)
	copy(cost, ri.Q)
	opt, _, err := lp.Simplex(cost, std, b, 1e-10, nil)
	if err != nil {
		t.Fatalf("%s: gonum simplex: %v", ri.Name, err)
	}
	// Undo the shift x = lb + s in the objective.
	return opt + dot(ri.Q, lb)
}
