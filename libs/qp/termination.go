package qp

import "math"

// residuals of the current iterate, in the scaled problem (used to adapt ρ)
// and unscaled (used for termination).
//
// The dual criterion is the paper's: ‖Px+q+Aᵀy‖∞ ≤ eps_abs + eps_rel·
// max(‖Px‖∞, ‖Aᵀy‖∞, ‖q‖∞). The primal criterion is applied row by row,
// |(Ax)ᵢ − zᵢ| ≤ eps_abs + eps_rel·max(|(Ax)ᵢ|, |zᵢ|), which implies the
// paper's ‖Ax−z‖∞ ≤ eps_abs + eps_rel·max(‖Ax‖∞, ‖z‖∞) and keeps a row
// with large coefficients (a budget) from loosening the tolerance on the
// others (variable bounds).
//
// A third criterion bounds the duality gap (see dualityGap): without it a
// point can pass both residual tests while its objective is off by far
// more than the tolerances suggest, when ‖q‖∞ is large (the dual
// tolerance grows with it) or P is ill-conditioned.
type residuals struct {
	prim                         float64 // ‖Ax−z‖∞
	dual, dualNorm               float64 // ‖Px+q+Aᵀy‖∞ and max(‖Px‖∞, ‖Aᵀy‖∞, ‖q‖∞)
	primScaled, primNormScaled   float64
	dualScaled, dualNormScaled   float64
	primSatisfied, dualSatisfied bool
	gap, gapTol                  float64
	gapSatisfied                 bool
	// worst is the largest ratio of a residual or the gap to its
	// tolerance (≤ 1 when the three tests pass).
	worst float64
}

// residuals computes Ax, Px and Aᵀy for the current iterate and the primal
// and dual residuals.
func (s *Solver) residuals() residuals {
	r := residuals{primSatisfied: true}
	st := s.settings
	sc := s.sc
	s.a.mulVec(s.ax, s.x)
	s.p.symMulVec(s.px, s.x)
	s.a.mulTransVec(s.aty, s.y)
	for i := 0; i < s.m; i++ {
		diff := s.ax[i] - s.z[i]
		r.primScaled = math.Max(r.primScaled, math.Abs(diff))
		r.primNormScaled = math.Max(r.primNormScaled, math.Max(math.Abs(s.ax[i]), math.Abs(s.z[i])))
		e := sc.einv[i]
		res := math.Abs(e * diff)
		r.prim = math.Max(r.prim, res)
		tol := st.EpsAbs + st.EpsRel*e*math.Max(math.Abs(s.ax[i]), math.Abs(s.z[i]))
		if res > tol {
			r.primSatisfied = false
		}
		r.worst = math.Max(r.worst, res/tol)
	}
	for j := 0; j < s.n; j++ {
		g := s.px[j] + s.q[j] + s.aty[j]
		r.dualScaled = math.Max(r.dualScaled, math.Abs(g))
		r.dualNormScaled = math.Max(r.dualNormScaled, math.Max(math.Abs(s.px[j]), math.Max(math.Abs(s.aty[j]), math.Abs(s.q[j]))))
		d := sc.dinv[j] * sc.cinv
		r.dual = math.Max(r.dual, math.Abs(d*g))
		r.dualNorm = math.Max(r.dualNorm, d*math.Max(math.Abs(s.px[j]), math.Max(math.Abs(s.aty[j]), math.Abs(s.q[j]))))
	}
	dualTol := st.EpsAbs + st.EpsRel*r.dualNorm
	r.dualSatisfied = r.dual <= dualTol
	r.worst = math.Max(r.worst, r.dual/dualTol)
	r.gap, r.gapTol = s.dualityGap(s.x, s.px, s.ax, s.y)
	r.gapSatisfied = r.gap <= r.gapTol
	r.worst = math.Max(r.worst, r.gap/r.gapTol)
	return r
}

// dualityGap returns, unscaled, |f(x) − g(y)| for the primal objective
// f(x) = ½xᵀPx + qᵀx and the dual objective g(y) = −½xᵀPx − Σᵢ hᵢ(yᵢ),
// hᵢ(y) = uᵢ·max(y, 0) + lᵢ·min(y, 0), and its tolerance EpsAbs +
// EpsRel·max(|f|, |g|). x, Px, Ax and y are scaled. A dual on a side whose
// bound is infinite (which ADMM's projection never produces, and the
// polishing sign test limits) counts as complementary: (Ax)ᵢ takes the
// place of the bound.
func (s *Solver) dualityGap(x, px, ax, y []float64) (gap, tol float64) {
	quad := dot(px, x)
	lin := dot(s.q, x)
	var support float64
	for i, v := range y {
		switch {
		case v > 0 && !math.IsInf(s.u[i], 1):
			support += s.u[i] * v
		case v < 0 && !math.IsInf(s.l[i], -1):
			support += s.l[i] * v
		default:
			support += ax[i] * v
		}
	}
	primal := 0.5*quad + lin
	dual := -0.5*quad - support
	c := s.sc.cinv
	st := s.settings
	return math.Abs(primal-dual) * c, st.EpsAbs + st.EpsRel*c*math.Max(math.Abs(primal), math.Abs(dual))
}

// checkTermination decides whether the iterate is optimal or proves
// infeasibility.
func (s *Solver) checkTermination(r residuals) (Status, bool) {
	switch {
	case r.primSatisfied && r.dualSatisfied && r.gapSatisfied:
		return StatusOptimal, true
	case s.isPrimalInfeasible():
		return StatusInfeasible, true
	case s.isDualInfeasible():
		return StatusUnbounded, true
	}
	return 0, false
}
