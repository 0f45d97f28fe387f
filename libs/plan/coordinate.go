package plan

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize/convex/lp"
)

// Bounds gives a coupling row's bounds l ≤ a_jᵀx ≤ u (±Inf when open).
type Bounds func(k Key) (l, u float64)

// Limits bound the coordination.
type Limits struct {
	MaxRounds int     // rounds of re-solves before the plan is given up
	EpsRel    float64 // relative tolerance on coupling rows and on the duality gap
	EpsAbs    float64 // absolute tolerance on coupling rows
	// Deadline (zero: none) ends the plan with the best one holding every
	// row (TimeLimit) as soon as there is one once it has passed.
	Deadline time.Time
}

// DefaultLimits are the limits a job gets.
func DefaultLimits() Limits { return Limits{MaxRounds: 100, EpsRel: 1e-7, EpsAbs: 1e-9} }

// State is the coordinator's state, kept with the job between rounds.
type State struct {
	Round  int           `json:"round"`            // the round being evaluated (0: the first solve of every part)
	Trials []Trial       `json:"trials,omitempty"` // its prices (none: one trial at zero prices)
	Center *Point        `json:"center,omitempty"`
	Mu     float64       `json:"mu"` // regularisation of the Newton model, the middle of the next ladder
	Ranges map[Key]Range `json:"ranges,omitempty"`
	// Secant learns, by a damped BFGS update over the rounds, the
	// curvature the parts' exact curvature misses: between the kinks of
	// nearly linear rows the exact curvature is local and small, and the
	// dual's average curvature over a step is what the next step needs.
	Secant *Matrix `json:"secant,omitempty"`
	// Evals are the rounds' coupling activities and objectives, the
	// candidates of the plan.
	Evals []Eval `json:"evals,omitempty"`
	// Best is the plan: a convex combination of rounds' solutions that
	// holds every coupling row with the least objective bound. With the best
	// dual value it bounds the optimum from both sides.
	Best     *Best       `json:"best,omitempty"`
	BestDual float64     `json:"best_dual"`
	Log      []RoundInfo `json:"log,omitempty"` // the last rounds
	// Select is the selection phase, once the relaxation of a job that
	// selects one row per group is decided (StartSelection).
	Select *Selection `json:"select,omitempty"`
}

// Trial is prices a round evaluates: the maximiser of the Newton model at
// one regularisation of the ladder.
type Trial struct {
	Prices map[Key]float64 `json:"prices,omitempty"`
	Pred   float64         `json:"pred"` // the dual increase the model predicted
	Mu     float64         `json:"mu"`   // the regularisation it was found with
	// Theta is, in the selection phase, the factor of the relaxation's
	// prices the trial tries (0 for a step toward a better bound).
	Theta float64 `json:"theta,omitempty"`
}

// rung is one trial of a round: the regularisation as a factor of
// State.Mu, whether the model adds the secant's curvature, and how far
// past the model's maximiser the step goes (1: to it).
type rung struct {
	mu      float64
	secant  bool
	stretch float64
}

// ladder is the trials of a round, by increasing regularisation (the
// last is the most cautious): every part solves at each (a re-solve costs
// little next to a round trip), and the best dual value among them moves
// the center, so a round is a line search along the trust region's path
// rather than one guess. Each regularisation is tried with the exact
// curvature alone and with the secant added: the secant carries what the
// exact curvature of one point misses (between the kinks of nearly linear
// rows, and where a part's own binding rows pin its free variables, the
// local curvature is small or zero), and misleads elsewhere (measured: at
// 200,000 rows in 1,026 parts the secant alone stalls, while a mix of
// local and coupled caps stalls without it). Three go past the model's
// step, as the curvature of one piece of the dual overstates it beyond
// the kinks where prices push variables to bounds. A rung whose model
// cannot be solved is left out of its round.
var ladder = []rung{{1.0 / 16, false, 1}, {1.0 / 16, true, 1}, {1.0 / 2, false, 1}, {1.0 / 2, true, 1}, {1.0 / 2, false, 4}, {1.0 / 2, true, 4}, {1.0 / 2, false, 16}, {4, false, 1}, {4, true, 1}, {32, false, 1}, {32, true, 1}}

// Point is evaluated prices with the round's reports.
type Point struct {
	Round  int             `json:"round"`
	Lambda map[Key]float64 `json:"lambda,omitempty"`
	Sum    Sum             `json:"sum"`
	Dual   float64         `json:"dual"`
}

