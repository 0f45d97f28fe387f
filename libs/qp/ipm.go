package qp

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// Constants of the interior-point method.
const (
	// The factorised Newton matrix has ipmPrimalReg added to the diagonal
	// of P and ipmDualReg to every entry of D; refinement against the
	// exact matrix removes them. The dual one must be tiny: chains of
	// difference constraints (LISWET, YAO, POWELL20) make the Schur
	// complement A(P+ρI)⁻¹Aᵀ + D have eigenvalues near 1e-15 on the
	// active rows, and a larger ipmDualReg (1e-8 or 1e-10) swamps them:
	// refinement then stalls and the method stops at points that are
	// feasible only to 1e-7 per row, far from the optimum. Pivots that
	// come out too small are caught by the dynamic regularisation.
	ipmPrimalReg = 1e-8
	ipmDualReg   = 1e-14
	// Pivots of the wrong sign or smaller than ipmDynEps become
	// ±ipmDynDelta during the factorisation.
	ipmDynEps   = 1e-13
	ipmDynDelta = 2e-7
	// ipmFreeD is the D entry of a row without finite bounds: its dual
	// stays zero.
	ipmFreeD = 1e8
	// ipmStepFrac is the fraction of the longest feasible step taken.
	ipmStepFrac = 0.99
	// Iterative refinement of every Newton solve: at most ipmRefineMax
	// steps, until the residual is ipmRefineTol relative to the right-hand
	// side.
	ipmRefineMax = 10
	ipmRefineTol = 1e-14
	// ipmStallSteps consecutive steps shorter than ipmTinyStep end the
	// method without a solution (an infeasible or unbounded problem, or
	// numerical trouble).
	ipmStallSteps = 5
	ipmTinyStep   = 1e-8
	// ipmExtraIter is the number of iterations run after the tolerances
	// are met, while polishing has not succeeded.
	ipmExtraIter = 5
	// ipmPolishFrom is how far (as a ratio to the tolerances) the
	// residuals may be when polishing is first tried.
	ipmPolishFrom = 1e4
	// ipmExpectedIter is the iteration count assumed when MethodAuto
	// compares the cost of ADMM iterations with that of the
	// interior-point method.
	ipmExpectedIter = 30
	// ipmMinSwitch is the fewest ADMM iterations MethodAuto runs before it
	// switches.
	ipmMinSwitch = 200
)

// Row kinds of the interior-point method.
const (
	ipmInequality int8 = iota // one or two finite sides, l < u
	ipmEquality               // l = u
	ipmFree                   // no finite side
)

// ipm is Mehrotra's primal–dual predictor–corrector interior-point method
// with Gondzio's centrality correctors, on the scaled problem of a Solver,
// with the constraints written as
//
//	Ax − s_l = l,  Ax + s_u = u,  s_l, s_u ≥ 0   (finite sides only)
//
// and the duals z_l, z_u ≥ 0 of the slacks, so that y = z_u − z_l is the
// dual of a row in the sign convention of Result.Y (equality rows have a
// free y). Eliminating the slacks and their duals leaves the Newton system
//
//	[ P     Aᵀ ] [Δx]   [ r₁ ]
//	[ A    −D  ] [Δy] = [ r₂ ]      D = 1/(z_l/s_l + z_u/s_u), 0 for equalities,
//
// which has the pattern of the ADMM system and is factorised on its
// symbolic analysis (with static and dynamic regularisation, removed by
// iterative refinement against the exact matrix).
type ipm struct {
	s    *Solver
	n, m int

	kind           []int8
	lo, hi         []bool // finite lower/upper side of an inequality row
	sides          int    // number of finite sides (slack pairs)
	x, y           []float64
	sl, zl, su, zu []float64
	d, negD        []float64
	kkt            *kktSystem

	// Residuals of the current point.
	ax, px, aty  []float64
	rd, rpl, rpu []float64
	mu           float64
	rcl, rcu     []float64 // complementarity residuals of the direction being solved
	zeroN        []float64
	zeroM        []float64
	sdx, sdy     []float64 // a saved direction (for the correctors)
	sdsl, sdzl   []float64
	sdsu, sdzu   []float64
	dx, dy       []float64
	dsl, dzl     []float64
	dsu, dzu     []float64
	rhs, sol     []float64
	corr, work   []float64
	adx          []float64

	bestX, bestY, bestAx []float64

	guess, prevGuess, tried []int8
	haveTried, havePrev     bool
}

