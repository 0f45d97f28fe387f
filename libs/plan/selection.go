package plan

import (
	"context"
	"fmt"
	"math"

	"github.com/partita/partita/libs/qp"
)

// Selection is the coordinator's selection phase, for one_per_group under
// coupling rows: after the convex relaxation is decided, each part solves
// its own selection exactly at trial prices (the Lagrangian subproblem),
// so every round gives lower bounds — the Lagrangian value g(λ) and the
// relaxation's dual value bound the best selection from below — and the
// selections that hold every coupling row are incumbents. Prices move by
// a Polyak-sized supergradient step along a ladder of lengths.
type Selection struct {
	Start   int             `json:"start"`   // the first round of the phase
	Relaxed float64         `json:"relaxed"` // the relaxation's objective (minimisation sense)
	Base    map[Key]float64 `json:"base"`    // the relaxation's prices
	// Low and High bracket the factor θ of the relaxation's prices past
	// which the selections at θ·Base hold every coupling row: Low the
	// largest tried where they do not, High the smallest where they do
	// (0 until one does). Raising every price makes the selections use
	// less of every row they price.
	Low    float64         `json:"low"`
	High   float64         `json:"high"`
	Lambda map[Key]float64 `json:"lambda"` // the prices of the best Lagrangian value
	Dual   float64         `json:"dual"`   // that value
	Sum    Sum             `json:"sum"`    // its round's activities
	Stall  int             `json:"stall"`  // rounds without a better bound or incumbent
}

// maxSelectRounds bounds the selection phase; maxStall ends it early when
// neither the bound nor the incumbent improves.
const (
	maxSelectRounds = 40
	maxStall        = 12
)

// A selection round tries rayTrials factors θ of the relaxation's prices
// (spread over the bracket, or growing until a selection holds the rows)
// and boundTrials supergradient steps from the best Lagrangian prices,
// for the bound.
const rayTrials = 4

var boundLadder = []float64{0.5, 2}

// raise is how the factors grow before any selection holds the rows.
var raise = []float64{1, 1.02, 1.1, 1.5}

// The relaxation of a job that selects serves for its prices and its
// bound, which need not be exact: it gives way to the selection phase
// after relaxRounds rounds or within relaxGap.
const (
	relaxRounds = 30
	relaxGap    = 1e-4
)

// SelectionReady reports whether the relaxation of a job that selects has
// served, after Step's decision: decided (optimal, feasible, or out of
// rounds without a plan), close enough, or long enough.
func SelectionReady(st State, dec Decision) bool {
	if st.Select != nil {
		return false
	}
	switch dec.Outcome {
	case Optimal, Feasible, RoundLimit:
		return true
	case Continue:
		return st.Round >= relaxRounds || st.Gap() <= relaxGap
	}
	return false
}

// StartSelection ends the relaxation (SelectionReady, after Step's
// decision dec) and starts the selection phase at the relaxation's prices
// (of its center): the next round, instead of the relaxation's next round
// when dec continued it. The relaxation's
// blend is no plan of a selection, so the phase starts without one; the
// best dual value stays, a bound for the selections too.
func StartSelection(st State, dec Decision) (State, Decision) {
	if dec.Outcome == Continue {
		st.Round-- // Step had moved on to the relaxation's next round
	}
	lambda := map[Key]float64{}
	if st.Center != nil && st.Center.Lambda != nil {
		lambda = st.Center.Lambda
	}
	relaxed := st.BestDual
	if st.Best != nil {
		relaxed = st.Best.Objective
	}
	// The relaxation's center starts the search for a better bound: its
	// value is a lower bound of the selections' Lagrangian there.
	st.Select = &Selection{Start: st.Round + 1, Relaxed: relaxed, Base: lambda, Lambda: lambda}
	if st.Center != nil {
		st.Select.Dual, st.Select.Sum = st.Center.Dual, st.Center.Sum
	}
	st.Best, st.Evals = nil, nil
	var trials []Trial
	for _, f := range raise {
		trials = append(trials, Trial{Prices: scaled(lambda, f), Theta: f})
	}
	return next(st, trials)
}

// next starts the next round with the trials.
func next(st State, trials []Trial) (State, Decision) {
	prices := make([]map[Key]float64, len(trials))
	for i, t := range trials {
		prices[i] = t.Prices
	}
	st.Round++
	st.Trials = trials
	return st, Decision{Outcome: Continue, Trials: prices}
}

// scaled is θ·λ.
func scaled(lambda map[Key]float64, theta float64) map[Key]float64 {
	p := make(map[Key]float64, len(lambda))
	for k, v := range lambda {
		p[k] = theta * v
	}
	return p
}

