package plan_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/plan"
	"github.com/partita/partita/libs/qp"
)

// job is a separable QP over rows with a budget over all rows and a cap
// per group, the rows split into parts in some order.
type job struct {
	diag, q, cost, hours []float64
	group                []int
	budget, cap          float64
	groups               int
}

func fleetJob(seed uint64, n, groups int) *job {
	r := rand.New(rand.NewPCG(seed, 7))
	j := &job{groups: groups}
	for range n {
		risk, outage := r.Float64(), 1000+r.Float64()*50000
		hours := 5 + r.Float64()*40
		j.q = append(j.q, -risk*outage)
		j.diag = append(j.diag, 2*0.001*hours*hours)
		j.cost = append(j.cost, 2000+r.Float64()*30000)
		j.hours = append(j.hours, hours)
		j.group = append(j.group, r.IntN(groups))
	}
	total := 0.0
	for _, c := range j.cost {
		total += c
	}
	j.budget = total / 8
	j.cap = 6 * 25 * float64(n) / float64(groups) / 10
	return j
}

func (j *job) bounds(k plan.Key) (float64, float64) {
	if c, _ := plan.Constraint(k); c == 0 {
		return math.Inf(-1), j.budget
	}
	return math.Inf(-1), j.cap
}

// central solves the whole job as one QP.
func (j *job) central(t *testing.T) ([]float64, float64) {
	n := len(j.q)
	pt, at := qp.NewTriplets(n, n), qp.NewTriplets(n+1+j.groups, n)
	var l, u []float64
	for i := range n {
		pt.Add(i, i, j.diag[i])
		at.Add(i, i, 1)
		l, u = append(l, 0), append(u, 1)
		at.Add(n, i, j.cost[i])
		at.Add(n+1+j.group[i], i, j.hours[i])
	}
	l, u = append(l, math.Inf(-1)), append(u, j.budget)
	for range j.groups {
		l, u = append(l, math.Inf(-1)), append(u, j.cap)
	}
	P, err := pt.CSC()
	require.NoError(t, err)
	A, err := at.CSC()
	require.NoError(t, err)
	s := qp.DefaultSettings()
	s.EpsAbs, s.EpsRel = 1e-9, 1e-9
	res, err := qp.Solve(context.Background(), &qp.Problem{P: P, Q: j.q, A: A, L: l, U: u}, s)
	require.NoError(t, err)
	require.Equal(t, qp.StatusOptimal, res.Status)
	return res.X, res.Objective
}

// parts splits the rows into parts of at most size rows, in the given order.
func (j *job) parts(t *testing.T, order []int, size int) ([]*plan.Part, [][]int) {
	var parts []*plan.Part
	var members [][]int
	for start := 0; start < len(order); start += size {
		rows := order[start:min(start+size, len(order))]
		n := len(rows)
		pt, at := qp.NewTriplets(n, n), qp.NewTriplets(n, n)
		p := &plan.Part{Coupling: map[plan.Key]plan.Sparse{}}
		q := make([]float64, n)
		var l, u []float64
		budget := plan.Sparse{}
		hours := map[int]*plan.Sparse{}
		for v, i := range rows {
			pt.Add(v, v, j.diag[i])
			at.Add(v, v, 1)
			q[v] = j.q[i]
			l, u = append(l, 0), append(u, 1)
			p.Lower, p.Upper = append(p.Lower, 0), append(p.Upper, 1)
			budget.Index, budget.Value = append(budget.Index, v), append(budget.Value, j.cost[i])
			h := hours[j.group[i]]
			if h == nil {
				h = &plan.Sparse{}
				hours[j.group[i]] = h
			}
			h.Index, h.Value = append(h.Index, v), append(h.Value, j.hours[i])
		}
		p.Coupling[plan.RowKey(0, "")] = budget
		for g, h := range hours {
			p.Coupling[plan.RowKey(1, fmt.Sprint(g))] = *h
		}
		P, err := pt.CSC()
		require.NoError(t, err)
		A, err := at.CSC()
		require.NoError(t, err)
		p.Local = &qp.Problem{P: P, Q: q, A: A, L: l, U: u}
		parts = append(parts, p)
		members = append(members, rows)
	}
	return parts, members
}

// coordinate runs the coordination of a job in process.
func coordinate(t *testing.T, j *job, parts []*plan.Part, members [][]int) (plan.State, plan.Decision, []float64) {
	st, dec, x, err := rounds(t, len(j.q), parts, members, j.bounds, plan.DefaultLimits())
	require.NoError(t, err)
	return st, dec, x
}

