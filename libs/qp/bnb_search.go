package qp

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math"
)

// Fixing states of a grouped variable in a node.
const (
	free int8 = iota
	fixedZero
	fixedOne
)

// bbNode is an open node: the fixings of the variables (free for the
// ungrouped ones), the bound inherited from its parent and the parent's
// solution for warm starting.
type bbNode struct {
	fix   []int8
	bound float64
	x, y  []float64
}

type brancher struct {
	ctx       context.Context
	opts      BranchOptions
	prob, aug *Problem
	solver    *Solver
	groups    [][]int
	groupOf   []int
	branchRow []int // row of each grouped variable, −1 for others
	l, u      []float64

	open         nodeHeap
	nodes        int
	incumbent    []float64
	incumbentObj float64
	// incomplete is set when a node could be neither solved nor
	// branched, so that an empty queue no longer proves optimality.
	incomplete bool
}

// errStop ends the search at a limit.
var errStop = errors.New("qp: branch and bound limit")

func (b *brancher) run() (*BranchResult, error) {
	root := &bbNode{fix: make([]int8, b.prob.NumVars()), bound: math.Inf(-1)}
	for _, members := range b.groups {
		if len(members) == 1 {
			root.fix[members[0]] = fixedOne
		}
	}
	heap.Push(&b.open, root)
	first := true
	for b.open.Len() > 0 {
		node := heap.Pop(&b.open).(*bbNode)
		if node.bound >= b.incumbentObj-b.gapTolerance() {
			// Best-first: every open node is at least as bad.
			heap.Push(&b.open, node)
			break
		}
		if err := b.process(node, first); err != nil {
			if errors.Is(err, errStop) {
				heap.Push(&b.open, node)
				return b.result(false), nil
			}
			if errors.Is(err, errUnboundedRelaxation) {
				return &BranchResult{Status: BranchUnbounded, Objective: math.Inf(-1), BestBound: math.Inf(-1), Gap: math.Inf(1), Nodes: b.nodes}, nil
			}
			return nil, err
		}
		first = false
	}
	return b.result(!b.incomplete), nil
}

// gapTolerance is the absolute slack allowed below the incumbent.
func (b *brancher) gapTolerance() float64 {
	if math.IsInf(b.incumbentObj, 1) {
		return 0
	}
	return b.opts.RelativeGap * math.Max(1, math.Abs(b.incumbentObj))
}

// result reports the search; complete means every node was resolved.
func (b *brancher) result(complete bool) *BranchResult {
	bound := b.incumbentObj
	if b.open.Len() > 0 {
		bound = math.Min(bound, b.open[0].bound)
	}
	res := &BranchResult{X: b.incumbent, Objective: b.incumbentObj, BestBound: bound, Nodes: b.nodes}
	switch {
	case b.incumbent == nil && complete:
		res.Status = BranchInfeasible
	case b.incumbent == nil:
		res.Status = BranchUnknown
	default:
		res.Gap = (b.incumbentObj - bound) / math.Max(1, math.Abs(b.incumbentObj))
		res.Status = BranchFeasible
		if complete && res.Gap <= b.opts.RelativeGap {
			res.Status = BranchOptimal
		}
	}
	if res.Status != BranchFeasible && res.Status != BranchOptimal {
		res.Gap = math.Inf(1)
	}
	return res
}

var errUnboundedRelaxation = errors.New("qp: relaxation unbounded")

// solveRelaxation solves the augmented problem under fix, warm-started
// from (x, y).
func (b *brancher) solveRelaxation(fix []int8, x, y []float64) (*Result, error) {
	if err := b.ctx.Err(); errors.Is(err, context.Canceled) {
		return nil, fmt.Errorf("branch and bound interrupted after %d nodes: %w", b.nodes, err)
	}
	if b.nodes >= b.opts.MaxNodes || b.ctx.Err() != nil {
		return nil, errStop
	}
	b.nodes++
	for i, row := range b.branchRow {
		if row < 0 {
			continue
		}
		b.l[row], b.u[row] = 0, 1
		switch fix[i] {
		case fixedZero:
			b.u[row] = 0
		case fixedOne:
			b.l[row] = 1
		}
	}
	if err := b.solver.UpdateBounds(b.l, b.u); err != nil {
		return nil, fmt.Errorf("node %d: %w", b.nodes, err)
	}
	if err := b.solver.WarmStart(x, y); err != nil {
		return nil, fmt.Errorf("node %d: %w", b.nodes, err)
	}
	res, err := b.solver.Solve(b.ctx)
	if err != nil {
		return nil, fmt.Errorf("branch and bound node %d: %w", b.nodes, err)
	}
	switch res.Status {
	case StatusTimeLimit:
		return nil, errStop
	case StatusUnbounded:
		return nil, errUnboundedRelaxation
	}
	return res, nil
}

