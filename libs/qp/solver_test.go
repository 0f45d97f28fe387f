package qp

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestWarmStartReducesIterations(t *testing.T) {
	prob := fleetProblem(t, 1000, 11)
	first, err := Solve(context.Background(), prob, DefaultSettings())
	if err != nil || first.Status != StatusOptimal {
		t.Fatalf("first solve: %v %v", first, err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	perturbed := *prob
	perturbed.Q = make([]float64, len(prob.Q))
	for j, v := range prob.Q {
		perturbed.Q[j] = v * (1 + 0.01*(rng.Float64()-0.5))
	}
	cold, err := Solve(context.Background(), &perturbed, DefaultSettings())
	if err != nil || cold.Status != StatusOptimal {
		t.Fatalf("cold solve: %v %v", cold, err)
	}
	warmSolver, err := NewSolver(&perturbed, DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	if err := warmSolver.WarmStart(first.X, first.Y); err != nil {
		t.Fatal(err)
	}
	warm, err := warmSolver.Solve(context.Background())
	if err != nil || warm.Status != StatusOptimal {
		t.Fatalf("warm solve: %v %v", warm, err)
	}
	if warm.Iterations >= cold.Iterations {
		t.Errorf("warm start took %d iterations, cold %d", warm.Iterations, cold.Iterations)
	}
	if relErr(warm.Objective, cold.Objective) > 1e-6 {
		t.Errorf("warm objective %.10g, cold %.10g", warm.Objective, cold.Objective)
	}
	t.Logf("cold %d iterations, warm %d", cold.Iterations, warm.Iterations)
}

func TestUpdateLinearCostResolves(t *testing.T) {
	prob := fleetProblem(t, 200, 5)
	s, err := NewSolver(prob, DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Solve(context.Background()); err != nil {
		t.Fatal(err)
	}
	q := make([]float64, len(prob.Q))
	for j, v := range prob.Q {
		q[j] = 1.01 * v
	}
	if err := s.UpdateLinearCost(q); err != nil {
		t.Fatal(err)
	}
	again, err := s.Solve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	changed := *prob
	changed.Q = q
	fresh, err := Solve(context.Background(), &changed, DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	if again.Status != StatusOptimal || relErr(again.Objective, fresh.Objective) > 1e-6 {
		t.Errorf("re-solve %v %.10g, fresh solve %.10g", again.Status, again.Objective, fresh.Objective)
	}
	if !errors.Is(s.UpdateLinearCost(q[:3]), ErrDimension) {
		t.Error("short q accepted")
	}
}

func TestTimeLimit(t *testing.T) {
	st := DefaultSettings()
	st.TimeLimit = time.Nanosecond
	res, err := Solve(context.Background(), fleetProblem(t, 2000, 1), st)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusTimeLimit {
		t.Fatalf("status %v, want time_limit", res.Status)
	}
	if len(res.X) != 2000 {
		t.Fatalf("time-limited result has %d values", len(res.X))
	}
}

func TestContextDeadlineIsTimeLimit(t *testing.T) {
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	res, err := Solve(ctx, fleetProblem(t, 100, 1), DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusTimeLimit {
		t.Fatalf("status %v, want time_limit", res.Status)
	}
}

func TestContextCancel(t *testing.T) {
	prob := fleetProblem(t, 1000, 2)
	st := DefaultSettings()
	// Unreachable tolerances and no polishing: only cancellation ends it.
	st.EpsAbs, st.EpsRel = 1e-300, 0
	st.Polish = false
	st.MaxIter = math.MaxInt32
	s, err := NewSolver(prob, st)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := s.Solve(ctx)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

func TestStatusStrings(t *testing.T) {
	want := map[Status]string{
		StatusOptimal: "optimal", StatusInfeasible: "infeasible", StatusUnbounded: "unbounded",
		StatusMaxIter: "max_iter", StatusTimeLimit: "time_limit",
	}
	for s, name := range want {
		if s.String() != name {
			t.Errorf("%d: %q, want %q", s, s.String(), name)
		}
	}
	branch := map[BranchStatus]string{
		BranchOptimal: "optimal", BranchFeasible: "feasible", BranchInfeasible: "infeasible",
		BranchUnbounded: "unbounded", BranchUnknown: "unknown",
	}
	for s, name := range branch {
		if s.String() != name {
			t.Errorf("%d: %q, want %q", s, s.String(), name)
		}
	}
}

func TestMaxIter(t *testing.T) {
	st := DefaultSettings()
	st.MaxIter = 5
	st.Polish = false
	st.Method = MethodADMM
	res, err := Solve(context.Background(), fleetProblem(t, 500, 3), st)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusMaxIter || res.Iterations != 5 {
		t.Fatalf("status %v after %d iterations", res.Status, res.Iterations)
	}
}

func TestInvalidInput(t *testing.T) {
	upper := func(t *testing.T, rows, cols int, entries ...[3]float64) *CSC {
		tr := NewTriplets(rows, cols)
		for _, e := range entries {
			tr.Add(int(e[0]), int(e[1]), e[2])
		}
		m, err := tr.CSC()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	a := upper(t, 1, 2, [3]float64{0, 0, 1})
	cases := map[string]struct {
		prob *Problem
		want error
	}{
		"l and u lengths": {&Problem{Q: []float64{1, 1}, A: a, L: []float64{0}, U: []float64{}}, ErrDimension},
		"A rows":          {&Problem{Q: []float64{1, 1}, A: a, L: []float64{0, 0}, U: []float64{1, 1}}, ErrDimension},
		"P not square":    {&Problem{P: upper(t, 2, 3), Q: []float64{1, 1}}, ErrNotSquare},
		"P size":          {&Problem{P: upper(t, 3, 3), Q: []float64{1, 1}}, ErrDimension},
		"P lower entry":   {&Problem{P: upper(t, 2, 2, [3]float64{1, 0, 1}), Q: []float64{1, 1}}, ErrNotUpperTriangular},
		"NaN in q":        {&Problem{Q: []float64{math.NaN(), 1}}, ErrNotFinite},
		"Inf in P":        {&Problem{P: upper(t, 2, 2, [3]float64{0, 0, math.Inf(1)}), Q: []float64{1, 1}}, ErrNotFinite},
		"NaN bound":       {&Problem{Q: []float64{1, 1}, A: a, L: []float64{math.NaN()}, U: []float64{1}}, ErrNotFinite},
		"l above u":       {&Problem{Q: []float64{1, 1}, A: a, L: []float64{2}, U: []float64{1}}, ErrBoundOrder},
		"no variables":    {&Problem{}, ErrDimension},
		"malformed A": {&Problem{Q: []float64{1, 1}, A: &CSC{Rows: 1, Cols: 2, ColPtr: []int{0, 1, 1}, RowIdx: []int{5}, Val: []float64{1}},
			L: []float64{0}, U: []float64{1}}, ErrMalformedMatrix},
		"not convex": {&Problem{P: upper(t, 1, 1, [3]float64{0, 0, -1}), Q: []float64{1}}, ErrNotConvex},
	}
	for name, tc := range cases {
		if _, err := NewSolver(tc.prob, DefaultSettings()); !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v, want %v", name, err, tc.want)
		}
	}
	st := DefaultSettings()
	st.Alpha = 2
	if _, err := NewSolver(&Problem{Q: []float64{1}}, st); !errors.Is(err, ErrSettings) {
		t.Errorf("alpha 2: error %v, want ErrSettings", err)
	}
	tr := NewTriplets(2, 2)
	tr.Add(2, 0, 1)
	if _, err := tr.CSC(); !errors.Is(err, ErrDimension) {
		t.Errorf("triplet out of range: error %v, want ErrDimension", err)
	}
}