// rounds runs the coordination in process (plan.Coordinate) and maps the
// parts' plans to the job's variables (members: each part's variables).
func rounds(t *testing.T, n int, parts []*plan.Part, members [][]int, bounds plan.Bounds, lim plan.Limits) (plan.State, plan.Decision, []float64, error) {
	return roundsSelecting(t, n, parts, members, bounds, lim, false)
}

// roundsSelecting is rounds for a job that may select one row per group.
func roundsSelecting(t *testing.T, n int, parts []*plan.Part, members [][]int, bounds plan.Bounds, lim plan.Limits, selecting bool) (plan.State, plan.Decision, []float64, error) {
	st, dec, xs, err := plan.Coordinate(context.Background(), parts, bounds, lim, selecting)
	if err != nil || xs == nil {
		return st, dec, nil, err
	}
	x := make([]float64, n)
	for p, xp := range xs {
		for v, i := range members[p] {
			x[i] = xp[v]
		}
	}
	return st, dec, x, nil
}

func objective(j *job, x []float64) float64 {
	f := 0.0
	for i, xi := range x {
		f += 0.5*j.diag[i]*xi*xi + j.q[i]*xi
	}
	return f
}

func TestCoordinatedPlanIsTheCentralOptimum(t *testing.T) {
	for _, tc := range []struct {
		seed           uint64
		n, groups, per int
	}{{1, 300, 6, 50}, {2, 1000, 20, 200}, {3, 2000, 8, 300}, {4, 120, 3, 7}} {
		t.Run(fmt.Sprint(tc.seed), func(t *testing.T) {
			j := fleetJob(tc.seed, tc.n, tc.groups)
			want, wantObj := j.central(t)
			order := rand.New(rand.NewPCG(tc.seed, 99)).Perm(tc.n) // groups spread over every part
			parts, members := j.parts(t, order, tc.per)
			st, dec, x := coordinate(t, j, parts, members)
			require.Equal(t, plan.Optimal, dec.Outcome, "after %d rounds: %+v", st.Round, st.Log)
			got := objective(j, x)
			assert.InDelta(t, wantObj, got, 1e-6*math.Abs(wantObj), "objective")
			spend := 0.0
			for i, xi := range x {
				spend += j.cost[i] * xi
			}
			assert.LessOrEqual(t, spend, j.budget*(1+1e-7), "the budget holds over the whole job")
			// Strong convexity: f(x) − f(x*) ≥ ½(x−x*)ᵀP(x−x*), so the plan is
			// the central plan wherever the objective is curved.
			dist := 0.0
			for i := range x {
				dist += 0.5 * j.diag[i] * (x[i] - want[i]) * (x[i] - want[i])
			}
			assert.LessOrEqual(t, dist, got-wantObj+1e-6*math.Abs(wantObj), "the plan is the central plan")
			t.Logf("%d rows in %d parts: %d rounds, objective %.6g vs %.6g", tc.n, len(parts), st.Round+1, got, wantObj)
		})
	}
}

// The plan does not depend on how the rows were split into parts.
func TestPlanDoesNotDependOnTheSplit(t *testing.T) {
	j := fleetJob(5, 600, 10)
	var objs []float64
	for _, split := range []struct {
		seed uint64
		per  int
	}{{11, 600}, {12, 100}, {13, 37}} {
		order := rand.New(rand.NewPCG(split.seed, 1)).Perm(len(j.q))
		parts, members := j.parts(t, order, split.per)
		_, dec, x := coordinate(t, j, parts, members)
		require.Equal(t, plan.Optimal, dec.Outcome)
		objs = append(objs, objective(j, x))
	}
	for _, o := range objs[1:] {
		assert.InDelta(t, objs[0], o, 1e-6*math.Abs(objs[0]))
	}
}

func TestInfeasibleCouplingRowIsNamed(t *testing.T) {
	j := fleetJob(6, 200, 4)
	order := rand.New(rand.NewPCG(6, 1)).Perm(len(j.q))
	parts, members := j.parts(t, order, 50)
	bounds := func(k plan.Key) (float64, float64) {
		if c, _ := plan.Constraint(k); c == 0 {
			return 1e12, math.Inf(1) // spend at least more than every row costs
		}
		return math.Inf(-1), j.cap
	}
	ctx := context.Background()
	sum := plan.Sum{}
	for p, part := range parts {
		_, rep, err := part.Solve(ctx, nil, qp.DefaultSettings())
		require.NoError(t, err)
		sum.Add(rep)
		_ = members[p]
	}
	_, dec, err := plan.Step(ctx, plan.State{}, []plan.Sum{sum}, bounds, plan.DefaultLimits())
	require.NoError(t, err)
	assert.Equal(t, plan.Infeasible, dec.Outcome)
	assert.Contains(t, dec.Reason, "c0")
}

