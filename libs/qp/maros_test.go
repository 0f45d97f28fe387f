package qp

import (
	"context"
	"math"
	"testing"
)

// marosCase is a problem of the Maros–Mészáros convex QP test set with the
// optimal objective published in I. Maros and C. Mészáros, "A repository of
// convex quadratic programming problems", Optimization Methods and Software
// 11–12 (1999), table of results. The constant term of the objective is kept
// apart because Problem has none.
type marosCase struct {
	name      string
	problem   func(testing.TB) *Problem
	constant  float64
	published float64
}

func marosCases() []marosCase {
	return []marosCase{
		{
			// Hock–Schittkowski 21: min 0.01x1² + x2² − 100, 10x1 − x2 ≥ 10.
			name: "HS21",
			problem: denseQP{
				P:  [][]float64{{0.02, 0}, {0, 2}},
				Q:  []float64{0, 0},
				A:  [][]float64{{10, -1}},
				L:  []float64{10},
				U:  []float64{inf},
				XL: []float64{2, -50}, XU: []float64{50, 50},
			}.problem,
			constant:  -100,
			published: -9.99599999e+01,
		},
		{
			// HS35: 9 − 8x1 − 6x2 − 4x3 + 2x1² + 2x2² + x3² + 2x1x2 + 2x1x3.
			name: "HS35",
			problem: denseQP{
				P:  [][]float64{{4, 2, 2}, {2, 4, 0}, {2, 0, 2}},
				Q:  []float64{-8, -6, -4},
				A:  [][]float64{{1, 1, 2}},
				L:  []float64{-inf},
				U:  []float64{3},
				XL: []float64{0, 0, 0}, XU: []float64{inf, inf, inf},
			}.problem,
			constant:  9,
			published: 1.11111111e-01,
		},
		{
			// HS51: (x1−x2)² + (x2+x3−2)² + (x4−1)² + (x5−1)², three equalities.
			name: "HS51",
			problem: denseQP{
				P: [][]float64{
					{2, -2, 0, 0, 0},
					{-2, 4, 2, 0, 0},
					{0, 2, 2, 0, 0},
					{0, 0, 0, 2, 0},
					{0, 0, 0, 0, 2},
				},
				Q: []float64{0, -4, -4, -2, -2},
				A: [][]float64{
					{1, 3, 0, 0, 0},
					{0, 0, 1, 1, -2},
					{0, 1, 0, 0, -1},
				},
				L: []float64{4, 0, 0},
				U: []float64{4, 0, 0},
			}.problem,
			constant:  6,
			published: 0,
		},
		{
			// HS76: x1² + ½x2² + x3² + ½x4² − x1x3 + x3x4 − x1 − 3x2 + x3 − x4.
			name: "HS76",
			problem: denseQP{
				P: [][]float64{
					{2, 0, -1, 0},
					{0, 1, 0, 0},
					{-1, 0, 2, 1},
					{0, 0, 1, 1},
				},
				Q: []float64{-1, -3, 1, -1},
				A: [][]float64{
					{1, 2, 1, 1},
					{3, 1, 2, -1},
					{0, 1, 4, 0},
				},
				L:  []float64{-inf, -inf, 1.5},
				U:  []float64{5, 4, inf},
				XL: filled(4, 0), XU: filled(4, inf),
			}.problem,
			published: -4.68181818e+00,
		},
		{name: "HS118", problem: hs118, published: 6.64820450e+02},
		{name: "CVXQP1_S", problem: cvxqp1S, published: 1.15907181e+04},
	}
}