// ipmOutcome is how a run of the interior-point method ended.
type ipmOutcome struct {
	optimal, polished, timeLimit bool
	iterations                   int
}

func newIPM(s *Solver) *ipm {
	n, m := s.n, s.m
	vec := func(k int) []float64 { return make([]float64, k) }
	p := &ipm{
		s: s, n: n, m: m,
		kind: make([]int8, m), lo: make([]bool, m), hi: make([]bool, m),
		x: vec(n), y: vec(m),
		sl: vec(m), zl: vec(m), su: vec(m), zu: vec(m),
		d: vec(m), negD: vec(m),
		ax: vec(m), px: vec(n), aty: vec(n),
		rd: vec(n), rpl: vec(m), rpu: vec(m),
		rcl: vec(m), rcu: vec(m), zeroN: vec(n), zeroM: vec(m),
		sdx: vec(n), sdy: vec(m), sdsl: vec(m), sdzl: vec(m), sdsu: vec(m), sdzu: vec(m),
		dx: vec(n), dy: vec(m),
		dsl: vec(m), dzl: vec(m), dsu: vec(m), dzu: vec(m),
		rhs: vec(n + m), sol: vec(n + m), corr: vec(n + m), work: vec(n + m),
		adx:   vec(m),
		guess: make([]int8, m), prevGuess: make([]int8, m), tried: make([]int8, m),
	}
	for i := 0; i < m; i++ {
		l, u := s.l[i], s.u[i]
		switch {
		case l == u:
			p.kind[i] = ipmEquality
		case math.IsInf(l, -1) && math.IsInf(u, 1):
			p.kind[i] = ipmFree
		default:
			p.kind[i] = ipmInequality
			p.lo[i] = !math.IsInf(l, -1)
			p.hi[i] = !math.IsInf(u, 1)
			if p.lo[i] {
				p.sides++
			}
			if p.hi[i] {
				p.sides++
			}
		}
	}
	return p
}

// run solves the problem from its own starting point. On success the
// solver's iterate holds the solution (polished when possible).
func (p *ipm) run(ctx context.Context, deadline time.Time, hasDeadline bool) (ipmOutcome, error) {
	var out ipmOutcome
	if err := p.start(); err != nil {
		return out, nil // a singular system: the method gives up
	}
	st := p.s.settings
	stalls := 0
	convergedAt := -1
	for it := 0; it <= st.IPMMaxIter; it++ {
		if err := ctx.Err(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return out, fmt.Errorf("qp interior-point method interrupted after %d iterations: %w", it, err)
		}
		if hasDeadline && !time.Now().Before(deadline) {
			out.timeLimit = true
			break
		}
		p.computeResiduals()
		worst := p.progress()
		converged := worst <= 1
		if converged {
			if convergedAt < 0 {
				convergedAt = it
			}
			p.saveBest()
		}
		if st.Polish && worst <= ipmPolishFrom && p.tryPolish(converged) {
			out.optimal, out.polished = true, true
			return out, nil
		}
		// Once converged, a few more iterations sharpen the active set
		// for polishing; without polishing the point is final.
		if converged && (!st.Polish || it-convergedAt >= ipmExtraIter) {
			break
		}
		if it == st.IPMMaxIter || stalls >= ipmStallSteps || !p.finite() {
			break
		}
		out.iterations = it + 1
		alpha, err := p.step()
		if err != nil {
			break // a singular system: the method gives up
		}
		if alpha < ipmTinyStep {
			stalls++
		} else {
			stalls = 0
		}
	}
	if convergedAt >= 0 {
		p.acceptBest()
		out.optimal, out.timeLimit = true, false
	}
	return out, nil
}

