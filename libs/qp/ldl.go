package qp

import (
	"errors"
	"fmt"
	"math"
)

// errSingular reports a zero or non-finite pivot during factorisation.
var errSingular = errors.New("qp: singular KKT matrix")

// ldlFactor is a sparse LDLᵀ factorisation of a symmetric matrix K, computed
// on the permuted matrix C = K(perm, perm) so that C = L·D·Lᵀ with L unit
// lower triangular. The symbolic part (ordering, elimination tree, column
// counts) is computed once; refactor recomputes the numbers for new values
// on the same pattern.
//
// The numeric phase is the up-looking algorithm: row k of L is the solution
// of a sparse triangular system whose pattern is the set of elimination-tree
// paths from the entries of column k of C's upper triangle towards k.
type ldlFactor struct {
	*ldlSymbolic
	cx   []float64 // values of C
	li   []int
	lx   []float64
	d    []float64
	dinv []float64

	// Dynamic regularisation (nil signs: none): a pivot k whose sign
	// differs from signs[k] (of C's order) or whose size is at most
	// regEps is replaced by signs[k]·regDelta; regCount counts them.
	signs            []int8
	regEps, regDelta float64
	regCount         int

	// Work space of the numeric phase and of solves.
	y       []float64
	pattern []int
	flag    []int
	lnz     []int
	tmp     []float64
}

// ldlSymbolic is the part of a factorisation that depends only on the
// pattern; factors of matrices with the same pattern share it.
type ldlSymbolic struct {
	n          int
	perm, pinv []int
	// C is the permuted upper triangle; kToC maps each entry of the
	// caller's matrix to its position in C.
	cp, ci []int
	kToC   []int
	parent []int
	lp     []int // column pointers of L
}

// newLDL orders and symbolically analyses the symmetric n×n matrix whose
// upper triangle is (kp, ki), then factorises it with the values kx.
func newLDL(n int, kp, ki []int, kx []float64) (*ldlFactor, error) {
	sym := &ldlSymbolic{n: n}
	sym.perm = amdOrder(n, kp, ki)
	sym.pinv = make([]int, n)
	for k, i := range sym.perm {
		sym.pinv[i] = k
	}
	sym.permuteUpper(kp, ki)
	sym.analyse()
	f := sym.numeric()
	if err := f.refactor(kx); err != nil {
		return nil, err
	}
	return f, nil
}

// permuteUpper builds the pattern of C = K(perm, perm), upper triangle.
func (f *ldlSymbolic) permuteUpper(kp, ki []int) {
	n := f.n
	nnz := kp[n]
	f.cp = make([]int, n+1)
	for j := 0; j < n; j++ {
		for p := kp[j]; p < kp[j+1]; p++ {
			f.cp[max(f.pinv[ki[p]], f.pinv[j])+1]++
		}
	}
	for j := 0; j < n; j++ {
		f.cp[j+1] += f.cp[j]
	}
	next := append([]int(nil), f.cp[:n]...)
	f.ci = make([]int, nnz)
	f.kToC = make([]int, nnz)
	for j := 0; j < n; j++ {
		for p := kp[j]; p < kp[j+1]; p++ {
			a, b := f.pinv[ki[p]], f.pinv[j]
			col := max(a, b)
			f.ci[next[col]] = min(a, b)
			f.kToC[p] = next[col]
			next[col]++
		}
	}
}

// analyse computes the elimination tree and the column pointers of L.
func (f *ldlSymbolic) analyse() {
	n := f.n
	f.parent = make([]int, n)
	flag := make([]int, n)
	lnz := make([]int, n)
	for k := 0; k < n; k++ {
		f.parent[k] = -1
		flag[k] = k
		for p := f.cp[k]; p < f.cp[k+1]; p++ {
			for i := f.ci[p]; i < k && flag[i] != k; i = f.parent[i] {
				if f.parent[i] == -1 {
					f.parent[i] = k
				}
				lnz[i]++
				flag[i] = k
			}
		}
	}
	f.lp = make([]int, n+1)
	for k := 0; k < n; k++ {
		f.lp[k+1] = f.lp[k] + lnz[k]
	}
}

