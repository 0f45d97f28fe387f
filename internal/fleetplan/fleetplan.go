// Package fleetplan solves the fleet example's plan over a whole result as
// one QP: the answer a job must give however it was split, for the tests
// and the `plan` benchmark to compare the coordinated plan with.
package fleetplan

import (
	"context"
	"fmt"
	"math"

	"github.com/partita/partita/libs/qp"
)

// Asset is one scored row of a fleet result.
type Asset struct {
	Site                  string
	Lin, Quad, Cost, Crew float64 // risk·outage_cost, −0.001·crew², repair_cost, crew_hours
	X                     float64 // the plan's decision
}

// FromRow reads an asset from a JSON result row.
func FromRow(r map[string]any) (Asset, error) {
	num := func(k string) (float64, error) {
		v, ok := r[k].(float64)
		if !ok {
			return 0, fmt.Errorf("row %v: %s is not a number", r["asset_id"], k)
		}
		return v, nil
	}
	var a Asset
	var err error
	site, _ := r["site"].(string)
	a.Site = site
	vals := map[string]*float64{"crew_hours": &a.Crew, "repair_cost": &a.Cost, "x": &a.X}
	for k, p := range vals {
		if *p, err = num(k); err != nil {
			return a, err
		}
	}
	risk, err := num("risk")
	if err != nil {
		return a, err
	}
	outage, err := num("outage_cost")
	if err != nil {
		return a, err
	}
	a.Lin, a.Quad = risk*outage, -0.001*a.Crew*a.Crew
	return a, nil
}

// OptimizeYAML is the optimize block of examples/fleet/spec.yaml — the
// expected repairs' value less the crew-hour penalty, 0 ≤ x ≤ 1 — with a
// fleet-wide budget and a per-site crew cap, for specs written by tests and
// benchmarks.
func OptimizeYAML(budget, crewCap float64) string {
	return fmt.Sprintf(`optimize:
  sense: maximize
  variable: {name: x, lower: 0, upper: 1}
  objective: {linear: "risk * outage_cost", quadratic: "-0.001 * crew_hours * crew_hours"}
  constraints:
    - {name: budget, coef: "repair_cost", max: %g}
    - {name: crew, group: site, coef: "crew_hours", max: %g}
`, budget, crewCap)
}

// Objective is Σ lin·x + quad·x² at the decisions x(i).
func Objective(as []Asset, x func(i int) float64) float64 {
	v := 0.0
	for i, a := range as {
		v += a.Lin*x(i) + a.Quad*x(i)*x(i)
	}
	return v
}

// Central solves the plan as one QP: maximise the objective with 0 ≤ x ≤ 1,
// Σ cost·x ≤ budget over every asset and Σ crew·x ≤ crewCap per site. It
// returns the optimal objective and decisions.
func Central(ctx context.Context, as []Asset, budget, crewCap float64) (float64, []float64, error) {
	n := len(as)
	sites := map[string]int{}
	for _, a := range as {
		if _, ok := sites[a.Site]; !ok {
			sites[a.Site] = len(sites)
		}
	}
	pt, at := qp.NewTriplets(n, n), qp.NewTriplets(n+1+len(sites), n)
	q := make([]float64, n)
	l, u := make([]float64, 0, n+1+len(sites)), make([]float64, 0, n+1+len(sites))
	for i, a := range as {
		if a.Quad != 0 {
			pt.Add(i, i, -2*a.Quad)
		}
		q[i] = -a.Lin
		at.Add(i, i, 1)
		at.Add(n, i, a.Cost)
		at.Add(n+1+sites[a.Site], i, a.Crew)
		l, u = append(l, 0), append(u, 1)
	}
	l, u = append(l, math.Inf(-1)), append(u, budget)
	for range sites {
		l, u = append(l, math.Inf(-1)), append(u, crewCap)
	}
	P, err := pt.CSC()
	if err != nil {
		return 0, nil, err
	}
	A, err := at.CSC()
	if err != nil {
		return 0, nil, err
	}
	// The interior-point method from the start: ADMM alone takes minutes
	// at 200,000 assets (the method falls back to ADMM if it fails).
	s := qp.DefaultSettings()
	s.Method, s.EpsAbs, s.EpsRel, s.MaxIter = qp.MethodIPM, 1e-8, 1e-8, 200000
	res, err := qp.Solve(ctx, &qp.Problem{P: P, Q: q, A: A, L: l, U: u}, s)
	if err != nil {
		return 0, nil, err
	}
	if res.Status != qp.StatusOptimal {
		return 0, nil, fmt.Errorf("central fleet plan: %s after %d iterations", res.Status, res.Iterations+res.IPMIterations)
	}
	return -res.Objective, res.X, nil
}