// stepSelect is Step in the selection phase.
func stepSelect(st State, sums []Sum, trials []Trial, bounds Bounds, lim Limits) (State, Decision, error) {
	sel := st.Select
	improved := false
	win := -1
	for t, sum := range sums {
		d := sum.Lagrangian - support(trials[t].Prices, bounds)
		if d > sel.Dual {
			win, sel.Dual, sel.Lambda, sel.Sum = t, d, trials[t].Prices, sum
		}
		if d > st.BestDual+1e-12*math.Abs(st.BestDual) {
			st.BestDual, improved = d, true
		}
		holds := feasibility(&Point{Sum: sum}, bounds, lim) <= 1
		if th := trials[t].Theta; th > 0 {
			switch {
			case holds && (sel.High == 0 || th < sel.High):
				sel.High = th
			case !holds && th > sel.Low:
				sel.Low = th
			}
		}
		if holds && (st.Best == nil || sum.Objective < st.Best.Objective) {
			st.Best = &Best{Weights: []Weight{{Round: st.Round, Trial: t, W: 1, Prices: trials[t].Prices}}, Objective: sum.Objective, Activity: sum.Activity, Lambda: trials[t].Prices}
			improved = true
		}
	}
	if improved {
		sel.Stall = 0
	} else {
		sel.Stall++
	}
	info := RoundInfo{Round: st.Round, Trial: max(win, 0), Dual: sel.Dual, Accepted: win >= 0}
	if st.Best == nil {
		info.Residual = feasibility(&Point{Sum: sel.Sum}, bounds, lim)
	}
	st.Log = append(st.Log, info)
	if len(st.Log) > maxLog {
		st.Log = st.Log[len(st.Log)-maxLog:]
	}
	gap := st.Gap()
	collapsed := sel.High > 0 && sel.High-sel.Low <= 1e-9*sel.High
	if st.Best != nil && gap <= lim.EpsRel {
		return st, Decision{Outcome: Optimal, Gap: gap}, nil
	}
	if st.Round+1-sel.Start >= maxSelectRounds || sel.Stall >= maxStall || collapsed && sel.Stall >= 2 {
		if st.Best != nil {
			return st, Decision{Outcome: Feasible, Gap: gap}, nil
		}
		return st, Decision{Outcome: RoundLimit, Reason: fmt.Sprintf("%s still violated by every selection tried", mostViolated(&Point{Sum: sel.Sum}, bounds, lim))}, nil
	}
	var trials2 []Trial
	switch {
	case sel.High == 0: // nothing holds yet: raise the prices further
		from := math.Max(sel.Low, 1)
		for i := 1; i <= rayTrials; i++ {
			th := from * math.Pow(2, float64(i*i)/2)
			trials2 = append(trials2, Trial{Prices: scaled(sel.Base, th), Theta: th})
		}
	case !collapsed: // spread over the bracket, geometrically
		lo := math.Max(sel.Low, sel.High*1e-3)
		for i := 1; i <= rayTrials; i++ {
			th := lo * math.Pow(sel.High/lo, float64(i)/float64(rayTrials+1))
			trials2 = append(trials2, Trial{Prices: scaled(sel.Base, th), Theta: th})
		}
	}
	trials2 = append(trials2, boundSteps(st, bounds)...)
	if len(trials2) == 0 {
		return st, Decision{Outcome: Feasible, Gap: gap}, nil
	}
	st, dec := next(st, trials2)
	return st, dec, nil
}

// boundSteps are supergradient steps of Polyak's length (toward the
// incumbent's objective, or the relaxation's) from the best Lagrangian
// prices, for a better bound.
func boundSteps(st State, bounds Bounds) []Trial {
	sel := st.Select
	// A supergradient of g at the best prices, each row scaled to its
	// prices: d_j = (s_j − b_j)·P_j/S_j, b_j the bound the price sits on
	// (the nearest one at a zero price), P_j a price scale, S_j the row's
	// scale.
	keys := sel.Sum.Keys()
	dir := map[Key]float64{}
	slope := 0.0
	for _, k := range keys {
		s := sel.Sum.Activity[k]
		l, u := bounds(k)
		var g float64
		switch lam := sel.Lambda[k]; {
		case lam > 0:
			g = s - u
		case lam < 0:
			g = s - l
		default:
			g = s - math.Min(math.Max(s, l), u)
		}
		if g == 0 {
			continue
		}
		sc := math.Max(sel.Sum.Scale[k], 1e-300)
		for _, b := range []float64{l, u} {
			if !math.IsInf(b, 0) {
				sc = math.Max(sc, math.Abs(b))
			}
		}
		ps := math.Abs(sel.Lambda[k])
		for _, v := range sel.Base {
			ps = math.Max(ps, 1e-3*math.Abs(v))
		}
		dir[k] = g * math.Max(ps, 1e-12) / sc
		slope += g * dir[k]
	}
	if slope <= 0 {
		return nil // the best prices' selections hold every row they price: nothing to climb
	}
	target := sel.Relaxed
	if st.Best != nil {
		target = st.Best.Objective
	}
	if target <= sel.Dual {
		target = sel.Dual + 1e-3*math.Max(1, math.Abs(sel.Dual))
	}
	alpha := (target - sel.Dual) / slope
	var out []Trial
	for _, f := range boundLadder {
		p := make(map[Key]float64, len(keys))
		for _, k := range keys {
			v := sel.Lambda[k] + f*alpha*dir[k]
			l, u := bounds(k)
			if math.IsInf(l, -1) {
				v = math.Max(v, 0)
			}
			if math.IsInf(u, 1) {
				v = math.Min(v, 0)
			}
			if v != 0 {
				p[k] = v
			}
		}
		out = append(out, Trial{Prices: p})
	}
	return out
}

// Select solves the part's own selection (one row per group set to 1) at
// prices λ exactly, by branch and bound on its priced problem, and
// returns the solution and its report: activities and objective of the
// selection, and as Lagrangian the branch and bound's lower bound of the
// priced problem (the selection's priced value when proved optimal), so
// that the coordinator's dual values stay bounds.
func (p *Part) Select(ctx context.Context, prices map[Key]float64, opts qp.BranchOptions) (*qp.BranchResult, Report, error) {
	res, err := qp.SolveOnePerGroup(ctx, p.priced(p.Local, prices), p.Groups, opts)
	if err != nil {
		return nil, Report{}, err
	}
	if res.Status != qp.BranchOptimal && res.Status != qp.BranchFeasible {
		return res, Report{}, nil
	}
	r := Report{Activity: map[Key]float64{}, Scale: map[Key]float64{}, Lagrangian: res.BestBound,
		Objective: p.objective(res.X, diagonal(p.Local.P, len(res.X)))}
	for k, a := range p.Coupling {
		r.Activity[k], r.Scale[k] = a.at(res.X)
	}
	return res, r, nil
}