// numeric allocates a factor on this pattern; refactor fills it in.
func (f *ldlSymbolic) numeric() *ldlFactor {
	n := f.n
	return &ldlFactor{
		ldlSymbolic: f,
		cx:          make([]float64, len(f.ci)),
		li:          make([]int, f.lp[n]),
		lx:          make([]float64, f.lp[n]),
		d:           make([]float64, n),
		dinv:        make([]float64, n),
		y:           make([]float64, n),
		pattern:     make([]int, n),
		flag:        make([]int, n),
		lnz:         make([]int, n),
		tmp:         make([]float64, n),
	}
}

// refactor computes L and D for the values kx on the analysed pattern.
func (f *ldlFactor) refactor(kx []float64) error {
	for p, c := range f.kToC {
		f.cx[c] = kx[p]
	}
	n := f.n
	y, pattern, flag, lnz := f.y, f.pattern, f.flag, f.lnz
	f.regCount = 0
	for k := 0; k < n; k++ {
		y[k] = 0
		top := n
		flag[k] = k
		lnz[k] = 0
		for p := f.cp[k]; p < f.cp[k+1]; p++ {
			i := f.ci[p]
			y[i] += f.cx[p]
			length := 0
			for ; flag[i] != k; i = f.parent[i] {
				pattern[length] = i
				length++
				flag[i] = k
			}
			for length > 0 {
				top--
				length--
				pattern[top] = pattern[length]
			}
		}
		dk := y[k]
		y[k] = 0
		for ; top < n; top++ {
			i := pattern[top]
			yi := y[i]
			y[i] = 0
			start, end := f.lp[i], f.lp[i]+lnz[i]
			for p := start; p < end; p++ {
				y[f.li[p]] -= f.lx[p] * yi
			}
			lki := yi * f.dinv[i]
			dk -= lki * yi
			f.li[end] = k
			f.lx[end] = lki
			lnz[i]++
		}
		if f.signs != nil {
			if sign := float64(f.signs[k]); sign*dk <= f.regEps {
				dk = sign * f.regDelta
				f.regCount++
			}
		}
		if dk == 0 || math.IsNaN(dk) || math.IsInf(dk, 0) {
			return fmt.Errorf("%w: pivot %d is %v", errSingular, k, dk)
		}
		f.d[k] = dk
		f.dinv[k] = 1 / dk
	}
	return nil
}

// setSigns turns on dynamic regularisation for the next refactorisations:
// signs[i] is the expected sign of the pivot of row i of the caller's
// matrix K (not of C).
func (f *ldlFactor) setSigns(signs []int8, eps, delta float64) {
	f.signs = make([]int8, f.n)
	for i, s := range signs {
		f.signs[f.pinv[i]] = s
	}
	f.regEps, f.regDelta = eps, delta
}

// flops estimates the floating-point work of one numeric factorisation
// (Σ over columns of L of the squared column count) and of one solve.
func (f *ldlSymbolic) flops() (factor, solve float64) {
	for j := 0; j < f.n; j++ {
		c := float64(f.lp[j+1] - f.lp[j])
		factor += c*c + c + 1
	}
	return factor, 4*float64(f.lp[f.n]) + 3*float64(f.n)
}

// positivePivots returns the number of positive entries of D, which by
// Sylvester's law of inertia is the number of positive eigenvalues.
func (f *ldlFactor) positivePivots() int {
	count := 0
	for _, v := range f.d {
		if v > 0 {
			count++
		}
	}
	return count
}

// solve overwrites b with K⁻¹b.
func (f *ldlFactor) solve(b []float64) {
	n := f.n
	x := f.tmp
	for k := 0; k < n; k++ {
		x[k] = b[f.perm[k]]
	}
	for j := 0; j < n; j++ {
		xj := x[j]
		if xj == 0 {
			continue
		}
		for p := f.lp[j]; p < f.lp[j+1]; p++ {
			x[f.li[p]] -= f.lx[p] * xj
		}
	}
	for j := 0; j < n; j++ {
		x[j] *= f.dinv[j]
	}
	for j := n - 1; j >= 0; j-- {
		s := x[j]
		for p := f.lp[j]; p < f.lp[j+1]; p++ {
			s -= f.lx[p] * x[f.li[p]]
		}
		x[j] = s
	}
	for k := 0; k < n; k++ {
		b[f.perm[k]] = x[k]
	}
}