// hs118 is Hock–Schittkowski 118: 15 variables (five periods of three
// units), separable quadratic costs, ramping limits between periods and a
// demand per period.
func hs118(t testing.TB) *Problem {
	d := denseQP{Q: make([]float64, 15), XL: make([]float64, 15), XU: make([]float64, 15)}
	d.P = make([][]float64, 15)
	for i := range d.P {
		d.P[i] = make([]float64, 15)
	}
	for k := 0; k < 5; k++ {
		d.P[3*k][3*k], d.P[3*k+1][3*k+1], d.P[3*k+2][3*k+2] = 2e-4, 2e-4, 3e-4
		d.Q[3*k], d.Q[3*k+1], d.Q[3*k+2] = 2.3, 1.7, 2.2
		d.XU[3*k], d.XU[3*k+1], d.XU[3*k+2] = 90, 120, 60
	}
	d.XL[0], d.XU[0] = 8, 21
	d.XL[1], d.XU[1] = 43, 57
	d.XL[2], d.XU[2] = 3, 16
	// 0 ≤ x(3j+c) − x(3j−3+c) + 7 ≤ 13, 14, 13 for the three units.
	upper := []float64{6, 7, 6}
	for j := 1; j <= 4; j++ {
		for c := 0; c < 3; c++ {
			row := make([]float64, 15)
			row[3*j+c], row[3*(j-1)+c] = 1, -1
			d.A = append(d.A, row)
			d.L = append(d.L, -7)
			d.U = append(d.U, upper[c])
		}
	}
	for k, demand := range []float64{60, 50, 70, 85, 100} {
		row := make([]float64, 15)
		row[3*k], row[3*k+1], row[3*k+2] = 1, 1, 1
		d.A = append(d.A, row)
		d.L = append(d.L, demand)
		d.U = append(d.U, inf)
	}
	return d.problem(t)
}

// cvxqp1S is CVXQP1 of the CUTE set (SIF input by N. Gould, 1995) at the
// size N = 100, M = 50 used for CVXQP1_S in the Maros–Mészáros set:
//
//	min Σᵢ ½·i·(x_i + x_{mod(2i−1,N)+1} + x_{mod(3i−1,N)+1})²
//	s.t. x_i + 2x_{mod(4i−1,N)+1} + 3x_{mod(5i−1,N)+1} = 6, i = 1..M
//	     0.1 ≤ x ≤ 10
//
// (1-based indices as in the SIF file; repeated indices add up).
func cvxqp1S(t testing.TB) *Problem {
	const n, m = 100, 50
	idx := func(i, k int) int { return (k*i-1)%n + 1 }
	tp := NewTriplets(n, n)
	for i := 1; i <= n; i++ {
		v := []int{i - 1, idx(i, 2) - 1, idx(i, 3) - 1}
		for _, a := range v {
			for _, b := range v {
				if a <= b {
					tp.Add(a, b, float64(i))
				}
			}
		}
	}
	p, err := tp.CSC()
	if err != nil {
		t.Fatal(err)
	}
	ta := NewTriplets(m+n, n)
	l, u := make([]float64, m+n), make([]float64, m+n)
	for i := 1; i <= m; i++ {
		ta.Add(i-1, i-1, 1)
		ta.Add(i-1, idx(i, 4)-1, 2)
		ta.Add(i-1, idx(i, 5)-1, 3)
		l[i-1], u[i-1] = 6, 6
	}
	for j := 0; j < n; j++ {
		ta.Add(m+j, j, 1)
		l[m+j], u[m+j] = 0.1, 10
	}
	a, err := ta.CSC()
	if err != nil {
		t.Fatal(err)
	}
	return &Problem{P: p, Q: make([]float64, n), A: a, L: l, U: u}
}

func TestMarosMeszaros(t *testing.T) {
	for _, tc := range marosCases() {
		t.Run(tc.name, func(t *testing.T) {
			prob := tc.problem(t)
			res, err := Solve(context.Background(), prob, DefaultSettings())
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != StatusOptimal {
				t.Fatalf("status %v after %d iterations", res.Status, res.Iterations)
			}
			got := res.Objective + tc.constant
			if e := math.Abs(got-tc.published) / math.Max(1, math.Abs(tc.published)); e > 1e-4 {
				t.Errorf("objective %.10g, published %.10g (relative error %.2g)", got, tc.published, e)
			}
			if e := kktError(prob, res.X, res.Y); e > 1e-6 {
				t.Errorf("KKT error %.3g", e)
			}
			t.Logf("obj %.10g iters %d polished %v prim %.2g dual %.2g", got, res.Iterations, res.Polished, res.PrimalResidual, res.DualResidual)
		})
	}
}
