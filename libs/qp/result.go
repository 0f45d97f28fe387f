package qp

import "time"

// Status is the outcome of a solve.
type Status int

// Solver outcomes.
const (
	// StatusOptimal: the primal and dual residuals met the tolerances.
	StatusOptimal Status = iota + 1
	// StatusInfeasible: a primal infeasibility certificate was found.
	StatusInfeasible
	// StatusUnbounded: a dual infeasibility certificate was found (the
	// objective is unbounded below on the feasible set, if it is not empty).
	StatusUnbounded
	// StatusMaxIter: the iteration limit was reached.
	StatusMaxIter
	// StatusTimeLimit: the time limit or the context deadline was reached.
	StatusTimeLimit
)

// String returns the status name used in reports: "optimal", "infeasible",
// "unbounded", "max_iter" or "time_limit".
func (s Status) String() string {
	switch s {
	case StatusOptimal:
		return "optimal"
	case StatusInfeasible:
		return "infeasible"
	case StatusUnbounded:
		return "unbounded"
	case StatusMaxIter:
		return "max_iter"
	case StatusTimeLimit:
		return "time_limit"
	}
	return "unknown"
}

// Result is the outcome of Solver.Solve. X and Y are the last iterate when
// the status is not StatusOptimal.
type Result struct {
	Status Status
	// X is the primal solution (length n).
	X []float64
	// Y holds the constraint duals (length m): Y[i] > 0 when the upper bound
	// of row i is active, Y[i] < 0 when the lower bound is, so that
	// Px + q + AᵀY = 0 at the optimum.
	Y []float64
	// Objective is ½xᵀPx + qᵀx at X (NaN when infeasible or unbounded).
	Objective float64
	// Iterations is the number of ADMM iterations run.
	Iterations int
	// IPMIterations is the number of interior-point iterations run (0 when
	// the method did not run).
	IPMIterations int
	// Method is MethodIPM when the interior-point method produced X and Y,
	// MethodSeparable when Solve solved a separable problem in closed form,
	// MethodADMM otherwise.
	Method Method
	// PrimalResidual is ‖Ax − Π(Ax)‖∞ (distance of Ax from [l, u]) and
	// DualResidual is ‖Px + q + AᵀY‖∞, both unscaled, at X and Y.
	PrimalResidual, DualResidual float64
	// Polished tells whether polishing succeeded and produced X and Y.
	Polished bool
	// Certificate is, for StatusInfeasible, a vector δy (length m) with
	// Aᵀδy ≈ 0 and uᵀmax(δy,0) + lᵀmin(δy,0) < 0; for StatusUnbounded, a
	// direction δx (length n) with Pδx ≈ 0, qᵀδx < 0 and Aδx in the
	// recession cone of [l, u]. Nil otherwise.
	Certificate []float64
	// Rho is the final step size ρ of inequality rows (of the scaled
	// problem; equality rows use 1e3·Rho).
	Rho float64
	// SetupTime covers scaling and the first factorisation (zero on
	// re-solves); SolveTime covers the iterations and polishing.
	SetupTime, SolveTime time.Duration
}
