package qp

import "math"

// projectPolarRecession sets out to δy projected onto the polar of the
// recession cone of [l, u]: components whose bound is infinite may only
// point away from it.
func (s *Solver) projectPolarRecession(out, dy []float64) {
	for i, v := range dy {
		lowInf, upInf := math.IsInf(s.l[i], -1), math.IsInf(s.u[i], 1)
		switch {
		case lowInf && upInf:
			v = 0
		case upInf:
			v = math.Min(v, 0)
		case lowInf:
			v = math.Max(v, 0)
		}
		out[i] = v
	}
}

// isPrimalInfeasible tests the certificate of section 3.4 of the OSQP paper
// on δy = yᵏ − yᵏ⁻¹: Aᵀδy ≈ 0 and uᵀmax(δy,0) + lᵀmin(δy,0) < 0, with the
// tolerance relative to ‖δy‖∞ (all measured on the unscaled problem).
func (s *Solver) isPrimalInfeasible() bool {
	if s.m == 0 {
		return false
	}
	dy := s.workM
	s.projectPolarRecession(dy, s.deltaY)
	norm := normInfScaled(s.sc.e, dy)
	if norm < divisionTol {
		return false
	}
	eps := s.settings.EpsPrimalInf * norm
	// With ū = E·u and δy_unscaled ∝ E·δȳ, uᵀδy_unscaled ∝ ūᵀδȳ.
	var support float64
	for i, v := range dy {
		switch {
		case v > 0:
			support += s.u[i] * v
		case v < 0:
			support += s.l[i] * v
		}
	}
	if !(support < -eps) {
		return false
	}
	// Aᵀ·E·δȳ = D⁻¹·Āᵀ·δȳ.
	s.a.mulTransVec(s.workN, dy)
	return normInfScaled(s.sc.dinv, s.workN) < eps
}

// isDualInfeasible tests the certificate on δx = xᵏ − xᵏ⁻¹: Pδx ≈ 0,
// qᵀδx < 0 and Aδx in the recession cone of [l, u], with the tolerance
// relative to ‖δx‖∞ (all measured on the unscaled problem).
func (s *Solver) isDualInfeasible() bool {
	sc := s.sc
	norm := normInfScaled(sc.d, s.deltaX)
	if norm < divisionTol {
		return false
	}
	eps := s.settings.EpsDualInf * norm
	// qᵀ·D·δx̄ = q̄ᵀδx̄ / c.
	if !(dot(s.q, s.deltaX)*sc.cinv < -eps) {
		return false
	}
	s.p.symMulVec(s.workN, s.deltaX)
	for j, v := range s.workN {
		if math.Abs(v*sc.dinv[j]*sc.cinv) > eps {
			return false
		}
	}
	s.a.mulVec(s.workM, s.deltaX)
	for i, v := range s.workM {
		v *= sc.einv[i]
		if (!math.IsInf(s.u[i], 1) && v > eps) || (!math.IsInf(s.l[i], -1) && v < -eps) {
			return false
		}
	}
	return true
}

// primalCertificate returns the unscaled, projected δy of the last step.
func (s *Solver) primalCertificate() []float64 {
	cert := make([]float64, s.m)
	s.projectPolarRecession(cert, s.deltaY)
	for i := range cert {
		cert[i] *= s.sc.e[i] * s.sc.cinv
	}
	return cert
}

// dualCertificate returns the unscaled δx of the last step.
func (s *Solver) dualCertificate() []float64 {
	cert := make([]float64, s.n)
	for j := range cert {
		cert[j] = s.deltaX[j] * s.sc.d[j]
	}
	return cert
}