// Eval is one trial's prices, coupling activities and objective.
type Eval struct {
	Round     int             `json:"round"`
	Trial     int             `json:"trial"`
	Prices    map[Key]float64 `json:"prices,omitempty"`
	Activity  map[Key]float64 `json:"activity,omitempty"`
	Objective float64         `json:"objective"`
}

// Weight is a trial's share of the plan.
type Weight struct {
	Round  int             `json:"round"`
	Trial  int             `json:"trial"`
	W      float64         `json:"w"`
	Prices map[Key]float64 `json:"prices,omitempty"` // the trial's
}

// Best is the plan: x = Σ_k w_k·x(round r_k, trial t_k), every part's
// decision blended from the same trials. As the objective is convex and
// the coupling rows linear, the blend holds the rows its activities say
// (Activity) and its objective is at most Objective.
type Best struct {
	Weights   []Weight        `json:"weights"`   // by decreasing weight
	Objective float64         `json:"objective"` // Σ_k w_k f(x_k) ≥ f(x), minimisation sense
	Activity  map[Key]float64 `json:"activity,omitempty"`
	Lambda    map[Key]float64 `json:"lambda,omitempty"` // the prices of the trial of the largest weight
}

// RoundInfo is one round, for the job's report.
type RoundInfo struct {
	Round    int     `json:"round"`
	Trial    int     `json:"trial"` // the trial of the best dual value
	Dual     float64 `json:"dual"`
	Residual float64 `json:"residual"` // worst coupling row violation, in tolerances
	Accepted bool    `json:"accepted"`
	Mu       float64 `json:"mu"`
}

const maxLog = 200

// maxEvals bounds the rounds a plan may blend.
const maxEvals = 128

// Outcome is what the coordinator decided after a round.
type Outcome string

// Outcomes.
const (
	Continue   Outcome = "continue"    // re-solve the parts at Decision.Prices
	Optimal    Outcome = "optimal"     // Best is the job's optimum (gap within tolerance)
	Feasible   Outcome = "feasible"    // Best holds every row; the gap is over tolerance at the round limit
	Infeasible Outcome = "infeasible"  // the coupling rows cannot all hold
	RoundLimit Outcome = "round_limit" // MaxRounds without convergence
	TimeLimit  Outcome = "time_limit"  // Best holds every row; the deadline passed before the gap closed
	// Unsupported: a one_per_group group lies in several parts, and a
	// selection under coupling rows needs each group in one part.
	Unsupported Outcome = "unsupported"
)

// Decision is the outcome of a round.
type Decision struct {
	Outcome Outcome
	Trials  []map[Key]float64 // with Continue: the next round's trial prices
	Gap     float64           // relative gap between Best's objective and the best dual value
	Reason  string            // with Infeasible: which row and why
}

// ErrModel is returned when the Newton model cannot be solved.
var ErrModel = errors.New("plan: the coordination model could not be solved")

