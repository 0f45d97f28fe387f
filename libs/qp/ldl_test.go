package qp

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// randomQuasiDefinite returns a random sparse KKT matrix [H Bᵀ; B −D] with
// H positive definite and D positive diagonal, as dense and as an upper CSC.
func randomQuasiDefinite(t *testing.T, rng *rand.Rand, n, m int) (*mat.SymDense, *CSC) {
	size := n + m
	dense := mat.NewSymDense(size, nil)
	for i := 0; i < n; i++ {
		dense.SetSym(i, i, 1+rng.Float64())
		for j := i + 1; j < n; j++ {
			if rng.Float64() < 0.1 {
				v := 0.3 * (rng.Float64() - 0.5)
				dense.SetSym(i, j, v)
				dense.SetSym(i, i, dense.At(i, i)+math.Abs(v))
				dense.SetSym(j, j, dense.At(j, j)+math.Abs(v))
			}
		}
	}
	for r := 0; r < m; r++ {
		dense.SetSym(n+r, n+r, -(0.1 + rng.Float64()))
		for j := 0; j < n; j++ {
			if rng.Float64() < 0.2 {
				dense.SetSym(j, n+r, rng.NormFloat64())
			}
		}
	}
	tr := NewTriplets(size, size)
	for j := 0; j < size; j++ {
		for i := 0; i <= j; i++ {
			if v := dense.At(i, j); v != 0 {
				tr.Add(i, j, v)
			}
		}
	}
	upper, err := tr.CSC()
	if err != nil {
		t.Fatal(err)
	}
	return dense, upper
}

func TestLDLSolvesQuasiDefinite(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for trial := 0; trial < 20; trial++ {
		n, m := 5+rng.IntN(40), rng.IntN(30)
		dense, upper := randomQuasiDefinite(t, rng, n, m)
		f, err := newLDL(n+m, upper.ColPtr, upper.RowIdx, upper.Val)
		if err != nil {
			t.Fatal(err)
		}
		if f.positivePivots() != n {
			t.Fatalf("inertia: %d positive pivots, want %d", f.positivePivots(), n)
		}
		b := make([]float64, n+m)
		for i := range b {
			b[i] = rng.NormFloat64()
		}
		x := append([]float64(nil), b...)
		f.solve(x)
		var want mat.VecDense
		if err := want.SolveVec(dense, mat.NewVecDense(n+m, b)); err != nil {
			t.Fatal(err)
		}
		for i := range x {
			if math.Abs(x[i]-want.AtVec(i)) > 1e-8*(1+math.Abs(want.AtVec(i))) {
				t.Fatalf("trial %d: x[%d] = %v, dense solve %v", trial, i, x[i], want.AtVec(i))
			}
		}
	}
}

func TestAMDIsPermutation(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	_, upper := randomQuasiDefinite(t, rng, 60, 40)
	perm := amdOrder(100, upper.ColPtr, upper.RowIdx)
	seen := make([]bool, 100)
	for _, p := range perm {
		if seen[p] {
			t.Fatalf("%d appears twice", p)
		}
		seen[p] = true
	}
	if len(perm) != 100 {
		t.Fatalf("permutation has %d entries", len(perm))
	}
}

// TestAMDKeepsArrowSparse factorises arrow matrices whose first row and
// column are dense: eliminated first it fills the whole factor, a good order
// puts it last and the factor keeps one entry per column. At n = 15 the row
// is below the dense threshold and minimum degree alone must find that
// order; at n = 400 it is set aside as dense.
func TestAMDKeepsArrowSparse(t *testing.T) {
	for _, n := range []int{15, 400} {
		checkArrowFill(t, n)
	}
}

func checkArrowFill(t *testing.T, n int) {
	tr := NewTriplets(n, n)
	tr.Add(0, 0, float64(n))
	for j := 1; j < n; j++ {
		tr.Add(0, j, 1)
		tr.Add(j, j, 2)
	}
	upper, err := tr.CSC()
	if err != nil {
		t.Fatal(err)
	}
	f, err := newLDL(n, upper.ColPtr, upper.RowIdx, upper.Val)
	if err != nil {
		t.Fatal(err)
	}
	if nnz := f.lp[n]; nnz > n {
		t.Fatalf("factor has %d entries, want at most %d", nnz, n)
	}
}

func TestTripletsSumDuplicatesAndTranspose(t *testing.T) {
	tr := NewTriplets(2, 3)
	tr.Add(1, 2, 1)
	tr.Add(0, 0, 2)
	tr.Add(1, 2, 3)
	m, err := tr.CSC()
	if err != nil {
		t.Fatal(err)
	}
	if m.NNZ() != 2 {
		t.Fatalf("NNZ %d, want 2", m.NNZ())
	}
	y := make([]float64, 2)
	m.mulVec(y, []float64{1, 1, 1})
	if y[0] != 2 || y[1] != 4 {
		t.Fatalf("A·1 = %v, want [2 4]", y)
	}
	mt := m.transpose()
	z := make([]float64, 3)
	mt.mulVec(z, []float64{1, 1})
	w := make([]float64, 3)
	m.mulTransVec(w, []float64{1, 1})
	for j := range z {
		if z[j] != w[j] {
			t.Fatalf("transpose product %v, mulTransVec %v", z, w)
		}
	}
	if _, err := NewCSC(2, 3, m.ColPtr, m.RowIdx, m.Val); err != nil {
		t.Fatalf("NewCSC rejected a valid matrix: %v", err)
	}
	if _, err := NewCSC(2, 3, []int{0, 1}, nil, nil); err == nil {
		t.Fatal("NewCSC accepted a short ColPtr")
	}
}
