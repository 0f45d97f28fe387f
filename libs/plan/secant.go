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

// newMatrix starts the secant model at the parts' exact curvature at p
// plus mu on the diagonal.
func newMatrix(p *Point, mu float64) *Matrix {
	keys := p.Sum.Keys()
	m := &Matrix{Keys: keys, V: make([][]float64, len(keys))}
	for a, j := range keys {
		m.V[a] = make([]float64, len(keys))
		for b, k := range keys {
			m.V[a][b] = p.Sum.Curvature[curvKey(j, k)]
		}
		m.V[a][a] += mu
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

func (m *Matrix) at(j, k Key) float64 {
	a, b := m.index(j), m.index(k)
	if a < 0 || b < 0 {
		return 0
	}
	return m.V[a][b]
}

func (m *Matrix) meanDiag() float64 {
	if m == nil || len(m.Keys) == 0 {
		return 0
	}
	t := 0.0
	for a := range m.Keys {
		t += m.V[a][a]
	}
	return t / float64(len(m.Keys))
}

// update folds in the secant pair of two evaluations: prices from → to and
// activities sFrom → sTo, where −(sTo − sFrom) ≈ M (to − from) (a damped
// BFGS update, which keeps the matrix positive definite).
func (m *Matrix) update(from, to, sFrom, sTo map[Key]float64) {
	if m == nil {
		return
	}
	n := len(m.Keys)
	d, y := make([]float64, n), make([]float64, n)
	nonzero := false
	for a, k := range m.Keys {
		d[a] = to[k] - from[k]
		y[a] = -(sTo[k] - sFrom[k])
		nonzero = nonzero || d[a] != 0
	}
	if !nonzero {
		return
	}
	Bd := make([]float64, n)
	for a := range n {
		for b := range n {
			Bd[a] += m.V[a][b] * d[b]
		}
	}
	dBd, yd := dot(d, Bd), dot(y, d)
	if !(dBd > 0) {
		return
	}
	if yd < 0.2*dBd { // Powell's damping
		theta := 0.8 * dBd / (dBd - yd)
		for a := range n {
			y[a] = theta*y[a] + (1-theta)*Bd[a]
		}
		yd = dot(y, d)
	}
	if !(yd > 0) || math.IsInf(yd, 0) {
		return
	}
	for a := range n {
		for b := range n {
			m.V[a][b] += -Bd[a]*Bd[b]/dBd + y[a]*y[b]/yd
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