// Step takes the reports of the round just completed, one sum per trial
// of the round, and decides: the plan is optimal, infeasible, out of
// rounds, or the trials of the next round.
func Step(ctx context.Context, st State, sums []Sum, bounds Bounds, lim Limits) (State, Decision, error) {
	trials := st.Trials
	if len(trials) == 0 {
		trials = []Trial{{}}
	}
	if len(sums) != len(trials) {
		return st, Decision{}, fmt.Errorf("plan: round %d has %d trials and %d sums", st.Round, len(trials), len(sums))
	}
	if st.Select != nil {
		return stepSelect(st, sums, trials, bounds, lim)
	}
	if g := sums[0].Shared; g != "" {
		return st, Decision{Outcome: Unsupported, Reason: fmt.Sprintf("the one_per_group group %q has rows in several parts", g)}, nil
	}
	win, dual := 0, math.Inf(-1)
	candidates := []*Best{}
	for t, sum := range sums {
		d := sum.Lagrangian - support(trials[t].Prices, bounds)
		if d > dual {
			win, dual = t, d
		}
		if st.Center != nil && st.Secant != nil {
			st.Secant.updateResidual(st.Center, trials[t].Prices, sum.Activity)
		}
		st.Evals = append(st.Evals, Eval{Round: st.Round, Trial: t, Prices: trials[t].Prices, Activity: sum.Activity, Objective: sum.Objective})
		if feasibility(&Point{Sum: sum}, bounds, lim) <= 1 {
			// This trial alone holds the rows.
			candidates = append(candidates, &Best{Weights: []Weight{{Round: st.Round, Trial: t, W: 1, Prices: trials[t].Prices}}, Objective: sum.Objective, Activity: sum.Activity, Lambda: trials[t].Prices})
		}
	}
	sum := sums[win]
	info := RoundInfo{Round: st.Round, Trial: win, Dual: dual}
	accepted := st.Center == nil
	if !accepted {
		actual, pred := dual-st.Center.Dual, trials[win].Pred
		noise := 1e-12 * (1 + math.Abs(dual))
		accepted = actual >= 0.1*pred-noise || (pred <= noise && actual >= -noise)
		switch {
		case accepted && actual >= 0.75*pred:
			st.Mu = trials[win].Mu / 2
		case accepted:
			st.Mu = trials[win].Mu
		default:
			// The most regularised trial promised pred and the dual fell
			// short by pred − actual: regularise about that much more, so
			// that along its step the model would have foreseen the loss.
			last := trials[len(trials)-1]
			grow, fell := 4.0, sums[len(sums)-1].Lagrangian-support(last.Prices, bounds)-st.Center.Dual
			if last.Pred > noise {
				grow = math.Min(1e4, math.Max(grow, (last.Pred-fell)/last.Pred))
			}
			st.Mu = math.Max(grow*last.Mu/ladder[0].mu, 1e-6)
		}
	}
	if accepted {
		st.Center = &Point{Round: st.Round, Lambda: trials[win].Prices, Sum: sum, Dual: dual}
	}
	if st.Round == 0 {
		st.Ranges = sum.Range
		st.BestDual = dual
	}
	st.BestDual = math.Max(st.BestDual, dual)
	if len(st.Evals) > maxEvals {
		st.Evals = st.Evals[len(st.Evals)-maxEvals:]
	}
	if b := blend(st.Evals, sum.Keys(), sum.Scale, bounds, lim); b != nil {
		// Trust the blend only as far as its activities, recomputed from
		// the trials, hold the rows.
		if feasibility(&Point{Sum: Sum{Activity: b.Activity, Scale: sum.Scale}}, bounds, lim) <= 1 {
			candidates = append(candidates, b)
		}
	}
	for _, best := range candidates {
		if st.Best == nil || best.Objective < st.Best.Objective {
			st.Best = best
		}
	}
	c := st.Center
	residual := residual(c, bounds, lim)
	info.Accepted, info.Residual, info.Mu = accepted, residual, st.Mu
	st.Log = append(st.Log, info)
	if len(st.Log) > maxLog {
		st.Log = st.Log[len(st.Log)-maxLog:]
	}
	if why := infeasible(st.Ranges, bounds, lim); why != "" {
		return st, Decision{Outcome: Infeasible, Reason: why}, nil
	}
	gap := st.Gap()
	if st.Best != nil && gap <= lim.EpsRel {
		return st, Decision{Outcome: Optimal, Gap: gap}, nil
	}
	if st.Best != nil && !lim.Deadline.IsZero() && !time.Now().Before(lim.Deadline) {
		return st, Decision{Outcome: TimeLimit, Gap: gap}, nil
	}
	if st.Round+1 >= lim.MaxRounds {
		if st.Best != nil {
			return st, Decision{Outcome: Feasible, Gap: gap}, nil
		}
		return st, Decision{Outcome: RoundLimit, Reason: worstRow(c, bounds, lim) + " still violated"}, nil
	}
	if st.Mu == 0 {
		st.Mu = 1e-3
	}
	if st.Secant == nil {
		st.Secant = newMatrix(c.Sum.Keys())
	}
	next := make([]Trial, 0, len(ladder))
	var prices []map[Key]float64
	for _, r := range ladder {
		mu, S := st.Mu*r.mu, (*Matrix)(nil)
		if r.secant {
			S = st.Secant
		}
		lambda, pred, err := newtonStep(c, bounds, S, mu, r.stretch)
		for try := 0; errors.Is(err, ErrModel) && try < 4; try++ {
			// An ill-conditioned model: regularise it more and solve again.
			mu *= 100
			lambda, pred, err = newtonStep(c, bounds, S, mu, r.stretch)
		}
		if errors.Is(err, ErrModel) {
			continue // this rung's model is too ill-conditioned: the others go on
		}
		if err != nil {
			return st, Decision{}, err
		}
		if r == (rung{1.0 / 2, false, 1}) {
			if k := unboundedPrice(lambda, c.Sum.Price); k != "" && st.Best == nil {
				// No row's choice changes past prices this far above what
				// moves the parts' rows: the dual is unbounded, the rows
				// cannot hold together. Name the row most violated at the
				// center.
				return st, Decision{Outcome: Infeasible, Reason: fmt.Sprintf("%s cannot hold with the other coupling rows: prices grow without bound (%s)", mostViolated(c, bounds, lim), k)}, nil
			}
		}
		next = append(next, Trial{Prices: lambda, Pred: pred, Mu: mu})
		prices = append(prices, lambda)
	}
	if len(next) == 0 {
		return st, Decision{}, ErrModel
	}
	st.Round++
	st.Trials = next
	return st, Decision{Outcome: Continue, Trials: prices}, nil
}

