package qp

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"
)

// fleetProblem builds the production shape of the optimizer stage: one
// variable per row of a table, maximise Σ risk·cost·x − 0.001·Σ hours²·x²
// (written as a minimisation with diagonal P), 0 ≤ x ≤ 1, one dense budget
// row Σ repairCost·x ≤ budget and one crew-hours row per site (every
// variable in exactly one site).
func fleetProblem(tb testing.TB, n int, seed uint64) *Problem {
	tb.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	sites := max(1, n/25)
	p := NewTriplets(n, n)
	q := make([]float64, n)
	rows := n + 1 + sites
	a := NewTriplets(rows, n)
	l := make([]float64, rows)
	u := make([]float64, rows)
	var totalCost float64
	siteHours := make([]float64, sites)
	for j := 0; j < n; j++ {
		risk := rng.Float64()
		outage := 1000 + 9000*rng.Float64()
		hours := 1 + 20*rng.Float64()
		cost := 500 + 4500*rng.Float64()
		p.Add(j, j, 2*0.001*hours*hours)
		q[j] = -risk * outage / 1000
		a.Add(j, j, 1)
		l[j], u[j] = 0, 1
		a.Add(n, j, cost)
		totalCost += cost
		site := j % sites
		a.Add(n+1+site, j, hours)
		siteHours[site] += hours
	}
	l[n], u[n] = -inf, 0.3*totalCost
	for s := 0; s < sites; s++ {
		l[n+1+s], u[n+1+s] = -inf, 0.5*siteHours[s]
	}
	pm, err := p.CSC()
	if err != nil {
		tb.Fatal(err)
	}
	am, err := a.CSC()
	if err != nil {
		tb.Fatal(err)
	}
	return &Problem{P: pm, Q: q, A: am, L: l, U: u}
}

func TestFleetShapes(t *testing.T) {
	for _, n := range []int{100, 1000, 5000} {
		prob := fleetProblem(t, n, uint64(n))
		start := time.Now()
		res, err := Solve(context.Background(), prob, DefaultSettings())
		if err != nil {
			t.Fatal(err)
		}
		elapsed := time.Since(start)
		if res.Status != StatusOptimal {
			t.Fatalf("n=%d: status %v after %d iterations", n, res.Status, res.Iterations)
		}
		if e := kktError(prob, res.X, res.Y); e > 1e-6 {
			t.Errorf("n=%d: KKT error %.3g", n, e)
		}
		t.Logf("n=%d: %v, %d iterations, polished %v, objective %.8g", n, elapsed, res.Iterations, res.Polished, res.Objective)
	}
}

func benchmarkFleet(b *testing.B, n int) {
	prob := fleetProblem(b, n, uint64(n))
	b.ReportAllocs()
	for b.Loop() {
		res, err := Solve(context.Background(), prob, DefaultSettings())
		if err != nil {
			b.Fatal(err)
		}
		if res.Status != StatusOptimal {
			b.Fatalf("status %v", res.Status)
		}
	}
}

func BenchmarkSolveFleet100(b *testing.B)  { benchmarkFleet(b, 100) }
func BenchmarkSolveFleet1000(b *testing.B) { benchmarkFleet(b, 1000) }
func BenchmarkSolveFleet5000(b *testing.B) { benchmarkFleet(b, 5000) }
