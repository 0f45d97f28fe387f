package qp

import "math"

// polishTiny is the residual below which a polished point is accepted even
// if the ADMM point had smaller residuals.
const polishTiny = 1e-10

// Which bound of a row the polished solution holds it at.
const (
	notActive int8 = iota
	activeLower
	activeUpper
	activeBoth // l = u: an equality, its dual may have either sign
)

// polishedPoint is the solution of the reduced KKT system of an active-set
// guess, in scaled variables, with its unscaled residuals.
type polishedPoint struct {
	x, y []float64
	// prim is the distance of Ax from [l, u], dual is ‖Px + q + Aᵀy‖∞,
	// sign is the largest dual of the wrong sign and gap the duality gap
	// (unscaled).
	prim, dual, sign, gap float64
	dualTol, gapTol       float64
	// signTol bounds sign: EpsAbs + EpsRel·‖y‖∞ (a wrong sign is measured
	// against the duals, not against the gradient terms of dualTol).
	signTol float64
	// meetsTolerances tells whether the point passes the termination test
	// (see residuals) with duals of the right sign.
	meetsTolerances bool
}

// guessActiveSet sets sides[i] to the bound that row i is expected to hold
// at the optimum, from the current iterate: lower when z − l < −y, upper
// when u − z < y, both for equalities.
func (s *Solver) guessActiveSet(sides []int8) {
	for i := 0; i < s.m; i++ {
		switch {
		case s.l[i] == s.u[i]:
			sides[i] = activeBoth
		case s.z[i]-s.l[i] < -s.y[i]:
			sides[i] = activeLower
		case s.u[i]-s.z[i] < s.y[i]:
			sides[i] = activeUpper
		default:
			sides[i] = notActive
		}
	}
}

// polishActiveSet solves the equality-constrained QP of the active set
// given by sides: Px + Aᵀy = −q, Aᵢx = bᵢ for active rows (bᵢ the active
// bound) and yᵢ = 0 for the others. It factorises, on the pattern and
// analysis of the ADMM system,
//
//	[ P + δI      Aᵀ    ]
//	[ A       −diag(d)  ]   with dᵢ = δ for active rows, 1/δ for inactive
//
// (a large 1/δ all but removes an inactive row) and removes the effect of
// both regularisations by iterative refinement against the exact system.
// It returns nil when the system cannot be factorised.
func (s *Solver) polishActiveSet(sides []int8) *polishedPoint {
	n, m := s.n, s.m
	delta := s.settings.PolishDelta
	negD := make([]float64, m)
	for i, side := range sides {
		negD[i] = -delta
		if side == notActive {
			negD[i] = -1 / delta
		}
	}
	var err error
	if s.polishKKT == nil {
		s.polishKKT, err = s.kkt.withDiagonal(delta, negD)
	} else {
		err = s.polishKKT.setDiagonal(delta, negD)
	}
	if err != nil {
		return nil
	}
	rhs := make([]float64, n+m)
	for j := 0; j < n; j++ {
		rhs[j] = -s.q[j]
	}
	for i, side := range sides {
		switch side {
		case activeLower, activeBoth:
			rhs[n+i] = s.l[i]
		case activeUpper:
			rhs[n+i] = s.u[i]
		}
	}
	sol := append([]float64(nil), rhs...)
	s.polishKKT.solve(sol)
	corr := make([]float64, n+m)
	for it := 0; it < s.settings.PolishRefineIter; it++ {
		s.exactPolishProduct(corr, sol, sides, delta)
		for j := range corr {
			corr[j] = rhs[j] - corr[j]
		}
		s.polishKKT.solve(corr)
		for j := range sol {
			sol[j] += corr[j]
		}
	}
	pt := &polishedPoint{x: sol[:n], y: sol[n:]}
	for i, side := range sides {
		if side == notActive {
			pt.y[i] = 0
		}
	}
	s.measurePolished(pt, sides)
	return pt
}

// exactPolishProduct sets out = T·v for the unregularised polishing system
// T: rows Px + Aᵀy, then Aᵢx for active rows and −yᵢ/δ for inactive ones.
func (s *Solver) exactPolishProduct(out, v []float64, sides []int8, delta float64) {
	n := s.n
	x, y := v[:n], v[n:]
	s.p.symMulVec(out[:n], x)
	s.a.mulTransVec(s.workN, y)
	for j := range s.workN {
		out[j] += s.workN[j]
	}
	s.a.mulVec(out[n:], x)
	for i, side := range sides {
		if side == notActive {
			out[n+i] = -y[i] / delta
		}
	}
}