// Gap is the relative gap between the best plan that holds the coupling
// rows and the best dual value (+Inf without such a plan).
func (st State) Gap() float64 {
	if st.Best == nil {
		return math.Inf(1)
	}
	return math.Max(st.Best.Objective-st.BestDual, 0) / math.Max(1, math.Abs(st.Best.Objective))
}

// feasibility is the worst violation of a coupling row, in tolerances.
func feasibility(p *Point, bounds Bounds, lim Limits) float64 {
	worst := 0.0
	for _, k := range p.Sum.Keys() {
		s, tol := p.Sum.Activity[k], tolerance(p, k, bounds, lim)
		l, u := bounds(k)
		worst = math.Max(worst, math.Max(math.Max(l-s, s-u), 0)/tol)
	}
	return worst
}

// support is σ(λ) = Σ_j max(λ_j u_j, λ_j l_j), the support function of [l, u].
func support(lambda map[Key]float64, bounds Bounds) float64 {
	s := 0.0
	for k, v := range lambda {
		l, u := bounds(k)
		switch {
		case v > 0:
			s += v * u
		case v < 0:
			s += v * l
		}
	}
	return s
}

// tolerance of a coupling row at a point.
func tolerance(p *Point, k Key, bounds Bounds, lim Limits) float64 {
	l, u := bounds(k)
	scale := p.Sum.Scale[k]
	for _, b := range []float64{l, u} {
		if !math.IsInf(b, 0) {
			scale = math.Max(scale, math.Abs(b))
		}
	}
	return lim.EpsAbs + lim.EpsRel*scale
}

// residual is the worst violation of a coupling row or of complementarity
// (a priced row not at its bound), in tolerances.
func residual(p *Point, bounds Bounds, lim Limits) float64 {
	worst := 0.0
	for _, k := range p.Sum.Keys() {
		worst = math.Max(worst, rowResidual(p, k, bounds, lim))
	}
	return worst
}

func rowResidual(p *Point, k Key, bounds Bounds, lim Limits) float64 {
	s, tol := p.Sum.Activity[k], tolerance(p, k, bounds, lim)
	l, u := bounds(k)
	r := math.Max(math.Max(l-s, s-u), 0)
	switch lam := p.Lambda[k]; {
	case lam > 0:
		r = math.Max(r, u-s)
	case lam < 0:
		r = math.Max(r, s-l)
	}
	return r / tol
}

// mostViolated names the coupling row furthest outside its bounds at p.
func mostViolated(p *Point, bounds Bounds, lim Limits) string {
	worst, key := -1.0, ""
	for _, k := range p.Sum.Keys() {
		s, tol := p.Sum.Activity[k], tolerance(p, k, bounds, lim)
		l, u := bounds(k)
		if v := math.Max(math.Max(l-s, s-u), 0) / tol; v > worst {
			worst, key = v, k
		}
	}
	return key
}

func worstRow(p *Point, bounds Bounds, lim Limits) string {
	worst, key := -1.0, ""
	for _, k := range p.Sum.Keys() {
		if r := rowResidual(p, k, bounds, lim); r > worst {
			worst, key = r, k
		}
	}
	return key
}

// infeasible names a coupling row that no choice within the parts' own
// bounds can satisfy.
func infeasible(ranges map[Key]Range, bounds Bounds, lim Limits) string {
	for k, r := range ranges {
		l, u := bounds(k)
		tol := lim.EpsAbs + lim.EpsRel*math.Max(math.Abs(r.Min), math.Abs(r.Max))
		if !r.NoMin && r.Min > u+tol {
			return fmt.Sprintf("%s: its least possible value %g is above its max %g", k, r.Min, u)
		}
		if !r.NoMax && r.Max < l-tol {
			return fmt.Sprintf("%s: its greatest possible value %g is below its min %g", k, r.Max, l)
		}
	}
	return ""
}

