package plan

import (
	"math"
	"slices"
)

// Matrix is a symmetric matrix over coupling rows, dense in Keys order.
type Matrix struct {
	Keys []Key       `json:"keys"`
	V    [][]float64 `json:"v"`
}

// newMatrix is a zero matrix over keys.
func newMatrix(keys []Key) *Matrix {
	m := &Matrix{Keys: keys, V: make([][]float64, len(keys))}
	for a := range keys {
		m.V[a] = make([]float64, len(keys))
	}
	return m
}

func (m *Matrix) index(k Key) int {
	i, ok := slices.BinarySearch(m.Keys, k)
	if !ok {
		return -1
	}
	return i
}

// at is an entry; a nil matrix is zero.
func (m *Matrix) at(j, k Key) float64 {
	if m == nil {
		return 0
	}
	a, b := m.index(j), m.index(k)
	if a < 0 || b < 0 {
		return 0
	}
	return m.V[a][b]
}

// updateResidual folds in what the exact curvature at the center c
// missed over the step to prices to: the activities moved by −y, the
// exact model predicted M·d, and the secant learns y − M·d (a damped BFGS
// update of a positive semidefinite matrix; a step the exact model already
// explains teaches nothing).
func (m *Matrix) updateResidual(c *Point, to map[Key]float64, sTo map[Key]float64) {
	n := len(m.Keys)
	d, y := make([]float64, n), make([]float64, n)
	nonzero := false
	for a, k := range m.Keys {
		d[a] = to[k] - c.Lambda[k]
		y[a] = -(sTo[k] - c.Sum.Activity[k])
		nonzero = nonzero || d[a] != 0
	}
	if !nonzero {
		return
	}
	for a, j := range m.Keys {
		for b, k := range m.Keys {
			y[a] -= c.Sum.Curvature[curvKey(j, k)] * d[b]
		}
	}
	Bd := make([]float64, n)
	for a := range n {
		for b := range n {
			Bd[a] += m.V[a][b] * d[b]
		}
	}
	yd, dBd := dot(y, d), dot(d, Bd)
	if !(yd > 0) || math.IsInf(yd, 0) {
		return
	}
	if dBd > 0 {
		if yd < 0.2*dBd { // Powell's damping
			theta := 0.8 * dBd / (dBd - yd)
			for a := range n {
				y[a] = theta*y[a] + (1-theta)*Bd[a]
			}
			yd = dot(y, d)
		}
		for a := range n {
			for b := range n {
				m.V[a][b] -= Bd[a] * Bd[b] / dBd
			}
		}
	}
	for a := range n {
		for b := range n {
			m.V[a][b] += y[a] * y[b] / yd
		}
	}
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}