// start factorises the system of the starting point and sets x, the
// slacks and the duals (the heuristic of CVXOPT's coneqp: the least-squares
// point of the constraints, slacks and duals shifted to be positive).
func (p *ipm) start() error {
	s := p.s
	n := p.n
	for i := 0; i < p.m; i++ {
		switch p.kind[i] {
		case ipmEquality:
			p.d[i] = 0
		case ipmFree:
			p.d[i] = ipmFreeD
		default:
			k := 0.0
			if p.lo[i] {
				k++
			}
			if p.hi[i] {
				k++
			}
			p.d[i] = 1 / k
		}
	}
	if err := p.factor(); err != nil {
		return err
	}
	for j := 0; j < n; j++ {
		p.rhs[j] = -s.q[j]
	}
	for i := 0; i < p.m; i++ {
		var t float64
		switch {
		case p.kind[i] == ipmEquality:
			t = s.l[i]
		case p.lo[i] && p.hi[i]:
			t = (s.l[i] + s.u[i]) / 2
		case p.lo[i]:
			t = s.l[i]
		case p.hi[i]:
			t = s.u[i]
		}
		p.rhs[n+i] = t
	}
	p.solveNewton()
	copy(p.x, p.sol[:n])
	s.a.mulVec(p.ax, p.x)
	ts, tz, nrm := math.Inf(-1), math.Inf(-1), 0.0
	for i := 0; i < p.m; i++ {
		if p.lo[i] {
			v := p.ax[i] - s.l[i]
			p.sl[i] = v
			ts, tz, nrm = math.Max(ts, -v), math.Max(tz, v), nrm+v*v
		}
		if p.hi[i] {
			v := s.u[i] - p.ax[i]
			p.su[i] = v
			ts, tz, nrm = math.Max(ts, -v), math.Max(tz, v), nrm+v*v
		}
	}
	floor := -1e-8 * math.Max(math.Sqrt(nrm), 1)
	shiftS, shiftZ := 0.0, 0.0
	if ts >= floor {
		shiftS = 1 + ts
	}
	if tz >= floor {
		shiftZ = 1 + tz
	}
	for i := 0; i < p.m; i++ {
		p.y[i] = 0
		switch p.kind[i] {
		case ipmEquality:
			p.y[i] = p.sol[n+i]
			continue
		case ipmFree:
			continue
		}
		if p.lo[i] {
			p.zl[i] = -p.sl[i] + shiftZ
			p.sl[i] += shiftS
		}
		if p.hi[i] {
			p.zu[i] = -p.su[i] + shiftZ
			p.su[i] += shiftS
		}
		p.y[i] = p.zu[i] - p.zl[i]
	}
	return nil
}

// factor factorises the Newton matrix for the current D (an error only
// for a pivot that is NaN or infinite).
func (p *ipm) factor() error {
	for i, v := range p.d {
		p.negD[i] = -(v + ipmDualReg)
	}
	if p.kkt == nil {
		k, err := p.s.kkt.withSignedDiagonal(ipmPrimalReg, p.negD, ipmDynEps, ipmDynDelta)
		if err != nil {
			return fmt.Errorf("qp interior-point method: %w", err)
		}
		p.kkt = k
		return nil
	}
	if err := p.kkt.setDiagonal(ipmPrimalReg, p.negD); err != nil {
		return fmt.Errorf("qp interior-point method: %w", err)
	}
	return nil
}

// solveNewton sets sol to the solution of the exact Newton system with
// right-hand side rhs, by the regularised factorisation and iterative
// refinement.
func (p *ipm) solveNewton() {
	copy(p.sol, p.rhs)
	p.kkt.solve(p.sol)
	bound := ipmRefineTol * (1 + normInf(p.rhs))
	for it := 0; it < ipmRefineMax; it++ {
		p.exactProduct(p.corr, p.sol)
		var worst float64
		for k := range p.corr {
			p.corr[k] = p.rhs[k] - p.corr[k]
			worst = math.Max(worst, math.Abs(p.corr[k]))
		}
		if worst <= bound || math.IsNaN(worst) {
			return
		}
		p.kkt.solve(p.corr)
		for k := range p.sol {
			p.sol[k] += p.corr[k]
		}
	}
}