// unboundedPrice names a row whose price is far beyond the prices that
// move the parts' rows (1e9 times the largest), or "".
func unboundedPrice(lambda map[Key]float64, price map[Key]float64) Key {
	scale := 0.0
	for _, p := range price {
		scale = math.Max(scale, p)
	}
	keys := make([]Key, 0, len(lambda))
	for k := range lambda {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if v := math.Abs(lambda[k]); v > 1e9*(1+scale) || math.IsNaN(v) {
			return k
		}
	}
	return ""
}

// newtonStep maximises the regularised model of the dual around p,
//
//	m(λ) = g(λc) + sᵀ(λ−λc) − ½(λ−λc)ᵀ(M + μI)(λ−λc) − σ(λ) + σ(λc),
//
// with s the coupling activities and M the parts' curvature, as a small QP
// over the prices split by sign (λ = λ⁺ − λ⁻, σ linear in them). It returns
// the maximiser and the increase the model predicts.
func newtonStep(p *Point, bounds Bounds, S *Matrix, mu, stretch float64) (map[Key]float64, float64, error) {
	keys := p.Sum.Keys()
	m := len(keys)
	// H = B + μI, dense (m is the number of coupling rows).
	// H = M + S + μD: the parts' exact curvature at p and the secant's, regularised per row
	// (Levenberg–Marquardt with Marquardt's scaling) by D_j, the row's own
	// curvature or, where it has none, its activity per unit of the price
	// that moves the parts' rows — rows' prices differ by orders of
	// magnitude, so one scalar would shape the trust region badly.
	H := make([][]float64, m)
	for a, j := range keys {
		H[a] = make([]float64, m)
		for b, k := range keys {
			H[a][b] = p.Sum.Curvature[curvKey(j, k)] + S.at(j, k)
		}
		H[a][a] += mu * scaleOf(p, j)
	}
	lc := make([]float64, m)
	s := make([]float64, m)
	for i, k := range keys {
		lc[i], s[i] = p.Lambda[k], p.Sum.Activity[k]
	}
	// Variables: per row, λ⁺ (when u is finite) and λ⁻ (when l is finite),
	// or one free λ for an equality row. λ = B z.
	type variable struct {
		row  int
		sign float64 // +1 for λ⁺ or free, −1 for λ⁻
		cost float64 // its coefficient in σ
		free bool
	}
	var vars []variable
	for i, k := range keys {
		l, u := bounds(k)
		switch {
		case l == u:
			vars = append(vars, variable{row: i, sign: 1, cost: u, free: true})
		default:
			if !math.IsInf(u, 1) {
				vars = append(vars, variable{row: i, sign: 1, cost: u})
			}
			if !math.IsInf(l, -1) {
				vars = append(vars, variable{row: i, sign: -1, cost: -l})
			}
		}
	}
	n := len(vars)
	if n == 0 {
		return map[Key]float64{}, 0, nil
	}
	// With z the prices split by sign (λ = Bz) and w = z − z_c the step
	// from the center: minimise ½ wᵀ BᵀHB w + (costᵀ − sᵀB) w, w ≥ −z_c.
	G := make([][]float64, n)
	c := make([]float64, n)
	lo := make([]float64, n)
	zc := make([]float64, n)
	for x, vx := range vars {
		G[x] = make([]float64, n)
		for y, vy := range vars {
			G[x][y] = vx.sign * vy.sign * H[vx.row][vy.row]
		}
		c[x] = vx.cost - vx.sign*s[vx.row]
		if v := vx.sign * lc[vx.row]; vx.free || v > 0 {
			zc[x] = v
		}
		lo[x] = -zc[x]
		if vx.free {
			lo[x] = math.Inf(-1)
		}
	}
	w, ok := minimizeAbove(G, c, lo)
	if !ok {
		return nil, 0, ErrModel
	}
	lambda := make([]float64, m)
	for x, v := range vars {
		lambda[v.row] += v.sign * stretch * w[x]
	}
	for i := range lambda {
		lambda[i] += lc[i]
	}
	next := make(map[Key]float64, m)
	for i, k := range keys {
		// Keep each price in its row's domain (a stretched step may cross
		// zero): ≥ 0 for a row with only a max, ≤ 0 with only a min.
		l, u := bounds(k)
		if math.IsInf(l, -1) {
			lambda[i] = math.Max(lambda[i], 0)
		}
		if math.IsInf(u, 1) {
			lambda[i] = math.Min(lambda[i], 0)
		}
		if lambda[i] != 0 {
			next[k] = lambda[i]
		}
	}
	// predicted increase m(λ) − m(λc)
	pred := 0.0
	d := make([]float64, m)
	for i := range m {
		d[i] = lambda[i] - lc[i]
		pred += s[i] * d[i]
	}
	for a := range m {
		for b := range m {
			pred -= 0.5 * d[a] * H[a][b] * d[b]
		}
	}
	pred += support(p.Lambda, bounds) - support(next, bounds)
	return next, pred, nil
}

