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
// One row over several variables (a part's own budget or crew cap) is
// allowed too: the problem is then a continuous quadratic knapsack,
// solved exactly by a search over the row's multiplier (knapsack).
// It reports false when p is not separable, or when it is infeasible or
// unbounded: the iterative path then finds the certificate.
func solveSeparable(p *Problem) (*Result, bool) {
	start := time.Now()
	sp, ok := separate(p)
	if !ok {
		return nil, false
	}
	n, m := p.NumVars(), p.NumRows()
	d, lo, hi, loRow, hiRow, varOf, coef := sp.d, sp.lo, sp.hi, sp.loRow, sp.hiRow, sp.varOf, sp.coef
	x := make([]float64, n)
	mu := 0.0 // the dense row's multiplier
	if sp.dense >= 0 {
		if x, mu, ok = sp.knapsack(p.Q, p.L[sp.dense], p.U[sp.dense]); !ok {
			return nil, false
		}
	} else {
		for j := range n {
			if x[j], ok = sp.minimize(j, p.Q[j]); !ok {
				return nil, false
			}
		}
	}
	// Duals: Px + q + Aᵀy = 0, the gradient carried by the row that makes
	// the bound the variable rests at (and by the dense row, μ·a_j).
	y := make([]float64, m)
	res := &Result{Status: StatusOptimal, X: x, Y: y, Method: MethodSeparable}
	if sp.dense >= 0 {
		y[sp.dense] = mu
		ax := 0.0
		for j, a := range sp.denseA {
			ax += a * x[j]
		}
		res.PrimalResidual = math.Max(math.Max(p.L[sp.dense]-ax, ax-p.U[sp.dense]), 0)
	}
	for j := range n {
		g := d[j]*x[j] + p.Q[j] + mu*sp.denseA[j]
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

// separable is a separable problem taken apart: the diagonal of P, and
// each variable's interval with the rows that make its ends.
type separable struct {
	d, lo, hi    []float64
	loRow, hiRow []int     // the row of each end, −1 for none
	varOf        []int     // the variable of each row, −1 when the row is empty or dense
	coef         []float64 // each row's coefficient
	dense        int       // the one row on several variables, −1 for none
	denseA       []float64 // its coefficient on each variable
}

// separate takes p apart when it is separable (P diagonal with no negative
// entry, every row of A but at most one on at most one variable, every
// empty row holding 0); it reports false otherwise.
func separate(p *Problem) (*separable, bool) {
	n, m := p.NumVars(), p.NumRows()
	sp := &separable{d: make([]float64, n), lo: make([]float64, n), hi: make([]float64, n),
		loRow: make([]int, n), hiRow: make([]int, n), varOf: make([]int, m), coef: make([]float64, m),
		dense: -1, denseA: make([]float64, n)}
	if P := p.P; P != nil {
		for j := range n {
			for k := P.ColPtr[j]; k < P.ColPtr[j+1]; k++ {
				if v := P.Val[k]; v != 0 {
					if P.RowIdx[k] != j {
						return nil, false
					}
					sp.d[j] += v
				}
			}
			if sp.d[j] < 0 {
				return nil, false // not convex: left to the iterative path's checks
			}
		}
	}
	for j := range n {
		sp.lo[j], sp.hi[j], sp.loRow[j], sp.hiRow[j] = math.Inf(-1), math.Inf(1), -1, -1
	}
	for r := range sp.varOf {
		sp.varOf[r] = -1
	}
	if A := p.A; A != nil {
		for j := range n {
			for k := A.ColPtr[j]; k < A.ColPtr[j+1]; k++ {
				if A.Val[k] == 0 {
					continue
				}
				r := A.RowIdx[k]
				switch {
				case r == sp.dense:
					sp.denseA[j] += A.Val[k]
					continue
				case sp.varOf[r] >= 0 && sp.varOf[r] != j:
					if sp.dense >= 0 {
						return nil, false // a second row on several variables
					}
					sp.dense = r
					sp.denseA[sp.varOf[r]] = sp.coef[r]
					sp.denseA[j] += A.Val[k]
					sp.varOf[r], sp.coef[r] = -1, 0
					continue
				}
				sp.varOf[r] = j
				sp.coef[r] += A.Val[k]
			}
		}
	}
	for r := range m {
		if r == sp.dense {
			continue
		}
		j, a := sp.varOf[r], sp.coef[r]
		if j < 0 || a == 0 {
			if p.L[r] > 0 || p.U[r] < 0 {
				return nil, false // 0 ∉ [l, u]: infeasible
			}
			sp.varOf[r] = -1
			continue
		}
		l, u := p.L[r]/a, p.U[r]/a
		if a < 0 {
			l, u = u, l
		}
		if l > sp.lo[j] {
			sp.lo[j], sp.loRow[j] = l, r
		}
		if u < sp.hi[j] {
			sp.hi[j], sp.hiRow[j] = u, r
		}
	}
	return sp, true
}

// minimize is the minimiser of ½d_j x² + q x over variable j's interval,
// or false when the interval is empty or the minimum unbounded.
func (sp *separable) minimize(j int, q float64) (float64, bool) {
	lo, hi := sp.lo[j], sp.hi[j]
	var x float64
	switch d := sp.d[j]; {
	case lo > hi:
		return 0, false
	case d > 0:
		x = math.Min(math.Max(-q/d, lo), hi)
	case q > 0:
		x = lo
	case q < 0:
		x = hi
	default:
		x = math.Min(math.Max(0, lo), hi)
	}
	return x, !math.IsInf(x, 0)
}

// selectSeparable solves one_per_group exactly when the problem is
// separable: each group takes the member of least cost ½P_ii + q_i among
// those that may be 1 (every other member must be able to be 0), and the
// variables outside groups take their closed form. It reports false when
// the problem is not separable or has no solution, for branch and bound
// to decide.
func selectSeparable(p *Problem, groups [][]int, groupOf []int) (*BranchResult, bool) {
	sp, ok := separate(p)
	if !ok || sp.dense >= 0 {
		return nil, false
	}
	n := p.NumVars()
	holds := func(j int, v float64) bool { return sp.lo[j] <= v && v <= sp.hi[j] }
	x := make([]float64, n)
	for _, members := range groups {
		best, must := -1, -1
		for _, i := range members {
			if !holds(i, 0) {
				if must >= 0 {
					return nil, false // two members cannot be 0
				}
				must = i
			}
		}
		for _, i := range members {
			if !holds(i, 1) || must >= 0 && i != must {
				continue
			}
			if best < 0 || 0.5*sp.d[i]+p.Q[i] < 0.5*sp.d[best]+p.Q[best] {
				best = i
			}
		}
		if best < 0 {
			return nil, false
		}
		x[best] = 1
	}
	obj := 0.0
	for j := range n {
		if groupOf[j] < 0 {
			if x[j], ok = sp.minimize(j, p.Q[j]); !ok {
				return nil, false
			}
		}
		obj += 0.5*sp.d[j]*x[j]*x[j] + p.Q[j]*x[j]
	}
	return &BranchResult{Status: BranchOptimal, X: x, Objective: obj, BestBound: obj}, true
}
