package plan_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/plan"
	"github.com/partita/partita/libs/qp"
)

// layouts is a selection job: rooms with alternative layouts, exactly one
// layout per room, a value and a cost per layout, and one budget over the
// whole job (the space-planning case).
type layouts struct {
	rooms, per   int
	value, cost  []float64
	curve        []float64 // a small convex term per layout
	budget       float64
	roomsPerPart int
}

var curveScale, costScale = 0.0, 300.0

func newLayouts(seed uint64, rooms, per, roomsPerPart int) *layouts {
	r := rand.New(rand.NewPCG(seed, 3))
	j := &layouts{rooms: rooms, per: per, roomsPerPart: roomsPerPart}
	cheapest := 0.0
	for range rooms {
		low := math.Inf(1)
		for range per {
			c := (10 + r.Float64()*90) * costScale
			j.cost = append(j.cost, c)
			j.value = append(j.value, c*(0.5+r.Float64())+r.Float64()*20)
			j.curve = append(j.curve, curveScale*r.Float64())
			low = math.Min(low, c)
		}
		cheapest += low
	}
	j.budget = cheapest * 1.6
	return j
}

func (j *layouts) bounds(k plan.Key) (float64, float64) { return math.Inf(-1), j.budget }

// exact is the best selection of the whole job, by branch and bound on it
// as one problem (small enough to prove).
func (j *layouts) exact(t *testing.T) float64 {
	n := j.rooms * j.per
	pt, at := qp.NewTriplets(n, n), qp.NewTriplets(n+1, n)
	q := make([]float64, n)
	var l, u []float64
	var groups [][]int
	for i := range n {
		pt.Add(i, i, j.curve[i])
		q[i] = -j.value[i]
		at.Add(i, i, 1)
		at.Add(n, i, j.cost[i])
		l, u = append(l, 0), append(u, 1)
	}
	l, u = append(l, math.Inf(-1)), append(u, j.budget)
	for g := range j.rooms {
		var m []int
		for k := range j.per {
			m = append(m, g*j.per+k)
		}
		groups = append(groups, m)
	}
	P, err := pt.CSC()
	require.NoError(t, err)
	A, err := at.CSC()
	require.NoError(t, err)
	opts := qp.DefaultBranchOptions()
	opts.MaxNodes = 200000
	opts.RelativeGap = 1e-9
	res, err := qp.SolveOnePerGroup(context.Background(), &qp.Problem{P: P, Q: q, A: A, L: l, U: u}, groups, opts)
	require.NoError(t, err)
	require.Equal(t, qp.BranchOptimal, res.Status, "the central branch and bound proves its optimum")
	return res.Objective
}

// parts puts roomsPerPart rooms in each part; the budget couples them.
func (j *layouts) parts(t *testing.T) ([]*plan.Part, [][]int) {
	var parts []*plan.Part
	var members [][]int
	for start := 0; start < j.rooms; start += j.roomsPerPart {
		var rows []int
		p := &plan.Part{Coupling: map[plan.Key]plan.Sparse{}}
		var budget plan.Sparse
		for g := start; g < min(start+j.roomsPerPart, j.rooms); g++ {
			var grp []int
			for k := range j.per {
				grp = append(grp, len(rows))
				rows = append(rows, g*j.per+k)
			}
			p.Groups = append(p.Groups, grp)
		}
		n := len(rows)
		pt, at := qp.NewTriplets(n, n), qp.NewTriplets(n, n)
		q := make([]float64, n)
		var l, u []float64
		for v, i := range rows {
			pt.Add(v, v, j.curve[i])
			q[v] = -j.value[i]
			at.Add(v, v, 1)
			l, u = append(l, 0), append(u, 1)
			p.Lower, p.Upper = append(p.Lower, 0), append(p.Upper, 1)
			budget.Index, budget.Value = append(budget.Index, v), append(budget.Value, j.cost[i])
		}
		p.Coupling[plan.RowKey(0, "")] = budget
		P, err := pt.CSC()
		require.NoError(t, err)
		A, err := at.CSC()
		require.NoError(t, err)
		p.Local = &qp.Problem{P: P, Q: q, A: A, L: l, U: u}
		parts, members = append(parts, p), append(members, rows)
	}
	return parts, members
}

// A selection under a job-wide budget: a selection that holds the budget,
// a bound from below, and the reported gap between them; the exact
// optimum of the whole job lies between.
func TestSelectionUnderAJobWideBudget(t *testing.T) {
	for _, tc := range []struct {
		seed                    uint64
		rooms, per, roomsInPart int
	}{{1, 12, 3, 3}, {2, 30, 4, 5}, {3, 40, 4, 6}} {
		t.Run(fmt.Sprint(tc.seed), func(t *testing.T) {
			j := newLayouts(tc.seed, tc.rooms, tc.per, tc.roomsInPart)
			want := j.exact(t)
			parts, members := j.parts(t)
			st, dec, x, err := roundsSelecting(t, tc.rooms*tc.per, parts, members, j.bounds, plan.DefaultLimits(), true)
			require.NoError(t, err)
			require.Contains(t, []plan.Outcome{plan.Optimal, plan.Feasible}, dec.Outcome, "%+v", st.Log)
			require.NotNil(t, st.Select, "the selection phase ran")
			obj, spend := 0.0, 0.0
			for g := range j.rooms {
				ones := 0
				for k := range j.per {
					i := g*j.per + k
					require.True(t, x[i] == 0 || x[i] == 1, "x[%d] = %g is a choice", i, x[i])
					if x[i] == 1 {
						ones++
						obj += 0.5*j.curve[i] - j.value[i]
						spend += j.cost[i]
					}
				}
				require.Equal(t, 1, ones, "room %d has one layout", g)
			}
			assert.LessOrEqual(t, spend, j.budget*(1+1e-9), "the budget holds over the whole job")
			assert.InDelta(t, st.Best.Objective, obj, 1e-9*math.Abs(obj), "the plan's objective is its selection's")
			bound := st.BestDual
			assert.LessOrEqual(t, bound, want+1e-7*math.Abs(want), "the bound is below the exact optimum")
			assert.GreaterOrEqual(t, obj, want-1e-7*math.Abs(want), "no selection beats the exact optimum")
			gap := (obj - bound) / math.Abs(obj)
			assert.InDelta(t, gap, st.Gap(), 1e-12, "the reported gap")
			if dec.Outcome == plan.Optimal {
				assert.InDelta(t, want, obj, 1e-6*math.Abs(want), "an optimal selection is the exact optimum")
			}
			t.Logf("%d rooms × %d in %d parts: %s after %d rounds (selection from round %d), objective %.6g, exact %.6g (%.2g off), gap %.2g",
				tc.rooms, tc.per, len(parts), dec.Outcome, st.Round+1, st.Select.Start, obj, want, (obj-want)/math.Abs(want), gap)
		})
	}
}