// scaleOf is the regularisation scale D_j of a coupling row at p.
func scaleOf(p *Point, k Key) float64 {
	d := p.Sum.Curvature[curvKey(k, k)]
	act := math.Max(p.Sum.Scale[k], 1e-12)
	if price := p.Sum.Price[k]; price > 0 {
		return d + 1e-3*act/price
	}
	return d + 1e-3*act/(1+math.Abs(p.Lambda[k]))
}

// blend finds the convex combination of the evaluated rounds that holds
// every coupling row with the least objective, or nil when no combination
// holds them. It is a small dense LP (a variable per round, a row per
// finite bound of a coupling row), solved by the simplex method in
// standard form: every bound gets its own slack, so the rows are
// independent.
func blend(evals []Eval, keys []Key, scale map[Key]float64, bounds Bounds, lim Limits) *Best {
	n := len(evals)
	type bound struct {
		key   Key
		value float64 // the bound, scaled, with the tolerance
		sign  float64 // +1: activity ≤ value; −1: activity ≥ value
		scale float64
	}
	var rows []bound
	for _, k := range keys {
		l, u := bounds(k)
		sc := scale[k]
		for _, b := range []float64{l, u} {
			if !math.IsInf(b, 0) {
				sc = math.Max(sc, math.Abs(b))
			}
		}
		sc = math.Max(sc, 1e-300)
		tol := (lim.EpsAbs + lim.EpsRel*sc) / 10 // well inside the rows' tolerance
		if !math.IsInf(u, 1) {
			rows = append(rows, bound{k, (u + tol) / sc, 1, sc})
		}
		if !math.IsInf(l, -1) {
			rows = append(rows, bound{k, (l - tol) / sc, -1, sc})
		}
	}
	m := len(rows) + 1
	A := mat.NewDense(m, n+len(rows), nil)
	b := make([]float64, m)
	for r, row := range rows {
		for c, e := range evals {
			A.Set(r, c, e.Activity[row.key]/row.scale)
		}
		A.Set(r, n+r, row.sign) // a·w + s = u, a·w − s = l
		b[r] = row.value
	}
	for c := range n {
		A.Set(len(rows), c, 1)
	}
	b[len(rows)] = 1
	cost := make([]float64, n+len(rows))
	fscale := 1.0
	for _, e := range evals {
		fscale = math.Max(fscale, math.Abs(e.Objective))
	}
	for c, e := range evals {
		cost[c] = e.Objective / fscale
	}
	_, w, err := lp.Simplex(cost, A, b, 1e-12, nil)
	if err != nil {
		// Infeasible: no combination holds the rows yet. A numerical
		// failure of the simplex leaves this round without a blend; the
		// next round has another chance.
		return nil
	}
	best := &Best{Activity: map[Key]float64{}}
	total := 0.0
	for c := range n {
		if w[c] > 1e-12 {
			total += w[c]
		}
	}
	for c, e := range evals {
		if w[c] <= 1e-12 {
			continue
		}
		v := w[c] / total
		best.Weights = append(best.Weights, Weight{Round: e.Round, Trial: e.Trial, W: v, Prices: e.Prices})
		best.Objective += v * e.Objective
		for _, k := range keys {
			best.Activity[k] += v * e.Activity[k]
		}
	}
	if len(best.Weights) == 0 {
		return nil
	}
	slices.SortStableFunc(best.Weights, func(a, b Weight) int { return cmp.Compare(b.W, a.W) })
	for _, e := range evals {
		if e.Round == best.Weights[0].Round && e.Trial == best.Weights[0].Trial {
			best.Lambda = e.Prices
		}
	}
	return best
}
