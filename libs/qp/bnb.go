package qp

import (
	"context"
	"fmt"
	"math"
	"time"
)

// BranchStatus is the outcome of SolveOnePerGroup.
type BranchStatus int

// Branch and bound outcomes.
const (
	// BranchOptimal: the incumbent is optimal within RelativeGap.
	BranchOptimal BranchStatus = iota + 1
	// BranchFeasible: a limit stopped the search; the incumbent is feasible
	// and BestBound bounds the optimum from below.
	BranchFeasible
	// BranchInfeasible: no assignment with one variable per group is
	// feasible.
	BranchInfeasible
	// BranchUnbounded: the relaxation is unbounded below.
	BranchUnbounded
	// BranchUnknown: a limit stopped the search before any feasible
	// assignment was found.
	BranchUnknown
)

// String returns "optimal", "feasible", "infeasible", "unbounded" or
// "unknown".
func (s BranchStatus) String() string {
	switch s {
	case BranchOptimal:
		return "optimal"
	case BranchFeasible:
		return "feasible"
	case BranchInfeasible:
		return "infeasible"
	case BranchUnbounded:
		return "unbounded"
	case BranchUnknown:
		return "unknown"
	}
	return "invalid"
}

// BranchOptions configures SolveOnePerGroup. Start from
// DefaultBranchOptions and change fields.
type BranchOptions struct {
	// Settings are used for every QP relaxation.
	Settings Settings
	// MaxNodes bounds the number of relaxations solved.
	MaxNodes int
	// TimeLimit bounds the whole search (0: none); a context deadline is
	// honoured as well.
	TimeLimit time.Duration
	// RelativeGap stops the search once (incumbent − bound) ≤
	// RelativeGap·max(1, |incumbent|).
	RelativeGap float64
	// IntegralityTol is how far from 0 or 1 a relaxed value may be and
	// still count as integral.
	IntegralityTol float64
}

// DefaultBranchOptions returns DefaultSettings for the relaxations, at most
// 10000 nodes, no time limit, a relative gap of 1e-6 and an integrality
// tolerance of 1e-5.
func DefaultBranchOptions() BranchOptions {
	return BranchOptions{
		Settings:       DefaultSettings(),
		MaxNodes:       10000,
		RelativeGap:    1e-6,
		IntegralityTol: 1e-5,
	}
}

// Validate reports options outside their domain, wrapping ErrSettings.
func (o BranchOptions) Validate() error {
	if err := o.Settings.Validate(); err != nil {
		return err
	}
	switch {
	case o.MaxNodes <= 0:
		return fmt.Errorf("%w: MaxNodes = %d must be positive", ErrSettings, o.MaxNodes)
	case o.TimeLimit < 0:
		return fmt.Errorf("%w: TimeLimit = %v is negative", ErrSettings, o.TimeLimit)
	case !(o.RelativeGap >= 0):
		return fmt.Errorf("%w: RelativeGap = %v must be non-negative", ErrSettings, o.RelativeGap)
	case !(o.IntegralityTol > 0 && o.IntegralityTol < 0.5):
		return fmt.Errorf("%w: IntegralityTol = %v must be in (0, 0.5)", ErrSettings, o.IntegralityTol)
	}
	return nil
}

// BranchResult is the outcome of SolveOnePerGroup.
type BranchResult struct {
	Status BranchStatus
	// X is the incumbent (nil without one): grouped variables are exactly
	// 0 or 1, one 1 per group.
	X []float64
	// Objective is ½xᵀPx + qᵀx at X (+Inf without incumbent).
	Objective float64
	// BestBound is a lower bound on the optimum (equal to Objective when
	// the search completed).
	BestBound float64
	// Gap is (Objective − BestBound) / max(1, |Objective|).
	Gap float64
	// Nodes is the number of QP relaxations solved.
	Nodes int
	// SolveTime is the wall time of the search.
	SolveTime time.Duration
}

