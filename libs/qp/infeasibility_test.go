package qp

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
)

// infeasibleCases are problems with an empty feasible set, some only by a
// small margin.
func infeasibleCases(t *testing.T) map[string]*Problem {
	cases := map[string]*Problem{
		"contradicting bounds": denseQP{
			P: [][]float64{{1}}, Q: []float64{1},
			A: [][]float64{{1}, {1}}, L: []float64{1, -inf}, U: []float64{inf, 0},
		}.problem(t),
		"inconsistent equalities": denseQP{
			P: [][]float64{{2, 0}, {0, 1}}, Q: []float64{-1, 1},
			A: [][]float64{{1, 1}, {1, 1}}, L: []float64{1, 2}, U: []float64{1, 2},
		}.problem(t),
		"box misses half-space by 1e-3": denseQP{
			Q: []float64{1, 1},
			A: [][]float64{{1, 1}}, L: []float64{2.001}, U: []float64{inf},
			XL: []float64{0, 0}, XU: []float64{1, 1},
		}.problem(t),
		"simplex with budget below 1 by 1e-3": denseQP{
			P: [][]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, Q: []float64{-1, 0, 1},
			A: [][]float64{{1, 1, 1}, {1, 1, 1}}, L: []float64{1, -inf}, U: []float64{1, 0.999},
			XL: filled(3, 0), XU: filled(3, inf),
		}.problem(t),
		"equalities off by 1e-3": denseQP{
			Q: []float64{1, -1},
			A: [][]float64{{1, 0}, {0, 1}, {1, 1}}, L: []float64{1, 1, 2.001}, U: []float64{1, 1, 2.001},
		}.problem(t),
	}
	cases["random rows plus unreachable row"] = unreachableRow(t, 7, 25, 1e-3)
	cases["random rows plus barely unreachable row"] = unreachableRow(t, 8, 40, 1e-4)
	return cases
}

// unreachableRow builds a random box-constrained QP with feasible random
// rows, then adds a row c·x ≥ max_{box} c·x + gap.
func unreachableRow(t *testing.T, seed uint64, n int, gap float64) *Problem {
	rng := rand.New(rand.NewPCG(seed, 1))
	d := denseQP{Q: make([]float64, n), XL: filled(n, -1), XU: filled(n, 1)}
	d.P = make([][]float64, n)
	for i := range d.P {
		d.P[i] = make([]float64, n)
		d.P[i][i] = 1 + rng.Float64()
		d.Q[i] = rng.NormFloat64()
	}
	for r := 0; r < n/2; r++ {
		row := make([]float64, n)
		var dot float64
		for j := range row {
			row[j] = rng.NormFloat64()
			dot += row[j] * 0.1
		}
		d.A = append(d.A, row)
		d.L = append(d.L, dot-1)
		d.U = append(d.U, dot+1)
	}
	row := make([]float64, n)
	var reach float64
	for j := range row {
		row[j] = rng.NormFloat64()
		reach += math.Abs(row[j])
	}
	d.A = append(d.A, row)
	d.L = append(d.L, reach+gap)
	d.U = append(d.U, inf)
	return d.problem(t)
}

// unboundedCases are problems whose objective is unbounded below on a
// non-empty feasible set, some with a very small slope.
func unboundedCases(t *testing.T) map[string]*Problem {
	return map[string]*Problem{
		"LP ray": denseQP{
			Q: []float64{-1, 0},
			A: [][]float64{{1, -1}}, L: []float64{-inf}, U: []float64{1},
			XL: []float64{0, 0}, XU: []float64{inf, inf},
		}.problem(t),
		"no constraints": {Q: []float64{-1, 2}},
		"singular P": denseQP{
			P: [][]float64{{2, -2}, {-2, 2}}, Q: []float64{-1, -1},
			XL: []float64{0, 0}, XU: []float64{inf, inf},
		}.problem(t),
		"slope 1e-3 along a strip": denseQP{
			Q: []float64{-1e-3, 0},
			A: [][]float64{{1, -1}}, L: []float64{-1}, U: []float64{1},
			XL: []float64{0, 0}, XU: []float64{inf, inf},
		}.problem(t),
		"slope 1e-4 with curvature elsewhere": denseQP{
			P: [][]float64{{0, 0, 0}, {0, 1, 0}, {0, 0, 1}}, Q: []float64{-1e-4, 1, -1},
			A: [][]float64{{1, 1, 1}}, L: []float64{-1}, U: []float64{inf},
		}.problem(t),
	}
}

func TestInfeasibleDetected(t *testing.T) {
	for name, prob := range infeasibleCases(t) {
		t.Run(name, func(t *testing.T) {
			res, err := Solve(context.Background(), prob, DefaultSettings())
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != StatusInfeasible {
				t.Fatalf("status %v after %d iterations, want infeasible", res.Status, res.Iterations)
			}
			checkPrimalCertificate(t, prob, res.Certificate)
		})
	}
}

// checkPrimalCertificate verifies Aᵀy ≈ 0 and uᵀmax(y,0) + lᵀmin(y,0) < 0.
func checkPrimalCertificate(t *testing.T, p *Problem, y []float64) {
	t.Helper()
	norm := normInf(y)
	if norm == 0 {
		t.Fatal("empty certificate")
	}
	aty := make([]float64, p.NumVars())
	p.A.mulTransVec(aty, y)
	var support float64
	for i, v := range y {
		switch {
		case v > 0:
			support += p.U[i] * v
		case v < 0:
			support += p.L[i] * v
		}
	}
	if normInf(aty) > 1e-5*norm || !(support < 0) {
		t.Errorf("certificate: ‖Aᵀy‖ = %.3g, support = %.3g, ‖y‖ = %.3g", normInf(aty), support, norm)
	}
}

func TestUnboundedDetected(t *testing.T) {
	for name, prob := range unboundedCases(t) {
		t.Run(name, func(t *testing.T) {
			res, err := Solve(context.Background(), prob, DefaultSettings())
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != StatusUnbounded {
				t.Fatalf("status %v after %d iterations, want unbounded", res.Status, res.Iterations)
			}
			dx := res.Certificate
			if dot(prob.Q, dx) >= 0 {
				t.Errorf("certificate is not a descent direction: qᵀδx = %v", dot(prob.Q, dx))
			}
		})
	}
}

// TestNearlyInfeasibleButFeasible makes sure a thin but non-empty feasible
// set is solved, not declared infeasible.
func TestNearlyInfeasibleButFeasible(t *testing.T) {
	prob := denseQP{
		Q: []float64{1, 1},
		A: [][]float64{{1, 1}}, L: []float64{1.999}, U: []float64{inf},
		XL: []float64{0, 0}, XU: []float64{1, 1},
	}.problem(t)
	res, err := Solve(context.Background(), prob, DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusOptimal || relErr(res.Objective, 1.999) > 1e-6 {
		t.Fatalf("status %v objective %v, want optimal 1.999", res.Status, res.Objective)
	}
}
