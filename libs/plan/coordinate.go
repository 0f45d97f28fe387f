package plan

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/partita/partita/libs/qp"
)

// Bounds gives a coupling row's bounds l ≤ a_jᵀx ≤ u (±Inf when open).
type Bounds func(k Key) (l, u float64)

// Limits bound the coordination.
type Limits struct {
	MaxRounds int     // rounds of re-solves before the plan is given up
	EpsRel    float64 // relative tolerance on coupling rows and on the duality gap
	EpsAbs    float64 // absolute tolerance on coupling rows
}

// DefaultLimits are the limits a job gets.
func DefaultLimits() Limits { return Limits{MaxRounds: 100, EpsRel: 1e-7, EpsAbs: 1e-9} }

// State is the coordinator's state, kept with the job between rounds.
type State struct {
	Round  int             `json:"round"`           // the round being evaluated (0: the first solve of every part)
	Trial  map[Key]float64 `json:"trial,omitempty"` // its prices (none: all zero)
	Pred   float64         `json:"pred"`            // the dual increase the model predicted for Trial
	Center *Point          `json:"center,omitempty"`
	Mu     float64         `json:"mu"` // regularisation of the Newton model
	Ranges map[Key]Range   `json:"ranges,omitempty"`
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
}

// Point is evaluated prices with the round's reports.
type Point struct {
	Round  int             `json:"round"`
	Lambda map[Key]float64 `json:"lambda,omitempty"`
	Sum    Sum             `json:"sum"`
	Dual   float64         `json:"dual"`
}

// Eval is one round's coupling activities and objective.
type Eval struct {
	Round     int             `json:"round"`
	Activity  map[Key]float64 `json:"activity,omitempty"`
	Objective float64         `json:"objective"`
}

// Best is the plan: x = Σ_k Weights[k]·x(round k), every part's decision
// blended from the same rounds. As the objective is convex and the
// coupling rows linear, the blend holds the rows its activities say
// (Activity) and its objective is at most Objective.
type Best struct {
	Weights   map[int]float64 `json:"weights"`
	Objective float64         `json:"objective"` // Σ_k w_k f(round k) ≥ f(x), minimisation sense
	Activity  map[Key]float64 `json:"activity,omitempty"`
	Lambda    map[Key]float64 `json:"lambda,omitempty"` // the prices of the round of the largest weight
}

// Rounds lists the rounds of the blend, by decreasing weight.
func (b *Best) Rounds() []int {
	rs := make([]int, 0, len(b.Weights))
	for r := range b.Weights {
		rs = append(rs, r)
	}
	slices.SortFunc(rs, func(x, y int) int {
		if b.Weights[x] != b.Weights[y] {
			return cmp.Compare(b.Weights[y], b.Weights[x])
		}
		return cmp.Compare(x, y)
	})
	return rs
}

// RoundInfo is one round, for the job's report.
type RoundInfo struct {
	Round    int     `json:"round"`
	Dual     float64 `json:"dual"`
	Residual float64 `json:"residual"` // worst coupling row violation, in tolerances
	Accepted bool    `json:"accepted"`
	Mu       float64 `json:"mu"`
}

const maxLog = 200

// maxEvals bounds the rounds a plan may blend.
const maxEvals = 64

// Outcome is what the coordinator decided after a round.
type Outcome string

// Outcomes.
const (
	Continue   Outcome = "continue"    // re-solve the parts at Decision.Prices
	Optimal    Outcome = "optimal"     // Best is the job's optimum (gap within tolerance)
	Feasible   Outcome = "feasible"    // Best holds every row; the gap is over tolerance at the round limit
	Infeasible Outcome = "infeasible"  // the coupling rows cannot all hold
	RoundLimit Outcome = "round_limit" // MaxRounds without convergence
)

// Decision is the outcome of a round.
type Decision struct {
	Outcome Outcome
	Prices  map[Key]float64 // with Continue: the next round's prices
	Gap     float64         // relative gap between Best's objective and the best dual value
	Reason  string          // with Infeasible: which row and why
}

// ErrModel is returned when the Newton model cannot be solved.
var ErrModel = errors.New("plan: the coordination model could not be solved")

