package qp

import "math"

// Bounds on a single scaling factor, as in OSQP.
const (
	minScaling = 1e-4
	maxScaling = 1e4
)

// scaling holds the Ruiz equilibration of a problem: the scaled data are
// P̄ = c·D·P·D, q̄ = c·D·q, Ā = E·A·D, l̄ = E·l, ū = E·u, and a solution of
// the scaled problem maps back by x = D·x̄, y = E·ȳ/c.
type scaling struct {
	d, dinv []float64 // length n
	e, einv []float64 // length m
	c, cinv float64
}

// limitScaling replaces factors that are tiny by 1 and caps huge ones.
func limitScaling(v float64) float64 {
	switch {
	case v < minScaling:
		return 1
	case v > maxScaling:
		return maxScaling
	}
	return v
}

// equilibrate scales p (upper triangle), q and a in place with iters passes
// of modified Ruiz equilibration of the KKT matrix [P Aᵀ; A 0] followed by
// cost scaling, and returns the scaling.
func equilibrate(p, a *CSC, q []float64, iters int) *scaling {
	n, m := p.Cols, a.Rows
	s := &scaling{d: ones(n), e: ones(m), c: 1}
	dTmp := make([]float64, n)
	eTmp := make([]float64, m)
	for it := 0; it < iters; it++ {
		clear(dTmp)
		clear(eTmp)
		p.symColNormsInf(dTmp)
		a.colNormsInf(dTmp)
		a.rowNormsInf(eTmp)
		for j := range dTmp {
			dTmp[j] = 1 / math.Sqrt(limitScaling(dTmp[j]))
		}
		for i := range eTmp {
			eTmp[i] = 1 / math.Sqrt(limitScaling(eTmp[i]))
		}
		p.scale(dTmp, dTmp)
		a.scale(eTmp, dTmp)
		for j := range q {
			q[j] *= dTmp[j]
			s.d[j] *= dTmp[j]
		}
		for i := range eTmp {
			s.e[i] *= eTmp[i]
		}

		// Cost scaling: bring the mean column norm of P and ‖q‖∞ near 1.
		clear(dTmp)
		p.symColNormsInf(dTmp)
		var mean float64
		for _, v := range dTmp {
			mean += v
		}
		if n > 0 {
			mean /= float64(n)
		}
		cTmp := 1 / limitScaling(math.Max(mean, limitScaling(normInf(q))))
		p.scaleAll(cTmp)
		for j := range q {
			q[j] *= cTmp
		}
		s.c *= cTmp
	}
	s.dinv = reciprocal(s.d)
	s.einv = reciprocal(s.e)
	s.cinv = 1 / s.c
	return s
}

// scaleBounds returns E·v (infinite entries stay infinite).
func (s *scaling) scaleBounds(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = x * s.e[i]
	}
	return out
}

func ones(n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = 1
	}
	return v
}

func reciprocal(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = 1 / x
	}
	return out
}
