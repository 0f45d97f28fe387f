package qp

import (
	"context"
	"encoding/json"
	"os"
	"testing"
)

// fleetFixture is the file written by examples/qp-fixtures/gen_fleet_qps.py:
// parts of examples/fleet jobs with CVXOPT's optimal objective.
type fleetFixture struct {
	Instances []fleetInstance `json:"instances"`
}

type fleetInstance struct {
	Name       string    `json:"name"`
	RiskModel  string    `json:"risk_model"`
	Seed       int       `json:"seed"`
	MaxRows    int       `json:"max_rows"`
	Part       int       `json:"part"`
	Risk       []float64 `json:"risk"`
	OutageCost []float64 `json:"outage_cost"`
	CrewHours  []float64 `json:"crew_hours"`
	RepairCost []float64 `json:"repair_cost"`
	Budget     float64   `json:"budget"`
	CrewMax    float64   `json:"crew_max"`
	Objective  float64   `json:"objective"`
}

// problem builds the part's QP in the row order of services/optimizer's
// Program.Build for examples/fleet/spec.yaml: the variable bounds
// 0 ≤ x ≤ 1, the budget row, then the crew row of the part's one site.
func (fi fleetInstance) problem(t testing.TB) *Problem {
	t.Helper()
	n := len(fi.Risk)
	p := NewTriplets(n, n)
	q := make([]float64, n)
	a := NewTriplets(n+2, n)
	l := make([]float64, n+2)
	u := make([]float64, n+2)
	for j := 0; j < n; j++ {
		h := fi.CrewHours[j]
		p.Add(j, j, 0.002*h*h)
		q[j] = -fi.Risk[j] * fi.OutageCost[j]
		a.Add(j, j, 1)
		l[j], u[j] = 0, 1
		a.Add(n, j, fi.RepairCost[j])
		a.Add(n+1, j, h)
	}
	l[n], u[n] = -inf, fi.Budget
	l[n+1], u[n+1] = -inf, fi.CrewMax
	pm, err := p.CSC()
	if err != nil {
		t.Fatal(err)
	}
	am, err := a.CSC()
	if err != nil {
		t.Fatal(err)
	}
	return &Problem{P: pm, Q: q, A: am, L: l, U: u}
}

// TestFleetAgainstCVXOPT solves fleet-shaped parts of 50 to 5000 rows
// (three fleets scored by the logistic baseline, and parts of the 200k-row
// reference job scored by the ONNX model, among them part 401 of its
// max_rows 200 split and parts 0 and 64 of its max_rows 5000 split, which
// ended max_iter after 20000 ADMM iterations before the interior-point
// method and the ρ schedule) with the default settings and compares the
// objective with CVXOPT's.
func TestFleetAgainstCVXOPT(t *testing.T) {
	raw, err := os.ReadFile("testdata/fleet_qps.json")
	if err != nil {
		t.Fatalf("reading fixture (regenerate with examples/qp-fixtures/gen_fleet_qps.py): %v", err)
	}
	var fx fleetFixture
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatalf("decoding fixture: %v", err)
	}
	sizes := map[int]bool{}
	byIPM := 0
	for _, fi := range fx.Instances {
		sizes[len(fi.Risk)] = true
		prob := fi.problem(t)
		res, err := Solve(context.Background(), prob, DefaultSettings())
		if err != nil {
			t.Fatalf("%s: %v", fi.Name, err)
		}
		if res.Status != StatusOptimal {
			t.Errorf("%s (n=%d): status %v after %d ADMM and %d IPM iterations", fi.Name, len(fi.Risk), res.Status, res.Iterations, res.IPMIterations)
			continue
		}
		if res.Method == MethodIPM {
			byIPM++
		}
		if e := kktError(prob, res.X, res.Y); e > 1e-6 {
			t.Errorf("%s: scaled KKT error %.3g (by %v, polished %v)", fi.Name, e, res.Method, res.Polished)
		}
		if e := relErr(res.Objective, fi.Objective); e > 1e-6 {
			t.Errorf("%s: objective %.12g, CVXOPT %.12g (relative error %.2g, by %v, polished %v)", fi.Name, res.Objective, fi.Objective, e, res.Method, res.Polished)
		}
	}
	for _, n := range []int{50, 200, 5000} {
		if !sizes[n] {
			t.Errorf("fixture has no part of %d rows", n)
		}
	}
	if len(fx.Instances) < 50 {
		t.Errorf("fixture has %d parts, want at least 50", len(fx.Instances))
	}
	t.Logf("%d parts, %d finished by the interior-point method", len(fx.Instances), byIPM)
}
