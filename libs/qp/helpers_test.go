package qp

import (
	"math"
	"testing"
)

var inf = math.Inf(1)

// denseQP describes a small problem densely: P is the full symmetric
// matrix (nil for an LP), rows of A with bounds, and variable bounds that
// become identity rows appended after A.
type denseQP struct {
	P      [][]float64
	Q      []float64
	A      [][]float64
	L, U   []float64
	XL, XU []float64 // variable bounds; nil means free
}

// problem converts d into a Problem.
func (d denseQP) problem(t testing.TB) *Problem {
	t.Helper()
	n := len(d.Q)
	var p *CSC
	if d.P != nil {
		tp := NewTriplets(n, n)
		for i := 0; i < n; i++ {
			for j := i; j < n; j++ {
				if d.P[i][j] != 0 {
					tp.Add(i, j, d.P[i][j])
				}
			}
		}
		var err error
		if p, err = tp.CSC(); err != nil {
			t.Fatal(err)
		}
	}
	m := len(d.A)
	rows := m
	if d.XL != nil {
		rows += n
	}
	ta := NewTriplets(rows, n)
	l := append([]float64(nil), d.L...)
	u := append([]float64(nil), d.U...)
	for i, row := range d.A {
		for j, v := range row {
			if v != 0 {
				ta.Add(i, j, v)
			}
		}
	}
	if d.XL != nil {
		for j := 0; j < n; j++ {
			ta.Add(m+j, j, 1)
		}
		l = append(l, d.XL...)
		u = append(u, d.XU...)
	}
	a, err := ta.CSC()
	if err != nil {
		t.Fatal(err)
	}
	return &Problem{P: p, Q: append([]float64(nil), d.Q...), A: a, L: l, U: u}
}

// filled returns a slice of n copies of v.
func filled(n int, v float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// relErr returns |a−b| / max(1, |b|).
func relErr(a, b float64) float64 {
	return math.Abs(a-b) / math.Max(1, math.Abs(b))
}

// kktError returns the scaled KKT error of (x, y) on p: the largest of the
// bound violation, the stationarity residual and the complementarity
// violation, each divided by 1 + the size of the terms it compares.
func kktError(p *Problem, x, y []float64) float64 {
	a := p.matA()
	ax := make([]float64, a.Rows)
	a.mulVec(ax, x)
	px := make([]float64, len(x))
	p.matP().symMulVec(px, x)
	aty := make([]float64, len(x))
	a.mulTransVec(aty, y)
	scaleP := 1 + math.Max(normInf(ax), 0)
	var prim, comp float64
	for i, v := range ax {
		prim = math.Max(prim, v-p.U[i])
		prim = math.Max(prim, p.L[i]-v)
		// y_i > 0 needs Ax_i = u_i; y_i < 0 needs Ax_i = l_i.
		if y[i] > 0 {
			comp = math.Max(comp, math.Min(y[i], math.Abs(p.U[i]-v)))
		} else if y[i] < 0 {
			comp = math.Max(comp, math.Min(-y[i], math.Abs(v-p.L[i])))
		}
	}
	var dual float64
	for j := range x {
		dual = math.Max(dual, math.Abs(px[j]+p.Q[j]+aty[j]))
	}
	scaleD := 1 + math.Max(normInf(px), math.Max(normInf(aty), normInf(p.Q)))
	return math.Max(prim/scaleP, math.Max(dual/scaleD, comp/math.Max(scaleP, scaleD)))
}
