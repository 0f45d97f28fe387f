package qp

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
)

// referenceSolve solves p by the interior-point method at 1e-10, on the
// iterative path (no closed form first).
func referenceSolve(t *testing.T, p *Problem) *Result {
	t.Helper()
	s := DefaultSettings()
	s.Method, s.EpsAbs, s.EpsRel = MethodIPM, 1e-10, 1e-10
	sv, err := NewSolver(p, s)
	if err != nil {
		t.Fatal(err)
	}
	res, err := sv.Solve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// tripletProblem is the problem of P and A given as triplets.
func tripletProblem(t *testing.T, pt, at *Triplets, q, l, u []float64) *Problem {
	t.Helper()
	P, err := pt.CSC()
	if err != nil {
		t.Fatal(err)
	}
	A, err := at.CSC()
	if err != nil {
		t.Fatal(err)
	}
	return &Problem{P: P, Q: q, A: A, L: l, U: u}
}

// randomSeparable is a separable problem: a diagonal P with zeros among
// it, and rows on one variable each (some twice, some with a negative
// coefficient, some empty with 0 in their bounds).
func randomSeparable(t *testing.T, r *rand.Rand, n int) *Problem {
	t.Helper()
	pt := NewTriplets(n, n)
	q := make([]float64, n)
	var rows [][2]float64 // variable, coefficient
	var l, u []float64
	for j := range n {
		if r.IntN(4) > 0 {
			pt.Add(j, j, r.Float64()*10)
		}
		q[j] = r.NormFloat64() * 5
		a := 0.5 + r.Float64()*3
		if r.IntN(3) == 0 {
			a = -a
		}
		lo, hi := -r.Float64()*4, r.Float64()*4
		rows = append(rows, [2]float64{float64(j), a})
		l, u = append(l, lo*math.Abs(a)), append(u, hi*math.Abs(a))
		if r.IntN(3) == 0 { // a second, tighter bound on the same variable
			rows = append(rows, [2]float64{float64(j), 1})
			l, u = append(l, math.Inf(-1)), append(u, hi/2)
		}
	}
	rows = append(rows, [2]float64{-1, 0}) // an empty row
	l, u = append(l, -1), append(u, 1)
	at := NewTriplets(len(rows), n)
	for i, rw := range rows {
		if rw[0] >= 0 {
			at.Add(i, int(rw[0]), rw[1])
		}
	}
	return tripletProblem(t, pt, at, q, l, u)
}

// The closed form agrees with the iterative methods and meets the KKT
// conditions to rounding.
func TestSeparableMatchesIterative(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 9))
	for trial := range 50 {
		p := randomSeparable(t, r, 1+r.IntN(60))
		res, err := Solve(context.Background(), p, DefaultSettings())
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != StatusOptimal || res.Method != MethodSeparable || res.Iterations != 0 {
			t.Fatalf("trial %d: status %v by %v after %d iterations, want optimal in closed form", trial, res.Status, res.Method, res.Iterations)
		}
		if e := kktError(p, res.X, res.Y); e > 1e-12 {
			t.Errorf("trial %d: KKT error %.3g", trial, e)
		}
		it := referenceSolve(t, p)
		if it.Status != StatusOptimal {
			t.Fatalf("trial %d: iterative %v", trial, it.Status)
		}
		if e := relErr(res.Objective, it.Objective); e > 1e-7 {
			t.Errorf("trial %d: objective %.12g, iterative %.12g", trial, res.Objective, it.Objective)
		}
	}
}

