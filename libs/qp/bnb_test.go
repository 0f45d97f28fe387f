package qp

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// groupInstance is a small one-per-group problem: every variable is in a
// group, with a budget row and a second mixed-sign row.
type groupInstance struct {
	prob   *Problem
	groups [][]int
}

func randomGroupInstance(t *testing.T, rng *rand.Rand, withBounds bool) groupInstance {
	nGroups := 2 + rng.IntN(3)
	var groups [][]int
	n := 0
	for g := 0; g < nGroups; g++ {
		size := 2 + rng.IntN(3)
		var members []int
		for k := 0; k < size; k++ {
			members = append(members, n)
			n++
		}
		groups = append(groups, members)
	}
	d := denseQP{Q: make([]float64, n), P: make([][]float64, n)}
	for i := range d.P {
		d.P[i] = make([]float64, n)
		d.P[i][i] = 2 * rng.Float64()
		d.Q[i] = 4*rng.Float64() - 2
	}
	// A rank-one coupling term keeps P PSD but not diagonal.
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.Float64() - 0.5
	}
	for i := range v {
		for j := range v {
			d.P[i][j] += v[i] * v[j]
		}
	}
	cost := make([]float64, n)
	var minSum, maxSum float64
	for _, members := range groups {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, i := range members {
			cost[i] = 1 + 9*rng.Float64()
			lo, hi = math.Min(lo, cost[i]), math.Max(hi, cost[i])
		}
		minSum += lo
		maxSum += hi
	}
	// A budget between the cheapest and the dearest choice (sometimes
	// below the cheapest: infeasible).
	budget := minSum + (maxSum-minSum)*(rng.Float64()*1.1-0.1)
	mixed := make([]float64, n)
	for i := range mixed {
		mixed[i] = 2*rng.Float64() - 1
	}
	d.A = [][]float64{cost, mixed}
	d.L = []float64{-inf, -1.5}
	d.U = []float64{budget, inf}
	if withBounds {
		d.XL, d.XU = filled(n, 0), filled(n, 1)
	}
	return groupInstance{prob: d.problem(t), groups: groups}
}

// bruteForce enumerates every assignment with one 1 per group and returns
// the best feasible objective (+Inf when none is feasible).
func bruteForce(gi groupInstance) float64 {
	n := gi.prob.NumVars()
	best := math.Inf(1)
	choice := make([]int, len(gi.groups))
	x := make([]float64, n)
	ax := make([]float64, gi.prob.NumRows())
	for {
		clear(x)
		for g, members := range gi.groups {
			x[members[choice[g]]] = 1
		}
		gi.prob.A.mulVec(ax, x)
		feasible := true
		for i, v := range ax {
			if v > gi.prob.U[i]+1e-9 || v < gi.prob.L[i]-1e-9 {
				feasible = false
			}
		}
		if feasible {
			best = math.Min(best, gi.prob.Objective(x))
		}
		g := 0
		for ; g < len(choice); g++ {
			choice[g]++
			if choice[g] < len(gi.groups[g]) {
				break
			}
			choice[g] = 0
		}
		if g == len(choice) {
			return best
		}
	}
}

func TestOnePerGroupMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 4242))
	infeasible := 0
	for k := 0; k < 100; k++ {
		gi := randomGroupInstance(t, rng, k%2 == 0)
		want := bruteForce(gi)
		res, err := SolveOnePerGroup(context.Background(), gi.prob, gi.groups, DefaultBranchOptions())
		if err != nil {
			t.Fatalf("instance %d: %v", k, err)
		}
		if math.IsInf(want, 1) {
			infeasible++
			if res.Status != BranchInfeasible {
				t.Errorf("instance %d: status %v, brute force finds no feasible assignment", k, res.Status)
			}
			continue
		}
		if res.Status != BranchOptimal {
			t.Errorf("instance %d: status %v, want optimal %.9g", k, res.Status, want)
			continue
		}
		if relErr(res.Objective, want) > 1e-6 {
			t.Errorf("instance %d: objective %.9g, brute force %.9g (%d nodes)", k, res.Objective, want, res.Nodes)
		}
		checkOnePerGroup(t, gi, res.X)
		if res.Gap > 1e-6 || res.BestBound > res.Objective+1e-9 {
			t.Errorf("instance %d: gap %v bound %v objective %v", k, res.Gap, res.BestBound, res.Objective)
		}
	}
	if infeasible == 0 || infeasible > 30 {
		t.Fatalf("%d infeasible instances: the generator should produce a few", infeasible)
	}
}