// exactProduct sets out = K·v for the unregularised Newton matrix.
func (p *ipm) exactProduct(out, v []float64) {
	s := p.s
	n := p.n
	vx, vy := v[:n], v[n:]
	s.p.symMulVec(out[:n], vx)
	s.a.mulTransVec(p.work[:n], vy)
	for j := 0; j < n; j++ {
		out[j] += p.work[j]
	}
	s.a.mulVec(out[n:], vx)
	for i := 0; i < p.m; i++ {
		out[n+i] -= p.d[i] * vy[i]
	}
}

// computeResiduals sets Ax, Px, Aᵀy, the residuals and μ.
func (p *ipm) computeResiduals() {
	s := p.s
	s.a.mulVec(p.ax, p.x)
	s.p.symMulVec(p.px, p.x)
	s.a.mulTransVec(p.aty, p.y)
	for j := 0; j < p.n; j++ {
		p.rd[j] = p.px[j] + s.q[j] + p.aty[j]
	}
	var comp float64
	for i := 0; i < p.m; i++ {
		p.rpl[i], p.rpu[i] = 0, 0
		switch p.kind[i] {
		case ipmEquality:
			p.rpl[i] = p.ax[i] - s.l[i]
			continue
		case ipmFree:
			continue
		}
		if p.lo[i] {
			p.rpl[i] = p.ax[i] - p.sl[i] - s.l[i]
			comp += p.sl[i] * p.zl[i]
		}
		if p.hi[i] {
			p.rpu[i] = p.ax[i] + p.su[i] - s.u[i]
			comp += p.su[i] * p.zu[i]
		}
	}
	p.mu = 0
	if p.sides > 0 {
		p.mu = comp / float64(p.sides)
	}
}

// finite reports whether the iterate has no NaN or infinite entry.
func (p *ipm) finite() bool {
	return !math.IsNaN(p.mu) && !math.IsInf(p.mu, 0) && !math.IsNaN(normInf(p.x)) && !math.IsInf(normInf(p.x), 0)
}

// progress applies the termination test of ADMM (see residuals) to x and
// y, with z the projection of Ax on [l, u], and returns the largest ratio
// of a residual or the duality gap to its tolerance: the point is optimal
// when that is at most 1.
func (p *ipm) progress() float64 {
	p.loadIterate()
	r := p.s.residuals()
	if !r.primSatisfied || !r.dualSatisfied || !r.gapSatisfied {
		return math.Max(r.worst, 1+1e-9) // as the tests decide, whatever the rounding
	}
	return r.worst
}

// loadIterate copies x and y into the solver's iterate, z the projection
// of Ax on the bounds.
func (p *ipm) loadIterate() {
	s := p.s
	copy(s.x, p.x)
	copy(s.y, p.y)
	for i := range s.z {
		s.z[i] = clamp(p.ax[i], s.l[i], s.u[i])
	}
}

// saveBest keeps the current (converged) point.
func (p *ipm) saveBest() {
	p.bestX = append(p.bestX[:0], p.x...)
	p.bestY = append(p.bestY[:0], p.y...)
	p.bestAx = append(p.bestAx[:0], p.ax...)
}

// acceptBest makes the last converged point the solver's iterate.
func (p *ipm) acceptBest() {
	copy(p.x, p.bestX)
	copy(p.y, p.bestY)
	copy(p.ax, p.bestAx)
	p.loadIterate()
}

