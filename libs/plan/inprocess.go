package plan

import (
	"context"
	"fmt"

	"github.com/partita/partita/libs/qp"
)

// Coordinate runs the coordination in one process, as the services do over
// the bus: every part solves at every trial of a round (selecting one row
// per group once a job that selects is past its relaxation), until Step
// decides. It returns the final state and decision and each part's plan
// (nil without one): the blend of the trials the plan names, solved again
// at their prices (each part's solution is a function of the prices), so
// that no round's solutions are kept.
func Coordinate(ctx context.Context, parts []*Part, bounds Bounds, lim Limits, selecting bool) (State, Decision, [][]float64, error) {
	var st State
	trials := []map[Key]float64{nil}
	for {
		sums := make([]Sum, len(trials))
		for t, prices := range trials {
			for i, p := range parts {
				_, rep, err := solve(ctx, p, prices, st.Select != nil)
				if err != nil {
					return st, Decision{}, nil, fmt.Errorf("part %d in round %d: %w", i, st.Round, err)
				}
				sums[t].Add(rep)
			}
		}
		next, dec, err := Step(ctx, st, sums, bounds, lim)
		if err != nil {
			return st, dec, nil, err
		}
		st = next
		if selecting && SelectionReady(st, dec) {
			st, dec = StartSelection(st, dec)
		}
		if dec.Outcome != Continue {
			if st.Best == nil {
				return st, dec, nil, nil
			}
			xs, err := blendParts(ctx, parts, st)
			return st, dec, xs, err
		}
		trials = dec.Trials
	}
}

// blendParts is each part's x of the plan.
func blendParts(ctx context.Context, parts []*Part, st State) ([][]float64, error) {
	xs := make([][]float64, len(parts))
	for _, w := range st.Best.Weights {
		for i, p := range parts {
			x, _, err := solve(ctx, p, w.Prices, st.Select != nil)
			if err != nil {
				return nil, fmt.Errorf("part %d at the plan's round %d: %w", i, w.Round, err)
			}
			if xs[i] == nil {
				xs[i] = make([]float64, len(x))
			}
			for j, v := range x {
				xs[i][j] += w.W * v
			}
		}
	}
	return xs, nil
}

// solve is a part's solution and report at prices: its own problem, or
// its selection.
func solve(ctx context.Context, p *Part, prices map[Key]float64, selecting bool) ([]float64, Report, error) {
	if selecting {
		res, rep, err := p.Select(ctx, prices, qp.DefaultBranchOptions())
		if err != nil {
			return nil, Report{}, err
		}
		if res.Status != qp.BranchOptimal && res.Status != qp.BranchFeasible {
			return nil, Report{}, fmt.Errorf("selection %s", res.Status)
		}
		return res.X, rep, nil
	}
	res, rep, err := p.Solve(ctx, prices, qp.DefaultSettings())
	if err != nil {
		return nil, Report{}, err
	}
	if res.Status != qp.StatusOptimal {
		return nil, Report{}, fmt.Errorf("%s after %d iterations", res.Status, res.Iterations)
	}
	return res.X, rep, nil
}