// Step takes the reports of the round just completed and decides: the plan
// is optimal, infeasible, out of rounds, or the next prices to evaluate.
func Step(ctx context.Context, st State, sum Sum, bounds Bounds, lim Limits) (State, Decision, error) {
	dual := sum.Lagrangian - support(st.Trial, bounds)
	info := RoundInfo{Round: st.Round, Dual: dual}
	if st.Center != nil && st.Secant != nil {
		st.Secant.updateResidual(st.Center, st.Trial, sum.Activity)
	}
	accepted := st.Center == nil
	if !accepted {
		actual := dual - st.Center.Dual
		noise := 1e-12 * (1 + math.Abs(dual))
		accepted = actual >= 0.1*st.Pred-noise || (st.Pred <= noise && actual >= -noise)
		switch {
		case accepted && actual >= 0.75*st.Pred:
			st.Mu /= 8
		case !accepted:
			st.Mu = math.Max(8*st.Mu, 1e-6)
		}
	}
	if accepted {
		st.Center = &Point{Round: st.Round, Lambda: st.Trial, Sum: sum, Dual: dual}
	}
	if st.Round == 0 {
		st.Ranges = sum.Range
		st.BestDual = dual
	}
	st.BestDual = math.Max(st.BestDual, dual)
	st.Evals = append(st.Evals, Eval{Round: st.Round, Activity: sum.Activity, Objective: sum.Objective})
	if len(st.Evals) > maxEvals {
		st.Evals = st.Evals[len(st.Evals)-maxEvals:]
	}
	candidates := []*Best{}
	if evaluated := (&Point{Sum: sum}); feasibility(evaluated, bounds, lim) <= 1 {
		// This round alone holds the rows.
		candidates = append(candidates, &Best{Weights: map[int]float64{st.Round: 1}, Objective: sum.Objective, Activity: sum.Activity})
	}
	if b, err := blend(ctx, st.Evals, sum.Keys(), sum.Scale, bounds, lim); err != nil {
		return st, Decision{}, err
	} else if b != nil {
		candidates = append(candidates, b)
	}
	for _, best := range candidates {
		if st.Best != nil && best.Objective >= st.Best.Objective {
			continue
		}
		lambdas := map[int]map[Key]float64{st.Round: st.Trial}
		if st.Center != nil {
			lambdas[st.Center.Round] = st.Center.Lambda
		}
		best.Lambda = lambdas[best.Rounds()[0]]
		if best.Lambda == nil && st.Best != nil {
			best.Lambda = st.Best.Lambda
		}
		st.Best = best
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
	next, pred, err := newtonStep(ctx, c, bounds, st.Secant, st.Mu)
	for try := 0; errors.Is(err, ErrModel) && try < 4; try++ {
		// An ill-conditioned model: regularise it more and solve again.
		st.Mu *= 100
		next, pred, err = newtonStep(ctx, c, bounds, st.Secant, st.Mu)
	}
	if err != nil {
		return st, Decision{}, err
	}
	if k := unboundedPrice(next, c.Sum.Price); k != "" && st.Best == nil {
		// No row's choice changes past prices this far above what moves
		// the parts' rows: the dual is unbounded, the rows cannot hold
		// together. Name the row most violated at the center.
		return st, Decision{Outcome: Infeasible, Reason: fmt.Sprintf("%s cannot hold with the other coupling rows: prices grow without bound (%s)", mostViolated(c, bounds, lim), k)}, nil
	}
	st.Round++
	st.Trial, st.Pred = next, pred
	return st, Decision{Outcome: Continue, Prices: next}, nil
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
func newtonStep(ctx context.Context, p *Point, bounds Bounds, S *Matrix, mu float64) (map[Key]float64, float64, error) {
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
	// minimise ½ zᵀ BᵀHB z − (Bᵀ(Hλc + s))ᵀ z + costᵀ z
	hl := make([]float64, m)
	for a := range m {
		for b := range m {
			hl[a] += H[a][b] * lc[b]
		}
	}
	pt := qp.NewTriplets(n, n)
	q := make([]float64, n)
	for x, vx := range vars {
		for y := x; y < n; y++ {
			vy := vars[y]
			if h := vx.sign * vy.sign * H[vx.row][vy.row]; h != 0 {
				pt.Add(x, y, h)
			}
		}
		q[x] = -vx.sign*(hl[vx.row]+s[vx.row]) + vx.cost
	}
	P, err := pt.CSC()
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrModel, err)
	}
	at := qp.NewTriplets(n, n)
	lo, hi := make([]float64, n), make([]float64, n)
	for x, v := range vars {
		at.Add(x, x, 1)
		lo[x], hi[x] = 0, math.Inf(1)
		if v.free {
			lo[x] = math.Inf(-1)
		}
	}
	A, err := at.CSC()
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrModel, err)
	}
	// The step need not maximise the model exactly: its value is measured
	// by the next round, and pred is the model's value where it lands.
	set := qp.DefaultSettings()
	set.EpsAbs, set.EpsRel, set.MaxIter = 1e-9, 1e-9, 20000
	res, err := qp.Solve(ctx, &qp.Problem{P: P, Q: q, A: A, L: lo, U: hi}, set)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrModel, err)
	}
	if res.Status != qp.StatusOptimal && res.Status != qp.StatusMaxIter {
		return nil, 0, fmt.Errorf("%w: %s after %d iterations", ErrModel, res.Status, res.Iterations)
	}
	lambda := make([]float64, m)
	for x, v := range vars {
		lambda[v.row] += v.sign * res.X[x]
	}
	next := make(map[Key]float64, m)
	for i, k := range keys {
		// Keep each price in its row's domain (the QP's iterate may cross
		// zero by rounding): ≥ 0 for a row with only a max, ≤ 0 with only a min.
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
// every coupling row with the least objective (a small LP), or nil when no
// combination holds them.
func blend(ctx context.Context, evals []Eval, keys []Key, scale map[Key]float64, bounds Bounds, lim Limits) (*Best, error) {
	n := len(evals)
	at := qp.NewTriplets(len(keys)+1+n, n)
	var lo, hi []float64
	for r, k := range keys {
		l, u := bounds(k)
		sc := scale[k]
		for _, b := range []float64{l, u} {
			if !math.IsInf(b, 0) {
				sc = math.Max(sc, math.Abs(b))
			}
		}
		tol := (lim.EpsAbs + lim.EpsRel*sc) / 10 // well inside the rows' tolerance
		for c, e := range evals {
			if v := e.Activity[k]; v != 0 {
				at.Add(r, c, v)
			}
		}
		lo, hi = append(lo, l-tol), append(hi, u+tol)
	}
	for c := range n {
		at.Add(len(keys), c, 1)
		at.Add(len(keys)+1+c, c, 1)
	}
	lo, hi = append(lo, 1), append(hi, 1)
	for range n {
		lo, hi = append(lo, 0), append(hi, 1)
	}
	A, err := at.CSC()
	if err != nil {
		return nil, err
	}
	P, err := qp.NewTriplets(n, n).CSC()
	if err != nil {
		return nil, err
	}
	q := make([]float64, n)
	fscale := 1.0
	for _, e := range evals {
		fscale = math.Max(fscale, math.Abs(e.Objective))
	}
	for c, e := range evals {
		q[c] = e.Objective / fscale
	}
	set := qp.DefaultSettings()
	set.EpsAbs, set.EpsRel, set.MaxIter = 1e-11, 1e-11, 100000
	res, err := qp.Solve(ctx, &qp.Problem{P: P, Q: q, A: A, L: lo, U: hi}, set)
	if err != nil {
		return nil, fmt.Errorf("%w: blend: %v", ErrModel, err)
	}
	if res.Status != qp.StatusOptimal {
		return nil, nil // no combination holds the rows (yet)
	}
	b := &Best{Weights: map[int]float64{}, Activity: map[Key]float64{}}
	total := 0.0
	for c, w := range res.X {
		if w > 1e-12 {
			b.Weights[evals[c].Round] = w
			total += w
		}
	}
	for r, w := range b.Weights {
		b.Weights[r] = w / total
	}
	for _, e := range evals {
		w := b.Weights[e.Round]
		if w == 0 {
			continue
		}
		b.Objective += w * e.Objective
		for _, k := range keys {
			b.Activity[k] += w * e.Activity[k]
		}
	}
	return b, nil
}