// process solves one node and pushes its children.
func (b *brancher) process(node *bbNode, root bool) error {
	res, err := b.solveRelaxation(node.fix, node.x, node.y)
	if err != nil {
		return err
	}
	bound := node.bound
	switch res.Status {
	case StatusInfeasible:
		return nil
	case StatusOptimal:
		bound = math.Max(bound, res.Objective)
		if bound >= b.incumbentObj-b.gapTolerance() {
			return nil
		}
	}
	branchVar, fractional := b.mostFractional(node.fix, res.X)
	if res.Status == StatusOptimal {
		if branchVar < 0 {
			// Every grouped variable is fixed: the relaxation is a leaf.
			b.record(node.fix, res)
			return nil
		}
		if root {
			if _, err := b.evaluateAssignment(b.rounding(res.X), res.X, res.Y); err != nil {
				return err
			}
		}
		if !fractional {
			feasible, err := b.evaluateAssignment(b.rounded(node.fix, res.X), res.X, res.Y)
			if err != nil || feasible {
				return err
			}
			// The rounded point is infeasible: keep branching.
		}
	}
	if branchVar < 0 {
		// All grouped variables fixed, but the relaxation did not converge.
		b.incomplete = true
		return nil
	}
	for _, child := range b.children(node.fix, branchVar) {
		heap.Push(&b.open, &bbNode{fix: child, bound: bound, x: res.X, y: res.Y})
	}
	return nil
}

// mostFractional returns the free grouped variable whose value is farthest
// from 0 and 1 (the lowest index on ties), and whether that distance exceeds
// IntegralityTol. It returns −1 when no grouped variable is free.
func (b *brancher) mostFractional(fix []int8, x []float64) (int, bool) {
	best, bestDist := -1, -1.0
	for i, row := range b.branchRow {
		if row < 0 || fix[i] != free {
			continue
		}
		if dist := math.Min(math.Abs(x[i]), math.Abs(1-x[i])); dist > bestDist {
			best, bestDist = i, dist
		}
	}
	return best, bestDist > b.opts.IntegralityTol
}

// children returns the fixings of the two children that branch on i:
// x_i = 1 (with the rest of its group 0) and x_i = 0 (fixing the last free
// member of the group to 1 when only one is left). Children that are
// infeasible by counting are left out.
func (b *brancher) children(fix []int8, i int) [][]int8 {
	members := b.groups[b.groupOf[i]]
	one := append([]int8(nil), fix...)
	for _, j := range members {
		one[j] = fixedZero
	}
	one[i] = fixedOne
	kids := [][]int8{one}

	zero := append([]int8(nil), fix...)
	zero[i] = fixedZero
	var freeLeft []int
	hasOne := false
	for _, j := range members {
		switch zero[j] {
		case free:
			freeLeft = append(freeLeft, j)
		case fixedOne:
			hasOne = true
		}
	}
	switch {
	case hasOne:
		kids = append(kids, zero)
	case len(freeLeft) == 1:
		zero[freeLeft[0]] = fixedOne
		kids = append(kids, zero)
	case len(freeLeft) > 1:
		kids = append(kids, zero)
	}
	return kids
}

// rounded fixes every free grouped variable of fix to its rounded value
// in x.
func (b *brancher) rounded(fix []int8, x []float64) []int8 {
	leaf := append([]int8(nil), fix...)
	for i, row := range b.branchRow {
		if row >= 0 && leaf[i] == free {
			leaf[i] = fixedZero
			if x[i] > 0.5 {
				leaf[i] = fixedOne
			}
		}
	}
	return leaf
}

// rounding sets, in every group, the variable with the largest value in x
// to 1 and the others to 0.
func (b *brancher) rounding(x []float64) []int8 {
	leaf := make([]int8, len(x))
	for _, members := range b.groups {
		best := members[0]
		for _, i := range members {
			leaf[i] = fixedZero
			if x[i] > x[best] {
				best = i
			}
		}
		leaf[best] = fixedOne
	}
	return leaf
}

// evaluateAssignment solves with every grouped variable fixed as in leaf,
// records the solution when it improves the incumbent and reports whether
// the assignment is feasible.
func (b *brancher) evaluateAssignment(leaf []int8, x, y []float64) (bool, error) {
	res, err := b.solveRelaxation(leaf, x, y)
	if err != nil {
		return false, err
	}
	if res.Status != StatusOptimal {
		return false, nil
	}
	b.record(leaf, res)
	return true, nil
}

// record makes the solution of a fully fixed relaxation the incumbent when
// it is better, with grouped variables set exactly to 0 or 1.
func (b *brancher) record(leaf []int8, res *Result) {
	xs := append([]float64(nil), res.X...)
	for i, row := range b.branchRow {
		if row >= 0 {
			xs[i] = 0
			if leaf[i] == fixedOne {
				xs[i] = 1
			}
		}
	}
	if obj := b.prob.Objective(xs); obj < b.incumbentObj {
		b.incumbent, b.incumbentObj = xs, obj
	}
}

// nodeHeap orders open nodes by bound, smallest first.
type nodeHeap []*bbNode

func (h nodeHeap) Len() int           { return len(h) }
func (h nodeHeap) Less(i, j int) bool { return h[i].bound < h[j].bound }
func (h nodeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *nodeHeap) Push(x any)        { *h = append(*h, x.(*bbNode)) }
func (h *nodeHeap) Pop() any {
	old := *h
	node := old[len(old)-1]
	*h = old[:len(old)-1]
	return node
}
