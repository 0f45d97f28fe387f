package qp

import (
	"context"
	"math"
	"testing"
)

// byteReader hands out values from fuzz input, zeros once it runs out.
type byteReader struct {
	data []byte
	pos  int
}

func (r *byteReader) next() byte {
	if r.pos >= len(r.data) {
		return 0
	}
	r.pos++
	return r.data[r.pos-1]
}

// value returns a number in [−8, 8) in steps of 1/16.
func (r *byteReader) value() float64 { return float64(int8(r.next())) / 16 }

// problemFromBytes builds a small convex QP: P = MᵀM (so PSD), random q and
// A, and bounds that are finite, infinite or equal depending on the bytes.
func problemFromBytes(data []byte) *Problem {
	r := &byteReader{data: data}
	n := 1 + int(r.next())%5
	m := int(r.next()) % 7
	k := int(r.next()) % (n + 1)
	mf := make([][]float64, k)
	for i := range mf {
		mf[i] = make([]float64, n)
		for j := range mf[i] {
			mf[i][j] = r.value()
		}
	}
	pt := NewTriplets(n, n)
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			var v float64
			for _, row := range mf {
				v += row[i] * row[j]
			}
			if v != 0 {
				pt.Add(i, j, v)
			}
		}
	}
	q := make([]float64, n)
	for j := range q {
		q[j] = r.value()
	}
	at := NewTriplets(m, n)
	l, u := make([]float64, m), make([]float64, m)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			if v := r.value(); v != 0 {
				at.Add(i, j, v)
			}
		}
		a, b := r.value(), r.value()
		if a > b {
			a, b = b, a
		}
		switch r.next() % 5 {
		case 0:
			a = math.Inf(-1)
		case 1:
			b = math.Inf(1)
		case 2:
			b = a
		}
		l[i], u[i] = a, b
	}
	// Triplets built within range cannot fail.
	p, _ := pt.CSC()
	a, _ := at.CSC()
	return &Problem{P: p, Q: q, A: a, L: l, U: u}
}

// FuzzSolve checks that the solver never panics and never reports an
// optimum whose KKT conditions are badly violated.
func FuzzSolve(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		prob := problemFromBytes(data)
		for _, method := range []Method{MethodAuto, MethodIPM} {
			st := DefaultSettings()
			st.MaxIter = 4000
			st.Method = method
			res, err := Solve(context.Background(), prob, st)
			if err != nil {
				t.Fatalf("%v: unexpected error: %v", method, err)
			}
			if res.Status != StatusOptimal {
				continue
			}
			if e := kktError(prob, res.X, res.Y); e > 1e-4 {
				t.Fatalf("%v: optimal with scaled KKT error %.3g (by %v, polished %v, prim %.3g, dual %.3g)", method, e, res.Method, res.Polished, res.PrimalResidual, res.DualResidual)
			}
		}
	})
}