// tryPolish polishes the active set that the interior point suggests (a
// side is active when its dual exceeds its slack) once the guess is the
// same at two consecutive iterations, or when the method has converged,
// and not twice for the same guess. It reports whether a polished point met
// the tolerances and became the solver's iterate.
func (p *ipm) tryPolish(converged bool) bool {
	for i := 0; i < p.m; i++ {
		g := notActive
		switch p.kind[i] {
		case ipmEquality:
			g = activeBoth
		case ipmInequality:
			lower := p.lo[i] && p.zl[i] > p.sl[i]
			upper := p.hi[i] && p.zu[i] > p.su[i]
			switch {
			case lower && upper:
				if p.zl[i]*p.su[i] >= p.zu[i]*p.sl[i] {
					g = activeLower
				} else {
					g = activeUpper
				}
			case lower:
				g = activeLower
			case upper:
				g = activeUpper
			}
		}
		p.guess[i] = g
	}
	stable := p.havePrev && equalSides(p.guess, p.prevGuess)
	copy(p.prevGuess, p.guess)
	p.havePrev = true
	if !stable && !converged {
		return false
	}
	if p.haveTried && equalSides(p.guess, p.tried) {
		return false
	}
	p.haveTried = true
	copy(p.tried, p.guess)
	s := p.s
	copy(s.sides, p.guess)
	pt := s.polishWithCorrections(s.sides)
	if pt == nil || !pt.meetsTolerances {
		return false
	}
	s.accept(pt)
	return true
}

// step computes Mehrotra's predictor and corrector directions, improves
// the corrector with Gondzio's centrality correctors while they lengthen
// the step, moves along it and returns the step length.
func (p *ipm) step() (float64, error) {
	for i := 0; i < p.m; i++ {
		switch p.kind[i] {
		case ipmEquality, ipmFree:
			continue
		}
		var w float64
		if p.lo[i] {
			w += p.zl[i] / p.sl[i]
		}
		if p.hi[i] {
			w += p.zu[i] / p.su[i]
		}
		p.d[i] = 1 / w
	}
	if err := p.factor(); err != nil {
		return 0, err
	}
	// Predictor (affine scaling) direction: s∘z → 0.
	for i := 0; i < p.m; i++ {
		p.rcl[i] = p.sl[i] * p.zl[i]
		p.rcu[i] = p.su[i] * p.zu[i]
	}
	p.direction(true)
	sigma := 0.0
	if p.sides > 0 && p.mu > 0 {
		alpha := math.Min(1, p.maxStep())
		ratio := math.Max(p.trialComplementarity(alpha), 0) / p.mu
		sigma = math.Min(ratio*ratio*ratio, 1)
	}
	// Combined centring–corrector direction: s∘z → σμ, with Mehrotra's
	// second-order term.
	target := sigma * p.mu
	for i := 0; i < p.m; i++ {
		p.rcl[i] = p.sl[i]*p.zl[i] - target + p.dsl[i]*p.dzl[i]
		p.rcu[i] = p.su[i]*p.zu[i] - target + p.dsu[i]*p.dzu[i]
	}
	p.direction(true)
	alpha := math.Min(1, ipmStepFrac*p.maxStep())
	if p.sides > 0 {
		alpha = p.centralityCorrectors(alpha, target)
	}
	for j := range p.x {
		p.x[j] += alpha * p.dx[j]
	}
	for i := 0; i < p.m; i++ {
		switch p.kind[i] {
		case ipmEquality:
			p.y[i] += alpha * p.dy[i]
			continue
		case ipmFree:
			continue
		}
		if p.lo[i] {
			p.sl[i] += alpha * p.dsl[i]
			p.zl[i] += alpha * p.dzl[i]
		}
		if p.hi[i] {
			p.su[i] += alpha * p.dsu[i]
			p.zu[i] += alpha * p.dzu[i]
		}
		p.y[i] = p.zu[i] - p.zl[i]
	}
	return alpha, nil
}

// trialComplementarity returns the mean of s∘z after a step alpha along
// the current direction.
func (p *ipm) trialComplementarity(alpha float64) float64 {
	var comp float64
	for i := 0; i < p.m; i++ {
		if p.lo[i] {
			comp += (p.sl[i] + alpha*p.dsl[i]) * (p.zl[i] + alpha*p.dzl[i])
		}
		if p.hi[i] {
			comp += (p.su[i] + alpha*p.dsu[i]) * (p.zu[i] + alpha*p.dzu[i])
		}
	}
	return comp / float64(p.sides)
}

