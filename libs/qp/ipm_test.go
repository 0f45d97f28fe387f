package qp

import (
	"context"
	"errors"
	"testing"
)

// TestIPMAgainstSciPy solves the 200 generated instances with the
// interior-point method alone (a Solver: no closed form first).
func TestIPMAgainstSciPy(t *testing.T) {
	fx := loadRandomFixture(t)
	st := DefaultSettings()
	st.Method = MethodIPM
	polished := 0
	for _, ri := range fx.Instances {
		prob := ri.problem(t)
		sv, err := NewSolver(prob, st)
		if err != nil {
			t.Fatalf("%s: %v", ri.Name, err)
		}
		res, err := sv.Solve(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", ri.Name, err)
		}
		if res.Status != StatusOptimal || res.Method != MethodIPM || res.Iterations != 0 {
			t.Errorf("%s: status %v by %v after %d ADMM and %d IPM iterations", ri.Name, res.Status, res.Method, res.Iterations, res.IPMIterations)
			continue
		}
		if res.Polished {
			polished++
		}
		if e := kktError(prob, res.X, res.Y); e > 1e-6 {
			t.Errorf("%s: scaled KKT error %.3g (polished %v)", ri.Name, e, res.Polished)
		}
		if e := relErr(res.Objective, ri.Objective); e > 1e-6 {
			t.Errorf("%s: objective %.12g, SciPy %.12g (relative error %.2g)", ri.Name, res.Objective, ri.Objective, e)
		}
	}
	t.Logf("%d of %d instances polished", polished, len(fx.Instances))
}

// TestIPMWithoutPolish checks that the interior point itself meets the
// tolerances when polishing is off.
func TestIPMWithoutPolish(t *testing.T) {
	fx := loadRandomFixture(t)
	st := DefaultSettings()
	st.Method = MethodIPM
	st.Polish = false
	for _, ri := range fx.Instances[:40] {
		prob := ri.problem(t)
		res, err := Solve(context.Background(), prob, st)
		if err != nil {
			t.Fatalf("%s: %v", ri.Name, err)
		}
		if res.Status != StatusOptimal || res.Polished {
			t.Errorf("%s: status %v polished %v", ri.Name, res.Status, res.Polished)
			continue
		}
		if e := relErr(res.Objective, ri.Objective); e > 1e-5 {
			t.Errorf("%s: objective %.12g, SciPy %.12g (relative error %.2g)", ri.Name, res.Objective, ri.Objective, e)
		}
	}
}

// TestAutoSwitchesAtMaxIter: when ADMM stops at MaxIter unconverged,
// MethodAuto hands the problem to the interior-point method.
func TestAutoSwitchesAtMaxIter(t *testing.T) {
	st := DefaultSettings()
	st.MaxIter = 5
	prob := fleetProblem(t, 500, 3)
	res, err := Solve(context.Background(), prob, st)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusOptimal || res.Method != MethodIPM || res.Iterations != 5 || res.IPMIterations == 0 {
		t.Fatalf("status %v by %v after %d ADMM and %d IPM iterations", res.Status, res.Method, res.Iterations, res.IPMIterations)
	}
	if e := kktError(prob, res.X, res.Y); e > 1e-6 {
		t.Errorf("KKT error %.3g", e)
	}
}

// TestIPMInfeasibleFallsBackToADMM: the interior-point method does not
// certify infeasibility; ADMM does, after it.
func TestIPMInfeasibleFallsBackToADMM(t *testing.T) {
	st := DefaultSettings()
	st.Method = MethodIPM
	for name, prob := range infeasibleCases(t) {
		res, err := Solve(context.Background(), prob, st)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if res.Status != StatusInfeasible || res.Method != MethodADMM {
			t.Errorf("%s: status %v by %v, want infeasible by ADMM", name, res.Status, res.Method)
			continue
		}
		checkPrimalCertificate(t, prob, res.Certificate)
	}
	for name, prob := range unboundedCases(t) {
		res, err := Solve(context.Background(), prob, st)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if res.Status != StatusUnbounded {
			t.Errorf("%s: status %v by %v, want unbounded", name, res.Status, res.Method)
		}
	}
}

// TestIPMWarmResolve: a Solver that finished with the interior-point
// method re-solves from that point after a change of q.
func TestIPMWarmResolve(t *testing.T) {
	prob := fleetProblem(t, 300, 9)
	st := DefaultSettings()
	st.Method = MethodIPM
	s, err := NewSolver(prob, st)
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.Solve(context.Background())
	if err != nil || first.Status != StatusOptimal {
		t.Fatalf("first solve: %v %v", first, err)
	}
	q := append([]float64(nil), prob.Q...)
	for j := range q {
		q[j] *= 1.1
	}
	if err := s.UpdateLinearCost(q); err != nil {
		t.Fatal(err)
	}
	second, err := s.Solve(context.Background())
	if err != nil || second.Status != StatusOptimal {
		t.Fatalf("second solve: %v %v", second, err)
	}
	changed := *prob
	changed.Q = q
	fresh, err := Solve(context.Background(), &changed, DefaultSettings())
	if err != nil || fresh.Status != StatusOptimal {
		t.Fatalf("fresh solve: %v %v", fresh, err)
	}
	if relErr(second.Objective, fresh.Objective) > 1e-6 {
		t.Errorf("re-solve objective %.10g, fresh %.10g", second.Objective, fresh.Objective)
	}
}

func TestMethodSettings(t *testing.T) {
	for m, name := range map[Method]string{MethodAuto: "auto", MethodADMM: "admm", MethodIPM: "ipm", Method(7): "unknown"} {
		if m.String() != name {
			t.Errorf("%d: %q, want %q", m, m.String(), name)
		}
	}
	prob := &Problem{Q: []float64{1}}
	st := DefaultSettings()
	st.Method = Method(7)
	if _, err := NewSolver(prob, st); !errors.Is(err, ErrSettings) {
		t.Errorf("method 7: error %v, want ErrSettings", err)
	}
	st = DefaultSettings()
	st.IPMMaxIter = 0
	if _, err := NewSolver(prob, st); !errors.Is(err, ErrSettings) {
		t.Errorf("IPMMaxIter 0: error %v, want ErrSettings", err)
	}
	st.Method = MethodADMM
	if _, err := NewSolver(prob, st); err != nil {
		t.Errorf("IPMMaxIter 0 with ADMM: %v", err)
	}
}
