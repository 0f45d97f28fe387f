package qp

import "math"

// normInf returns max |v[i]|, or 0 for an empty vector.
func normInf(v []float64) float64 {
	var r float64
	for _, x := range v {
		if a := math.Abs(x); a > r {
			r = a
		}
	}
	return r
}

// normInfScaled returns max |s[i]·v[i]|.
func normInfScaled(s, v []float64) float64 {
	var r float64
	for i, x := range v {
		if a := math.Abs(s[i] * x); a > r {
			r = a
		}
	}
	return r
}

// dot returns aᵀb.
func dot(a, b []float64) float64 {
	var r float64
	for i, x := range a {
		r += x * b[i]
	}
	return r
}

// clamp projects v onto [lo, hi] (lo ≤ hi).
func clamp(v, lo, hi float64) float64 {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}