// Gondzio's multiple centrality correctors (J. Gondzio, "Multiple
// centrality corrections in a primal-dual method for linear programming",
// Comput. Optim. Appl. 6, 1996; parameters of Colombo and Gondzio 2008).
const (
	gondzioMax     = 3    // correctors per iteration
	gondzioBetaMin = 0.1  // products below βmin·σμ are pushed up,
	gondzioBetaMax = 10   // above βmax·σμ down
	gondzioEnlarge = 1.5  // the trial step is this times the current one
	gondzioAccept  = 1.01 // a corrector is kept when it lengthens the step this much
)

// centralityCorrectors adds Gondzio correctors to the current direction
// while each one lengthens the step, and returns the final step length.
// A corrector asks the Newton system (with zero residuals) to move the
// products s∘z of a longer trial step into [βmin·σμ, βmax·σμ].
func (p *ipm) centralityCorrectors(alpha, target float64) float64 {
	if target <= 0 {
		target = 0.1 * p.mu
	}
	lo, hi := gondzioBetaMin*target, gondzioBetaMax*target
	for k := 0; k < gondzioMax && alpha < 1; k++ {
		trial := math.Min(1, gondzioEnlarge*alpha+0.1)
		p.saveDirection()
		for i := 0; i < p.m; i++ {
			p.rcl[i], p.rcu[i] = 0, 0
			if p.lo[i] {
				p.rcl[i] = -gondzioTarget((p.sl[i]+trial*p.dsl[i])*(p.zl[i]+trial*p.dzl[i]), lo, hi)
			}
			if p.hi[i] {
				p.rcu[i] = -gondzioTarget((p.su[i]+trial*p.dsu[i])*(p.zu[i]+trial*p.dzu[i]), lo, hi)
			}
		}
		p.direction(false)
		p.addSavedDirection()
		next := math.Min(1, ipmStepFrac*p.maxStep())
		if next < gondzioAccept*alpha {
			p.restoreDirection()
			break
		}
		alpha = next
	}
	return alpha
}

// gondzioTarget returns the change that moves the product v into
// [lo, hi], and no further down than −hi.
func gondzioTarget(v, lo, hi float64) float64 {
	switch {
	case v < lo:
		return lo - v
	case v > hi:
		return math.Max(hi-v, -hi)
	}
	return 0
}

func (p *ipm) saveDirection() {
	copy(p.sdx, p.dx)
	copy(p.sdy, p.dy)
	copy(p.sdsl, p.dsl)
	copy(p.sdzl, p.dzl)
	copy(p.sdsu, p.dsu)
	copy(p.sdzu, p.dzu)
}

func (p *ipm) restoreDirection() {
	copy(p.dx, p.sdx)
	copy(p.dy, p.sdy)
	copy(p.dsl, p.sdsl)
	copy(p.dzl, p.sdzl)
	copy(p.dsu, p.sdsu)
	copy(p.dzu, p.sdzu)
}

// addSavedDirection adds the saved direction to the current one.
func (p *ipm) addSavedDirection() {
	add := func(dst, src []float64) {
		for k := range dst {
			dst[k] += src[k]
		}
	}
	add(p.dx, p.sdx)
	add(p.dy, p.sdy)
	add(p.dsl, p.sdsl)
	add(p.dzl, p.sdzl)
	add(p.dsu, p.sdsu)
	add(p.dzu, p.sdzu)
}