// A separable problem without a solution is left to the iterative path,
// which proves it.
func TestSeparableInfeasibleAndUnbounded(t *testing.T) {
	one := func(t *testing.T, p, q float64, l, u []float64, coef []float64) *Result {
		t.Helper()
		pt := NewTriplets(1, 1)
		if p != 0 {
			pt.Add(0, 0, p)
		}
		at := NewTriplets(len(l), 1)
		for i, c := range coef {
			if c != 0 {
				at.Add(i, 0, c)
			}
		}
		P, _ := pt.CSC()
		A, _ := at.CSC()
		res, err := Solve(context.Background(), &Problem{P: P, Q: []float64{q}, A: A, L: l, U: u}, DefaultSettings())
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := one(t, 1, 0, []float64{2, math.Inf(-1)}, []float64{math.Inf(1), 1}, []float64{1, 1}); res.Status != StatusInfeasible {
		t.Errorf("x ≥ 2 and x ≤ 1: %v", res.Status)
	}
	if res := one(t, 1, 0, []float64{1}, []float64{2}, []float64{0}); res.Status != StatusInfeasible {
		t.Errorf("1 ≤ 0·x ≤ 2: %v", res.Status)
	}
	if res := one(t, 0, -1, []float64{0}, []float64{math.Inf(1)}, []float64{1}); res.Status != StatusUnbounded {
		t.Errorf("min −x over x ≥ 0: %v", res.Status)
	}
}

// One per group over a separable problem is solved exactly without
// branching: the same choice as enumerating every combination.
func TestSeparableSelectionIsExact(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 1))
	for trial := range 30 {
		ng, size := 1+r.IntN(4), 1+r.IntN(3)
		n := ng*size + 2 // two variables outside the groups
		pt, at := NewTriplets(n, n), NewTriplets(n, n)
		q := make([]float64, n)
		var l, u []float64
		var groups [][]int
		for g := range ng {
			var members []int
			for k := range size {
				members = append(members, g*size+k)
			}
			groups = append(groups, members)
		}
		for j := range n {
			if r.IntN(3) > 0 {
				pt.Add(j, j, r.Float64()*4)
			}
			q[j] = r.NormFloat64()
			at.Add(j, j, 1)
			lo, hi := 0.0, 1.0
			if j >= ng*size {
				lo, hi = -2, 2
			} else if r.IntN(6) == 0 {
				hi = 0 // this member cannot be chosen
			}
			l, u = append(l, lo), append(u, hi)
		}
		P, _ := pt.CSC()
		A, _ := at.CSC()
		p := &Problem{P: P, Q: q, A: A, L: l, U: u}
		res, err := SolveOnePerGroup(context.Background(), p, groups, DefaultBranchOptions())
		if err != nil {
			t.Fatal(err)
		}
		// Enumerate the choices of the groups; the free variables are
		// optimised by the iterative solver with the choice fixed.
		best := math.Inf(1)
		choice := make([]int, ng)
		var walk func(g int)
		walk = func(g int) {
			if g == ng {
				l2, u2 := append([]float64(nil), l...), append([]float64(nil), u...)
				for gi, members := range groups {
					for _, i := range members {
						v := 0.0
						if i == members[choice[gi]] {
							v = 1
						}
						if v < l[i] || v > u[i] {
							return
						}
						l2[i], u2[i] = v, v
					}
				}
				s := DefaultSettings()
				s.EpsAbs, s.EpsRel = 1e-10, 1e-10
				sv, err := NewSolver(&Problem{P: P, Q: q, A: A, L: l2, U: u2}, s)
				if err != nil {
					t.Fatal(err)
				}
				it, err := sv.Solve(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if it.Status == StatusOptimal {
					best = math.Min(best, it.Objective)
				}
				return
			}
			for c := range size {
				choice[g] = c
				walk(g + 1)
			}
		}
		walk(0)
		if math.IsInf(best, 1) {
			if res.Status != BranchInfeasible {
				t.Errorf("trial %d: no choice is feasible, got %v", trial, res.Status)
			}
			continue
		}
		if res.Status != BranchOptimal || math.Abs(res.Objective-best) > 1e-6*math.Max(1, math.Abs(best)) {
			t.Errorf("trial %d: %v objective %.9g, enumeration %.9g", trial, res.Status, res.Objective, best)
		}
	}
}