// checkOnePerGroup verifies that x is binary with one 1 per group.
func checkOnePerGroup(t *testing.T, gi groupInstance, x []float64) {
	t.Helper()
	for g, members := range gi.groups {
		ones := 0
		for _, i := range members {
			switch x[i] {
			case 1:
				ones++
			case 0:
			default:
				t.Fatalf("group %d: x[%d] = %v is not binary", g, i, x[i])
			}
		}
		if ones != 1 {
			t.Fatalf("group %d has %d ones", g, ones)
		}
	}
}

func TestOnePerGroupNodeLimit(t *testing.T) {
	// 12 groups of 4 variables with coupled costs: far more than 3 nodes.
	rng := rand.New(rand.NewPCG(1, 2))
	n := 48
	d := denseQP{Q: make([]float64, n), P: make([][]float64, n)}
	var groups [][]int
	for g := 0; g < 12; g++ {
		groups = append(groups, []int{4 * g, 4*g + 1, 4*g + 2, 4*g + 3})
	}
	for i := range d.P {
		d.P[i] = make([]float64, n)
		d.P[i][i] = 1
		d.Q[i] = rng.Float64() - 0.5
	}
	for i := 0; i+1 < n; i++ { // neighbours' costs couple (diagonally dominant: P ⪰ 0)
		d.P[i][i+1], d.P[i+1][i] = 0.3, 0.3
	}
	prob := d.problem(t)
	opts := DefaultBranchOptions()
	opts.MaxNodes = 3
	res, err := SolveOnePerGroup(context.Background(), prob, groups, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != BranchFeasible || res.Nodes != 3 {
		t.Fatalf("status %v after %d nodes, want feasible after 3", res.Status, res.Nodes)
	}
	if !(res.BestBound <= res.Objective) || res.Gap <= 0 {
		t.Errorf("bound %v objective %v gap %v", res.BestBound, res.Objective, res.Gap)
	}
	checkOnePerGroup(t, groupInstance{prob: prob, groups: groups}, res.X)
}

func TestOnePerGroupRejectsBadGroups(t *testing.T) {
	prob := denseQP{Q: []float64{1, 2, 3}}.problem(t)
	for name, groups := range map[string][][]int{
		"empty":        {{}},
		"overlapping":  {{0, 1}, {1, 2}},
		"out of range": {{0, 3}},
	} {
		_, err := SolveOnePerGroup(context.Background(), prob, groups, DefaultBranchOptions())
		if !errors.Is(err, ErrGroups) {
			t.Errorf("%s: error %v, want ErrGroups", name, err)
		}
	}
}

func TestOnePerGroupLimits(t *testing.T) {
	gi := randomGroupInstance(t, rand.New(rand.NewPCG(8, 8)), true)
	opts := DefaultBranchOptions()
	opts.TimeLimit = time.Nanosecond
	res, err := SolveOnePerGroup(context.Background(), gi.prob, gi.groups, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != BranchUnknown || res.X != nil {
		t.Fatalf("status %v with X %v, want unknown without incumbent", res.Status, res.X)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := SolveOnePerGroup(ctx, gi.prob, gi.groups, DefaultBranchOptions()); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled search: error %v, want context.Canceled", err)
	}
}