// measurePolished fills in the unscaled residuals and tolerances of pt.
func (s *Solver) measurePolished(pt *polishedPoint, sides []int8) {
	sc := s.sc
	st := s.settings
	primOK := true
	s.a.mulVec(s.workM, pt.x)
	for i, v := range s.workM {
		res := math.Abs(v-clamp(v, s.l[i], s.u[i])) * sc.einv[i]
		pt.prim = math.Max(pt.prim, res)
		if res > st.EpsAbs+st.EpsRel*math.Abs(v)*sc.einv[i] {
			primOK = false
		}
	}
	s.p.symMulVec(s.workN, pt.x)
	aty := make([]float64, s.n)
	s.a.mulTransVec(aty, pt.y)
	var dualNorm float64
	for j := range aty {
		d := sc.dinv[j] * sc.cinv
		pt.dual = math.Max(pt.dual, math.Abs(s.workN[j]+s.q[j]+aty[j])*d)
		dualNorm = math.Max(dualNorm, d*math.Max(math.Abs(s.workN[j]), math.Max(math.Abs(aty[j]), math.Abs(s.q[j]))))
	}
	var yNorm float64
	for i, side := range sides {
		v := pt.y[i] * sc.e[i] * sc.cinv
		yNorm = math.Max(yNorm, math.Abs(v))
		switch side {
		case activeLower:
			pt.sign = math.Max(pt.sign, v)
		case activeUpper:
			pt.sign = math.Max(pt.sign, -v)
		}
	}
	pt.dualTol = st.EpsAbs + st.EpsRel*dualNorm
	pt.signTol = st.EpsAbs + st.EpsRel*yNorm
	pt.gap, pt.gapTol = s.dualityGap(pt.x, s.workN, s.workM, pt.y)
	pt.meetsTolerances = primOK && pt.dual <= pt.dualTol && pt.sign <= pt.signTol && pt.gap <= pt.gapTol
}

// polishRounds bounds the active-set corrections of one polishing.
const polishRounds = 4

// polishWithCorrections polishes the active set sides and, while the point
// fails the tolerances, corrects the guess like an active-set method and
// polishes again: rows whose dual has the wrong sign leave the set, rows
// whose bound is violated enter it. sides is updated in place.
func (s *Solver) polishWithCorrections(sides []int8) *polishedPoint {
	var pt *polishedPoint
	for round := 0; round < polishRounds; round++ {
		pt = s.polishActiveSet(sides)
		if pt == nil || pt.meetsTolerances || !s.correctActiveSet(pt, sides) {
			break
		}
	}
	return pt
}

// correctActiveSet applies one correction to sides from the polished point
// pt and reports whether anything changed. Rows whose dual has the wrong
// sign leave the set first; only when there are none do rows with a
// violated bound enter it. (Adding rows can make the active set
// inconsistent, dropping rows cannot.)
func (s *Solver) correctActiveSet(pt *polishedPoint, sides []int8) bool {
	sc := s.sc
	st := s.settings
	changed := false
	for i, side := range sides {
		y := pt.y[i] * sc.e[i] * sc.cinv
		if (side == activeLower && y > pt.signTol) || (side == activeUpper && y < -pt.signTol) {
			sides[i] = notActive
			changed = true
		}
	}
	if changed {
		return true
	}
	s.a.mulVec(s.workM, pt.x)
	for i, v := range s.workM {
		if sides[i] != notActive {
			continue
		}
		tol := (st.EpsAbs + st.EpsRel*math.Abs(v)*sc.einv[i]) * sc.e[i]
		switch {
		case v < s.l[i]-tol:
			sides[i] = activeLower
		case v > s.u[i]+tol:
			sides[i] = activeUpper
		default:
			continue
		}
		changed = true
	}
	return changed
}

// accept makes pt the current iterate.
func (s *Solver) accept(pt *polishedPoint) {
	copy(s.x, pt.x)
	copy(s.y, pt.y)
	s.a.mulVec(s.z, s.x)
	for i := range s.z {
		s.z[i] = clamp(s.z[i], s.l[i], s.u[i])
	}
}

// polishOptimal polishes an iterate that met the tolerances, keeping the
// polished point when its residuals are smaller (OSQP's rule) and it meets
// the tolerances too. It reports whether the iterate was replaced.
func (s *Solver) polishOptimal(r residuals) bool {
	s.guessActiveSet(s.sides)
	pt := s.polishWithCorrections(s.sides)
	if pt == nil || !pt.meetsTolerances {
		return false
	}
	if (pt.prim <= r.prim && pt.dual <= r.dual) || (pt.prim < polishTiny && pt.dual < polishTiny) {
		s.accept(pt)
		return true
	}
	return false
}

// tryEarlyPolish polishes an iterate that has not met the tolerances yet,
// when its active-set guess differs from the one tried last. ADMM often
// identifies the active set long before its residuals are small (notably
// for linear programs); a polished point that meets the tolerances is an
// optimal solution by the same criterion as an ADMM iterate. It reports
// whether a polish was attempted and whether it replaced the iterate.
func (s *Solver) tryEarlyPolish() (attempted, optimal bool) {
	s.guessActiveSet(s.sides)
	if s.haveTried && equalSides(s.sides, s.triedSides) {
		return false, false
	}
	s.haveTried = true
	copy(s.triedSides, s.sides)
	pt := s.polishWithCorrections(s.sides)
	if pt == nil || !pt.meetsTolerances {
		return true, false
	}
	s.accept(pt)
	return true, true
}

func equalSides(a, b []int8) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