// direction solves the Newton system for the complementarity residuals
// rcl, rcu (the step is to satisfy z∘Δs + s∘Δz = −rc on every side) and,
// when withResiduals, the primal and dual residuals of the iterate (zero
// otherwise), and sets dx, dy and the slack and dual steps.
func (p *ipm) direction(withResiduals bool) {
	s := p.s
	n := p.n
	rd, rpl, rpu := p.rd, p.rpl, p.rpu
	if !withResiduals {
		rd, rpl, rpu = p.zeroN, p.zeroM, p.zeroM
	}
	for j := 0; j < n; j++ {
		p.rhs[j] = -rd[j]
	}
	for i := 0; i < p.m; i++ {
		switch p.kind[i] {
		case ipmEquality:
			p.rhs[n+i] = -rpl[i]
			continue
		case ipmFree:
			p.rhs[n+i] = 0
			continue
		}
		var g float64
		if p.lo[i] {
			g += (p.rcl[i] + p.zl[i]*rpl[i]) / p.sl[i]
		}
		if p.hi[i] {
			g += (-p.rcu[i] + p.zu[i]*rpu[i]) / p.su[i]
		}
		p.rhs[n+i] = -g * p.d[i]
	}
	p.solveNewton()
	copy(p.dx, p.sol[:n])
	s.a.mulVec(p.adx, p.dx)
	for i := 0; i < p.m; i++ {
		p.dsl[i], p.dzl[i], p.dsu[i], p.dzu[i] = 0, 0, 0, 0
		switch p.kind[i] {
		case ipmEquality:
			p.dy[i] = p.sol[n+i]
			continue
		case ipmFree:
			p.dy[i] = 0
			continue
		}
		// A side whose dual exceeds its slack (heading for active) takes
		// its dual step from the solved Δy and its slack step from the
		// complementarity equation: Δz = W·AΔx + … would multiply the
		// rounding error of AΔx by W = z/s, which grows without bound.
		lowerActive := p.lo[i] && p.zl[i] > p.sl[i]
		upperActive := p.hi[i] && p.zu[i] > p.su[i]
		if lowerActive && upperActive {
			lowerActive, upperActive = false, false
		}
		if p.lo[i] && !lowerActive {
			p.dsl[i] = p.adx[i] + rpl[i]
			p.dzl[i] = (-p.rcl[i] - p.zl[i]*p.dsl[i]) / p.sl[i]
		}
		if p.hi[i] && !upperActive {
			p.dsu[i] = -p.adx[i] - rpu[i]
			p.dzu[i] = (-p.rcu[i] - p.zu[i]*p.dsu[i]) / p.su[i]
		}
		dy := p.sol[n+i]
		switch {
		case lowerActive:
			p.dzl[i] = p.dzu[i] - dy
			p.dsl[i] = (-p.rcl[i] - p.sl[i]*p.dzl[i]) / p.zl[i]
		case upperActive:
			p.dzu[i] = dy + p.dzl[i]
			p.dsu[i] = (-p.rcu[i] - p.su[i]*p.dzu[i]) / p.zu[i]
		}
		p.dy[i] = p.dzu[i] - p.dzl[i]
	}
}

// maxStep returns the longest step in [0, 1/ipmStepFrac] along the
// current direction that keeps every slack and dual non-negative.
func (p *ipm) maxStep() float64 {
	alpha := 1 / ipmStepFrac
	limit := func(v, dv float64) {
		if dv < 0 {
			alpha = math.Min(alpha, -v/dv)
		}
	}
	for i := 0; i < p.m; i++ {
		if p.lo[i] {
			limit(p.sl[i], p.dsl[i])
			limit(p.zl[i], p.dzl[i])
		}
		if p.hi[i] {
			limit(p.su[i], p.dsu[i])
			limit(p.zu[i], p.dzu[i])
		}
	}
	return alpha
}

// ipmSwitchIteration returns the ADMM iteration after which MethodAuto
// runs the interior-point method: when the ADMM iterations have cost about
// what ipmExpectedIter interior-point iterations are estimated to (from
// the flop counts of a factorisation, a solve and the matrix products),
// but not before ipmMinSwitch iterations.
func (s *Solver) ipmSwitchIteration() int {
	factor, solve := s.kkt.factor.flops()
	size := float64(s.n + s.m)
	products := 2*float64(s.a.NNZ()) + 2*float64(s.p.NNZ()) + size
	admm := solve + products/float64(s.settings.CheckInterval) + 10*size
	ipmIter := factor + 2*(ipmRefineMax/4+1)*(solve+products) + 40*size
	k := ipmExpectedIter * ipmIter / admm
	if k > float64(s.settings.MaxIter) {
		return s.settings.MaxIter
	}
	return max(ipmMinSwitch, int(k))
}