// randomKnapsack is a separable problem plus one row over many variables:
// curvature on some variables only, negative coefficients, open intervals
// on curved variables, ties between linear variables (the same ratio q/a,
// so one breakpoint holds several), an equality row now and then.
func randomKnapsack(t *testing.T, r *rand.Rand, n int) *Problem {
	t.Helper()
	pt, at := NewTriplets(n, n), NewTriplets(n+1, n)
	q := make([]float64, n)
	l, u := make([]float64, n+1), make([]float64, n+1)
	sum := 0.0
	for j := range n {
		a := 0.5 + r.Float64()*3
		if r.IntN(4) == 0 {
			a = -a
		}
		curved := r.IntN(3) > 0
		if curved {
			pt.Add(j, j, r.Float64()*10+0.01)
			q[j] = r.NormFloat64() * 5
		} else {
			q[j] = a * float64(r.IntN(3)-1) * 2 // few distinct ratios: ties
		}
		at.Add(j, j, 1)
		l[j], u[j] = -r.Float64()*2, r.Float64()*2
		if curved && r.IntN(4) == 0 {
			l[j] = math.Inf(-1)
		}
		if r.IntN(5) > 0 {
			at.Add(n, j, a)
			sum += math.Abs(a)
		}
	}
	l[n], u[n] = math.Inf(-1), (r.Float64()-0.5)*sum
	if r.IntN(4) == 0 {
		l[n] = u[n]
	} else if r.IntN(3) == 0 {
		l[n], u[n] = u[n], math.Inf(1)
	}
	return tripletProblem(t, pt, at, q, l, u)
}

// One dense row is solved in closed form (the quadratic knapsack): the
// same optimum as the interior-point method, the KKT conditions met.
func TestKnapsackMatchesIterative(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 2))
	closed := 0
	for trial := range 300 {
		p := randomKnapsack(t, r, 2+r.IntN(80))
		res, err := Solve(context.Background(), p, DefaultSettings())
		if err != nil {
			t.Fatal(err)
		}
		it := referenceSolve(t, p)
		if it.Status != res.Status {
			t.Fatalf("trial %d: %v by %v, iterative %v", trial, res.Status, res.Method, it.Status)
		}
		if res.Status != StatusOptimal {
			continue // infeasible or unbounded: left to the iterative path, as it must be
		}
		if res.Method == MethodSeparable {
			closed++
		}
		if e := kktError(p, res.X, res.Y); e > 1e-9 {
			t.Errorf("trial %d: KKT error %.3g (%v)", trial, e, res.Method)
		}
		if e := relErr(res.Objective, it.Objective); e > 1e-7 {
			t.Errorf("trial %d: objective %.12g by %v, iterative %.12g", trial, res.Objective, res.Method, it.Objective)
		}
	}
	if closed < 200 {
		t.Errorf("only %d of 300 trials solved in closed form", closed)
	}
}

// A dense row the box cannot reach is infeasible: the closed form leaves
// it to the iterative path, which proves it.
func TestKnapsackInfeasibleRow(t *testing.T) {
	n := 5
	pt, at := NewTriplets(n, n), NewTriplets(n+1, n)
	l, u := make([]float64, n+1), make([]float64, n+1)
	for j := range n {
		pt.Add(j, j, 1)
		at.Add(j, j, 1)
		at.Add(n, j, 1)
		l[j], u[j] = 0, 1
	}
	l[n], u[n] = 6, math.Inf(1) // Σx ≥ 6 with 5 variables in [0, 1]
	P, _ := pt.CSC()
	A, _ := at.CSC()
	res, err := Solve(context.Background(), &Problem{P: P, Q: make([]float64, n), A: A, L: l, U: u}, DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusInfeasible {
		t.Fatalf("Σx ≥ 6 over [0, 1]⁵: %v by %v", res.Status, res.Method)
	}
}
