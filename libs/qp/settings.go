package qp

import (
	"fmt"
	"time"
)

// Method selects the algorithm of Solver.Solve.
type Method int

// Methods. Every method keeps ADMM's infeasibility detection: when the
// interior-point method does not reach the tolerances, ADMM continues from
// where it was (MethodAuto) or from the start (MethodIPM).
const (
	// MethodAuto runs ADMM and switches to the interior-point method when
	// ADMM has not converged after as many iterations as the
	// interior-point method is estimated to cost (from the flop counts of
	// the factorisation and of a solve; at least 200 iterations and at
	// most MaxIter). It is the zero value.
	MethodAuto Method = iota
	// MethodADMM runs ADMM only.
	MethodADMM
	// MethodIPM runs the interior-point method first.
	MethodIPM
	// MethodSeparable is not a setting: it is reported when Solve found the
	// problem separable (P diagonal, every row of A on one variable) and
	// solved it in closed form, without iterations.
	MethodSeparable
)

// String returns "auto", "admm", "ipm" or "separable".
func (m Method) String() string {
	switch m {
	case MethodAuto:
		return "auto"
	case MethodADMM:
		return "admm"
	case MethodIPM:
		return "ipm"
	case MethodSeparable:
		return "separable"
	}
	return "unknown"
}

// Settings tunes the solver. Start from DefaultSettings and change fields.
type Settings struct {
	// Rho is the initial ADMM step size ρ (equality rows use 1e3·ρ).
	Rho float64
	// Sigma regularises the x block of the KKT system.
	Sigma float64
	// Alpha is the relaxation parameter, in (0, 2).
	Alpha float64
	// AdaptiveRho rescales ρ when the estimate differs from the current ρ
	// by more than AdaptiveRhoTolerance times (which costs a numeric
	// refactorisation). The estimate is first taken after
	// AdaptiveRhoInterval iterations and then every AdaptiveRhoInterval
	// iterations, a gap that doubles each time ρ changes, so that ρ settles.
	AdaptiveRho          bool
	AdaptiveRhoInterval  int
	AdaptiveRhoTolerance float64
	// ScalingIterations is the number of Ruiz equilibration passes (0: none).
	ScalingIterations int
	// MaxIter bounds the ADMM iterations.
	MaxIter int
	// EpsAbs and EpsRel are the absolute and relative tolerances on the
	// unscaled residuals: every row must satisfy |(Ax)ᵢ−zᵢ| ≤ EpsAbs +
	// EpsRel·max(|(Ax)ᵢ|, |zᵢ|) (row-wise, stricter than OSQP's norm test),
	// ‖Px+q+Aᵀy‖∞ ≤ EpsAbs + EpsRel·max(‖Px‖∞, ‖Aᵀy‖∞, ‖q‖∞), and the
	// duality gap |f(x) − g(y)| ≤ EpsAbs + EpsRel·max(|f(x)|, |g(y)|) with
	// g(y) = −½xᵀPx − Σᵢ (uᵢ·max(yᵢ,0) + lᵢ·min(yᵢ,0)).
	EpsAbs, EpsRel float64
	// EpsPrimalInf and EpsDualInf are the tolerances of the primal and
	// dual infeasibility certificates.
	EpsPrimalInf, EpsDualInf float64
	// CheckInterval is how often (in iterations) termination is tested.
	CheckInterval int
	// Polish refines an optimal ADMM point by solving the KKT system of its
	// guessed active set; PolishDelta regularises that system and
	// PolishRefineIter is the number of iterative refinement steps.
	Polish           bool
	PolishDelta      float64
	PolishRefineIter int
	// Method selects ADMM, the interior-point method, or ADMM with a switch
	// to the interior-point method (the default); see Method.
	Method Method
	// IPMMaxIter bounds the iterations of the interior-point method
	// (Mehrotra's predictor–corrector on the same sparse LDLᵀ analysis,
	// with the same tolerances and polishing). On fleet parts with their
	// own budget and crew rows the count grows with size (53 at 20,000
	// rows, 99 at 50,000, 129 at 100,000, 169 at 200,000): the default
	// leaves room for the largest part a spec may ask for.
	IPMMaxIter int
	// TimeLimit bounds each call of Solver.Solve, from its start (0: no
	// limit; scaling and factorisation in NewSolver are not counted). A
	// context deadline is honoured as well; whichever comes first ends the
	// solve with StatusTimeLimit.
	TimeLimit time.Duration
}

// DefaultSettings returns the settings used when none are given.
func DefaultSettings() Settings {
	return Settings{
		Rho:                  0.1,
		Sigma:                1e-6,
		Alpha:                1.6,
		AdaptiveRho:          true,
		AdaptiveRhoInterval:  25,
		AdaptiveRhoTolerance: 5,
		ScalingIterations:    10,
		MaxIter:              20000,
		EpsAbs:               1e-6,
		EpsRel:               1e-6,
		EpsPrimalInf:         1e-6,
		EpsDualInf:           1e-6,
		CheckInterval:        10,
		Polish:               true,
		PolishDelta:          1e-7,
		PolishRefineIter:     5,
		Method:               MethodAuto,
		IPMMaxIter:           500,
	}
}

// Validate reports settings outside their domain, wrapping ErrSettings.
func (s Settings) Validate() error {
	switch {
	case !(s.Rho > 0):
		return fmt.Errorf("%w: Rho = %v must be positive", ErrSettings, s.Rho)
	case !(s.Sigma > 0):
		return fmt.Errorf("%w: Sigma = %v must be positive", ErrSettings, s.Sigma)
	case !(s.Alpha > 0 && s.Alpha < 2):
		return fmt.Errorf("%w: Alpha = %v must be in (0, 2)", ErrSettings, s.Alpha)
	case s.AdaptiveRho && (s.AdaptiveRhoInterval <= 0 || !(s.AdaptiveRhoTolerance >= 1)):
		return fmt.Errorf("%w: adaptive ρ needs a positive interval and a tolerance ≥ 1", ErrSettings)
	case s.ScalingIterations < 0:
		return fmt.Errorf("%w: ScalingIterations = %d is negative", ErrSettings, s.ScalingIterations)
	case s.MaxIter <= 0:
		return fmt.Errorf("%w: MaxIter = %d must be positive", ErrSettings, s.MaxIter)
	case !(s.EpsAbs >= 0) || !(s.EpsRel >= 0) || s.EpsAbs+s.EpsRel == 0:
		return fmt.Errorf("%w: EpsAbs and EpsRel must be non-negative and not both zero", ErrSettings)
	case !(s.EpsPrimalInf > 0) || !(s.EpsDualInf > 0):
		return fmt.Errorf("%w: infeasibility tolerances must be positive", ErrSettings)
	case s.CheckInterval <= 0:
		return fmt.Errorf("%w: CheckInterval = %d must be positive", ErrSettings, s.CheckInterval)
	case s.Polish && (!(s.PolishDelta > 0) || s.PolishRefineIter < 0):
		return fmt.Errorf("%w: polishing needs PolishDelta > 0 and PolishRefineIter ≥ 0", ErrSettings)
	case s.Method < MethodAuto || s.Method > MethodIPM:
		return fmt.Errorf("%w: unknown Method %d", ErrSettings, int(s.Method))
	case s.Method != MethodADMM && s.IPMMaxIter <= 0:
		return fmt.Errorf("%w: IPMMaxIter = %d must be positive", ErrSettings, s.IPMMaxIter)
	case s.TimeLimit < 0:
		return fmt.Errorf("%w: TimeLimit = %v is negative", ErrSettings, s.TimeLimit)
	}
	return nil
}