// localCrewPart is one part of j holding all of its rows, with the crew
// cap as a local row (the part is not separable) and the budget coupling.
func localCrewPart(t *testing.T, j *job) *plan.Part {
	n := len(j.q)
	pt, at := qp.NewTriplets(n, n), qp.NewTriplets(n+1, n)
	p := &plan.Part{Coupling: map[plan.Key]plan.Sparse{}}
	l, u := make([]float64, n+1), make([]float64, n+1)
	budget := plan.Sparse{}
	for v := range n {
		pt.Add(v, v, j.diag[v])
		at.Add(v, v, 1)
		at.Add(n, v, j.hours[v])
		u[v] = 1
		p.Lower, p.Upper = append(p.Lower, 0), append(p.Upper, 1)
		budget.Index, budget.Value = append(budget.Index, v), append(budget.Value, j.cost[v])
	}
	l[n], u[n] = math.Inf(-1), j.cap
	p.Coupling[plan.RowKey(0, "")] = budget
	P, err := pt.CSC()
	require.NoError(t, err)
	A, err := at.CSC()
	require.NoError(t, err)
	p.Local = &qp.Problem{P: P, Q: append([]float64(nil), j.q...), A: A, L: l, U: u}
	return p
}

// A part that is not separable keeps its solver between trials; every
// re-solve at new prices must be the solution a fresh part finds.
func TestKeptSolverMatchesAFreshSolve(t *testing.T) {
	j := fleetJob(3, 400, 1)
	j.cap = 0.3 * sum(j.hours)
	kept := localCrewPart(t, j)
	s := qp.DefaultSettings()
	for _, price := range []float64{0, 0.5, 2, 0.1, 8, 0.5} {
		prices := map[plan.Key]float64{plan.RowKey(0, ""): price}
		got, gotReport, err := kept.Solve(context.Background(), prices, s)
		require.NoError(t, err)
		require.Equal(t, qp.StatusOptimal, got.Status, "price %g", price)
		want, wantReport, err := localCrewPart(t, j).Solve(context.Background(), prices, s)
		require.NoError(t, err)
		require.Equal(t, qp.StatusOptimal, want.Status, "price %g", price)
		assert.InDelta(t, wantReport.Lagrangian, gotReport.Lagrangian, 1e-5*math.Max(1, math.Abs(wantReport.Lagrangian)), "price %g", price)
		for i := range want.X {
			require.InDelta(t, want.X[i], got.X[i], 1e-3, "price %g, x[%d]", price, i)
		}
	}
}

func sum(v []float64) float64 {
	t := 0.0
	for _, x := range v {
		t += x
	}
	return t
}

// Past its deadline the coordinator ends with the first plan that holds
// every row, as time_limit with its gap, instead of running on.
func TestPlanEndsAtItsDeadline(t *testing.T) {
	j := fleetJob(5, 600, 10)
	order := rand.New(rand.NewPCG(11, 1)).Perm(len(j.q))
	parts, members := j.parts(t, order, 100)
	lim := plan.DefaultLimits()
	lim.EpsRel, lim.Deadline = 1e-15, time.Now() // a gap it will not close, a deadline already past
	st, dec, x, err := rounds(t, len(j.q), parts, members, j.bounds, lim)
	require.NoError(t, err)
	require.Equal(t, plan.TimeLimit, dec.Outcome)
	require.NotNil(t, st.Best)
	assert.Greater(t, dec.Gap, 0.0)
	_, central := j.central(t)
	assert.GreaterOrEqual(t, objective(j, x), central-1e-9*math.Abs(central), "a plan can be no better than the optimum (minimising)")
	spend := 0.0
	for i, v := range x {
		spend += j.cost[i] * v
	}
	assert.LessOrEqual(t, spend, j.budget*(1+1e-6), "the budget holds")
	full, _, _, err := rounds(t, len(j.q), parts, members, j.bounds, plan.DefaultLimits())
	require.NoError(t, err)
	assert.Less(t, st.Round, full.Round, "it stopped before the rounds an optimal plan takes")
}
