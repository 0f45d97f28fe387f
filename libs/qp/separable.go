package qp

import (
	"math"
	"time"
)

// solveSeparable solves p in closed form when it is separable: P diagonal
// and every row of A on at most one variable, so that the problem is n
// independent one-dimensional problems min ½d x² + q x over an interval.
// A part of a job whose every constraint couples it with other parts is
// such a problem at every coordination round, and needs no iterations.
// It reports false when p is not separable, or when it is infeasible or
// unbounded: the iterative path then finds the certificate.
func solveSeparable(p *Problem) (*Result, bool) {
	start := time.Now()
	n, m := p.NumVars(), p.NumRows()
	d := make([]float64, n)
	if P := p.P; P != nil {
		for j := range n {
			for k := P.ColPtr[j]; k < P.ColPtr[j+1]; k++ {
				if v := P.Val[k]; v != 0 {
					if P.RowIdx[k] != j {
						return nil, false
					}
					d[j] += v
				}
			}
		}
	}
	lo, hi := make([]float64, n), make([]float64, n)
	loRow, hiRow := make([]int, n), make([]int, n)
	for j := range n {
		lo[j], hi[j], loRow[j], hiRow[j] = math.Inf(-1), math.Inf(1), -1, -1
	}
	varOf := make([]int, m) // the variable of each row, −1 when the row is empty
	for r := range varOf {
		varOf[r] = -1
	}
	if A := p.A; A != nil {
		for j := range n {
			for k := A.ColPtr[j]; k < A.ColPtr[j+1]; k++ {
				if A.Val[k] == 0 {
					continue
				}
				r := A.RowIdx[k]
				if varOf[r] >= 0 {
					return nil, false // a row on two variables
				}
				varOf[r] = j
			}
		}
	}
	coef := make([]float64, m)
	if A := p.A; A != nil {
		for j := range n {
			for k := A.ColPtr[j]; k < A.ColPtr[j+1]; k++ {
				coef[A.RowIdx[k]] += A.Val[k]
			}
		}
	}
	for r := range m {
		j, a := varOf[r], coef[r]
		if j < 0 {
			if p.L[r] > 0 || p.U[r] < 0 {
				return nil, false // 0 ∉ [l, u]: infeasible
			}
			continue
		}
		l, u := p.L[r]/a, p.U[r]/a
		if a < 0 {
			l, u = u, l
		}
		if l > lo[j] {
			lo[j], loRow[j] = l, r
		}
		if u < hi[j] {
			hi[j], hiRow[j] = u, r
		}
	}
	x := make([]float64, n)
	for j := range n {
		if lo[j] > hi[j] {
			return nil, false
		}
		switch q := p.Q[j]; {
		case d[j] < 0:
			return nil, false // not convex: left to the iterative path's checks
		case d[j] > 0:
			x[j] = math.Min(math.Max(-q/d[j], lo[j]), hi[j])
		case q > 0:
			x[j] = lo[j]
		case q < 0:
			x[j] = hi[j]
		default:
			x[j] = math.Min(math.Max(0, lo[j]), hi[j])
		}
		if math.IsInf(x[j], 0) {
			return nil, false // unbounded
		}
	}
	// Duals: Px + q + Aᵀy = 0, the gradient carried by the row that makes
	// the bound the variable rests at.
	y := make([]float64, m)
	res := &Result{Status: StatusOptimal, X: x, Y: y, Method: MethodSeparable}
	for j := range n {
		g := d[j]*x[j] + p.Q[j]
		row := -1
		switch {
		case g > 0 && x[j] == lo[j]:
			row = loRow[j]
		case g < 0 && x[j] == hi[j]:
			row = hiRow[j]
		}
		if row >= 0 {
			y[row] = -g / coef[row]
			g = 0
		}
		res.DualResidual = math.Max(res.DualResidual, math.Abs(g))
		res.Objective += 0.5*d[j]*x[j]*x[j] + p.Q[j]*x[j]
	}
	for r := range m {
		ax := 0.0
		if j := varOf[r]; j >= 0 {
			ax = coef[r] * x[j]
		}
		res.PrimalResidual = math.Max(res.PrimalResidual, math.Max(math.Max(p.L[r]-ax, ax-p.U[r]), 0))
	}
	res.SolveTime = time.Since(start)
	return res, true
}
