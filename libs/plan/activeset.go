package plan

import (
	"math"

	"gonum.org/v1/gonum/mat"
)

// minimizeAbove minimises ½wᵀGw + cᵀw subject to w ≥ lo (entries of lo
// may be −Inf), G symmetric positive semidefinite and small (the
// coordination model: a variable per sign of a coupling row's price, w
// the step from the center), by the primal active-set method from the
// feasible w = 0: it never increases the objective, and ends at the exact
// minimiser of a positive definite G in finitely many steps. Working with
// the step keeps the model's values small (the center's value cancels
// out exactly). A ridge of 1e-13·max G_ii keeps the systems definite
// where a row's two signs make G singular. It reports false when a system
// cannot be factorised.
func minimizeAbove(G [][]float64, c, lo []float64) ([]float64, bool) {
	n := len(c)
	z := make([]float64, n)
	fixed := make([]bool, n) // the working set: held at their bound
	free := make([]bool, n)
	ridge := 0.0
	for i := range n {
		ridge = math.Max(ridge, G[i][i])
		free[i] = math.IsInf(lo[i], -1)
		if !free[i] && lo[i] >= 0 {
			fixed[i] = true // w = 0 = its bound
		}
	}
	ridge = math.Max(ridge*1e-13, 1e-300)
	grad := func() []float64 {
		g := make([]float64, n)
		for i := range n {
			g[i] = c[i] + ridge*z[i]
			for j := range n {
				g[i] += G[i][j] * z[j]
			}
		}
		return g
	}
	for iter := 0; iter < 20*n+100; iter++ {
		var F []int
		for i := range n {
			if !fixed[i] {
				F = append(F, i)
			}
		}
		g := grad()
		step := make([]float64, n)
		if len(F) > 0 {
			K := mat.NewSymDense(len(F), nil)
			rhs := mat.NewVecDense(len(F), nil)
			for a, i := range F {
				for b := a; b < len(F); b++ {
					K.SetSym(a, b, G[i][F[b]])
				}
				K.SetSym(a, a, G[i][i]+ridge)
				rhs.SetVec(a, -g[i])
			}
			var chol mat.Cholesky
			if !chol.Factorize(K) {
				return z, false
			}
			var p mat.VecDense
			if err := chol.SolveVecTo(&p, rhs); err != nil {
				return z, false
			}
			for a, i := range F {
				step[i] = p.AtVec(a)
			}
		}
		// The longest step toward the minimiser over the free variables
		// that keeps them nonnegative.
		alpha, block := 1.0, -1
		for _, i := range F {
			if !free[i] && step[i] < 0 {
				if a := (lo[i] - z[i]) / step[i]; a < alpha {
					alpha, block = a, i
				}
			}
		}
		for _, i := range F {
			z[i] += alpha * step[i]
		}
		if block >= 0 {
			z[block], fixed[block] = lo[block], true
			continue
		}
		// At the minimiser over the free variables: release the fixed
		// variable whose multiplier (its gradient) is most negative.
		g = grad()
		release, worst := -1, 0.0
		scale := 0.0
		for i := range n {
			scale = math.Max(scale, math.Abs(c[i]))
		}
		for i := range n {
			if fixed[i] && g[i] < worst && g[i] < -1e-12*scale {
				release, worst = i, g[i]
			}
		}
		if release < 0 {
			return z, true
		}
		fixed[release] = false
	}
	return z, true
}