// SolveOnePerGroup finds x minimising ½xᵀPx + qᵀx subject to l ≤ Ax ≤ u
// such that, for every group g, the variables of g are binary and exactly
// one of them is 1. Variables in no group stay continuous.
//
// The caller's problem must NOT contain the group rows: SolveOnePerGroup
// appends, for every group, the row Σ_{i∈g} x_i = 1 and, for every grouped
// variable, a row 0 ≤ x_i ≤ 1 that branching tightens to [0,0] or [1,1].
// (Bounds 0 ≤ x_i ≤ 1 already in A are harmless.) Groups must be non-empty
// and disjoint.
//
// The search is best-first over QP relaxations, each warm-started from its
// parent's solution, branching on the most fractional grouped variable
// (x_i = 1 fixes the rest of its group to 0). A rounding of the root
// relaxation provides an early incumbent.
func SolveOnePerGroup(ctx context.Context, prob *Problem, groups [][]int, opts BranchOptions) (*BranchResult, error) {
	start := time.Now()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := prob.Validate(); err != nil {
		return nil, err
	}
	groupOf, err := checkGroups(prob.NumVars(), groups)
	if err != nil {
		return nil, err
	}
	if res, ok := selectSeparable(prob, groups, groupOf); ok {
		res.SolveTime = time.Since(start)
		return res, nil
	}
	if opts.TimeLimit > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.TimeLimit)
		defer cancel()
	}
	aug, branchRow, err := withGroupRows(prob, groups)
	if err != nil {
		return nil, err
	}
	solver, err := NewSolver(aug, opts.Settings)
	if err != nil {
		return nil, fmt.Errorf("branch and bound setup: %w", err)
	}
	b := &brancher{
		ctx: ctx, opts: opts, prob: prob, aug: aug, solver: solver,
		groups: groups, groupOf: groupOf, branchRow: branchRow,
		incumbentObj: math.Inf(1),
		l:            append([]float64(nil), aug.L...),
		u:            append([]float64(nil), aug.U...),
	}
	res, err := b.run()
	if err != nil {
		return nil, err
	}
	res.SolveTime = time.Since(start)
	return res, nil
}

// checkGroups validates the partition and returns the group of every
// variable (−1 for none).
func checkGroups(n int, groups [][]int) ([]int, error) {
	groupOf := make([]int, n)
	for i := range groupOf {
		groupOf[i] = -1
	}
	for g, members := range groups {
		if len(members) == 0 {
			return nil, fmt.Errorf("%w: group %d is empty", ErrGroups, g)
		}
		for _, i := range members {
			if i < 0 || i >= n {
				return nil, fmt.Errorf("%w: group %d has variable %d outside [0, %d)", ErrGroups, g, i, n)
			}
			if groupOf[i] >= 0 {
				return nil, fmt.Errorf("%w: variable %d is in groups %d and %d", ErrGroups, i, groupOf[i], g)
			}
			groupOf[i] = g
		}
	}
	return groupOf, nil
}

// withGroupRows returns prob with the group rows and the branching rows
// appended; branchRow[i] is the row of grouped variable i (−1 for others).
func withGroupRows(prob *Problem, groups [][]int) (aug *Problem, branchRow []int, err error) {
	a := prob.matA()
	m, n := a.Rows, prob.NumVars()
	grouped := 0
	for _, members := range groups {
		grouped += len(members)
	}
	t := NewTriplets(m+len(groups)+grouped, n)
	for j := 0; j < n; j++ {
		for p := a.ColPtr[j]; p < a.ColPtr[j+1]; p++ {
			t.Add(a.RowIdx[p], j, a.Val[p])
		}
	}
	l := append([]float64(nil), prob.L...)
	u := append([]float64(nil), prob.U...)
	row := m
	for _, members := range groups {
		for _, i := range members {
			t.Add(row, i, 1)
		}
		l, u = append(l, 1), append(u, 1)
		row++
	}
	branchRow = make([]int, n)
	for i := range branchRow {
		branchRow[i] = -1
	}
	for _, members := range groups {
		for _, i := range members {
			t.Add(row, i, 1)
			branchRow[i] = row
			l, u = append(l, 0), append(u, 1)
			row++
		}
	}
	am, err := t.CSC()
	if err != nil {
		return nil, nil, fmt.Errorf("building group rows: %w", err)
	}
	return &Problem{P: prob.P, Q: prob.Q, A: am, L: l, U: u}, branchRow, nil
}
