package qp

import "fmt"

// kktSystem is the quasi-definite matrix
//
//	[ P + σI      Aᵀ     ]
//	[ A       −diag(d)   ]
//
// (d = 1/ρ during ADMM) kept in upper-triangular CSC form together with its
// LDLᵀ factorisation. Changing σ or d only touches diagonal entries, so it
// costs a numeric refactorisation and no new analysis; systems with other
// diagonals share the analysis (see withDiagonal).
type kktSystem struct {
	n, m   int
	kp, ki []int
	kx     []float64
	xDiag  []int     // position in kx of the diagonal entry of column j < n
	pDiag  []float64 // P[j,j]
	yDiag  []int     // position in kx of the diagonal entry of row n+i
	factor *ldlFactor
}

// newKKT assembles and factorises the KKT matrix for the upper triangle P,
// the constraint matrix A, the regularisation sigma and the diagonal
// negD (entries −dᵢ). It returns ErrNotConvex when the inertia shows that
// P + σI is not positive definite.
func newKKT(p, a *CSC, sigma float64, negD []float64) (*kktSystem, error) {
	n, m := p.Cols, a.Rows
	at := a.transpose()
	k := &kktSystem{n: n, m: m, xDiag: make([]int, n), pDiag: make([]float64, n), yDiag: make([]int, m)}
	size := n + m
	k.kp = make([]int, size+1)
	capacity := p.NNZ() + n + a.NNZ() + m
	k.ki = make([]int, 0, capacity)
	k.kx = make([]float64, 0, capacity)
	for j := 0; j < n; j++ {
		k.xDiag[j] = -1
		for q := p.ColPtr[j]; q < p.ColPtr[j+1]; q++ {
			i := p.RowIdx[q]
			v := p.Val[q]
			if i == j {
				k.pDiag[j] = v
				k.xDiag[j] = len(k.ki)
				v += sigma
			}
			k.ki = append(k.ki, i)
			k.kx = append(k.kx, v)
		}
		if k.xDiag[j] < 0 {
			k.xDiag[j] = len(k.ki)
			k.ki = append(k.ki, j)
			k.kx = append(k.kx, sigma)
		}
		k.kp[j+1] = len(k.ki)
	}
	for i := 0; i < m; i++ {
		for q := at.ColPtr[i]; q < at.ColPtr[i+1]; q++ {
			k.ki = append(k.ki, at.RowIdx[q])
			k.kx = append(k.kx, at.Val[q])
		}
		k.yDiag[i] = len(k.ki)
		k.ki = append(k.ki, n+i)
		k.kx = append(k.kx, negD[i])
		k.kp[n+i+1] = len(k.ki)
	}
	f, err := newLDL(size, k.kp, k.ki, k.kx)
	if err != nil {
		return nil, fmt.Errorf("factorising KKT system: %w", err)
	}
	k.factor = f
	if err := k.checkInertia(); err != nil {
		return nil, err
	}
	return k, nil
}

// withDiagonal returns a second system on the same pattern and analysis
// with the regularisation sigma and the diagonal negD, factorised.
func (k *kktSystem) withDiagonal(sigma float64, negD []float64) (*kktSystem, error) {
	other := *k
	other.kx = append([]float64(nil), k.kx...)
	other.factor = k.factor.ldlSymbolic.numeric()
	if err := other.setDiagonal(sigma, negD); err != nil {
		return nil, err
	}
	return &other, nil
}

// withSignedDiagonal is withDiagonal for a system that may be nearly
// singular (an interior-point Newton system): pivots of the wrong sign or
// tiny size are replaced by ±delta during the factorisation (positive for
// the x block, negative for the constraint block), so the inertia is right
// by construction; the caller removes the perturbation by refinement.
func (k *kktSystem) withSignedDiagonal(sigma float64, negD []float64, eps, delta float64) (*kktSystem, error) {
	other := *k
	other.kx = append([]float64(nil), k.kx...)
	other.factor = k.factor.ldlSymbolic.numeric()
	signs := make([]int8, k.n+k.m)
	for i := range signs {
		signs[i] = 1
		if i >= k.n {
			signs[i] = -1
		}
	}
	other.factor.setSigns(signs, eps, delta)
	if err := other.setDiagonal(sigma, negD); err != nil {
		return nil, err
	}
	return &other, nil
}

// setDiagonal refactorises with a new σ and diagonal −d.
func (k *kktSystem) setDiagonal(sigma float64, negD []float64) error {
	for j, pos := range k.xDiag {
		k.kx[pos] = k.pDiag[j] + sigma
	}
	return k.updateRho(negD)
}

// checkInertia verifies that the factorisation has n positive and m negative
// pivots, as it must when P + σI is positive definite.
func (k *kktSystem) checkInertia() error {
	if pos := k.factor.positivePivots(); pos != k.n {
		return fmt.Errorf("%w: KKT matrix has %d positive pivots, want %d", ErrNotConvex, pos, k.n)
	}
	return nil
}

// updateRho refactorises with a new diagonal −d.
func (k *kktSystem) updateRho(negD []float64) error {
	for i, pos := range k.yDiag {
		k.kx[pos] = negD[i]
	}
	if err := k.factor.refactor(k.kx); err != nil {
		return fmt.Errorf("refactorising KKT system: %w", err)
	}
	return k.checkInertia()
}

// solve overwrites rhs (length n+m) with the solution of K·s = rhs.
func (k *kktSystem) solve(rhs []float64) {
	k.factor.solve(rhs)
}
