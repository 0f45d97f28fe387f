package qp

import (
	"fmt"
	"math"
)

// Problem is the QP  minimize ½xᵀPx + qᵀx  subject to  L ≤ Ax ≤ U.
//
// P is n×n, symmetric positive semidefinite, given by its upper triangle
// (entries below the diagonal are rejected); nil means P = 0 (a linear
// program). Q has length n and fixes n. A is m×n; nil means no constraints.
// L and U have length m; their entries may be -Inf and +Inf.
type Problem struct {
	P    *CSC
	Q    []float64
	A    *CSC
	L, U []float64
}

// NumVars returns n, the number of variables.
func (p *Problem) NumVars() int { return len(p.Q) }

// NumRows returns m, the number of constraint rows.
func (p *Problem) NumRows() int { return len(p.L) }

// Validate reports the first problem with the input, wrapping one of the
// sentinel errors of this package.
func (p *Problem) Validate() error {
	n, m := len(p.Q), len(p.L)
	if len(p.U) != m {
		return fmt.Errorf("%w: len(L) = %d, len(U) = %d", ErrDimension, m, len(p.U))
	}
	if err := checkFinite("q", p.Q); err != nil {
		return err
	}
	if p.P != nil {
		if p.P.Rows != p.P.Cols {
			return fmt.Errorf("%w: P is %d×%d", ErrNotSquare, p.P.Rows, p.P.Cols)
		}
		if p.P.Cols != n {
			return fmt.Errorf("%w: P is %d×%d, len(q) = %d", ErrDimension, p.P.Rows, p.P.Cols, n)
		}
		if err := p.P.check(); err != nil {
			return fmt.Errorf("P: %w", err)
		}
		for j := 0; j < n; j++ {
			for k := p.P.ColPtr[j]; k < p.P.ColPtr[j+1]; k++ {
				if p.P.RowIdx[k] > j {
					return fmt.Errorf("%w: P[%d,%d]", ErrNotUpperTriangular, p.P.RowIdx[k], j)
				}
				if v := p.P.Val[k]; math.IsNaN(v) || math.IsInf(v, 0) {
					return fmt.Errorf("%w: P[%d,%d] = %v", ErrNotFinite, p.P.RowIdx[k], j, v)
				}
			}
		}
	}
	if p.A == nil {
		if m != 0 {
			return fmt.Errorf("%w: A is nil but len(L) = %d", ErrDimension, m)
		}
	} else {
		if p.A.Rows != m || p.A.Cols != n {
			return fmt.Errorf("%w: A is %d×%d, want %d×%d", ErrDimension, p.A.Rows, p.A.Cols, m, n)
		}
		if err := p.A.check(); err != nil {
			return fmt.Errorf("A: %w", err)
		}
		for _, v := range p.A.Val {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%w: A has entry %v", ErrNotFinite, v)
			}
		}
	}
	return checkBounds(p.L, p.U)
}

// checkFinite reports the first NaN or infinite entry of v.
func checkFinite(name string, v []float64) error {
	for j, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("%w: %s[%d] = %v", ErrNotFinite, name, j, x)
		}
	}
	return nil
}

// checkBounds reports NaN bounds, l = +Inf, u = −Inf and l > u.
func checkBounds(l, u []float64) error {
	for i := range l {
		lo, hi := l[i], u[i]
		if math.IsNaN(lo) || math.IsNaN(hi) || math.IsInf(lo, 1) || math.IsInf(hi, -1) {
			return fmt.Errorf("%w: bounds of row %d are [%v, %v]", ErrNotFinite, i, lo, hi)
		}
		if lo > hi {
			return fmt.Errorf("%w: row %d has l = %v > u = %v", ErrBoundOrder, i, lo, hi)
		}
	}
	return nil
}

// Objective returns ½xᵀPx + qᵀx.
func (p *Problem) Objective(x []float64) float64 {
	obj := dot(p.Q, x)
	if p.P != nil {
		px := make([]float64, len(x))
		p.P.symMulVec(px, x)
		obj += 0.5 * dot(px, x)
	}
	return obj
}

// matA returns A, or an empty 0×n matrix when A is nil.
func (p *Problem) matA() *CSC {
	if p.A == nil {
		return emptyCSC(0, len(p.Q))
	}
	return p.A
}

// matP returns P, or an empty n×n matrix when P is nil.
func (p *Problem) matP() *CSC {
	if p.P == nil {
		return emptyCSC(len(p.Q), len(p.Q))
	}
	return p.P
}
