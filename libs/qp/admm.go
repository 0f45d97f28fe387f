package qp

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// Solve runs ADMM from the current iterate until the tolerances are met, an
// infeasibility certificate is found, or a limit is reached. A context
// deadline ends the solve with StatusTimeLimit; a cancelled context returns
// an error wrapping context.Canceled.
func (s *Solver) Solve(ctx context.Context) (*Result, error) {
	start := time.Now()
	deadline, hasDeadline := s.deadline(ctx, start)
	res := &Result{Status: StatusMaxIter}
	st := s.settings
	s.haveTried = false
	early := earlyPolishSchedule{next: firstEarlyPolish, gap: firstEarlyPolish}
	adaptive := rhoSchedule{next: st.AdaptiveRhoInterval, gap: st.AdaptiveRhoInterval}
	res.Method = MethodADMM
	switchAt := -1 // ADMM iteration after which the interior-point method runs
	switch st.Method {
	case MethodAuto:
		switchAt = s.ipmSwitchIteration()
	case MethodIPM:
		switchAt = 0
	}
	done := false
	if switchAt == 0 {
		var err error
		if done, err = s.runIPM(ctx, deadline, hasDeadline, res); err != nil {
			return nil, err
		}
	}
	for iter := 1; !done && iter <= st.MaxIter; iter++ {
		if err := ctx.Err(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("qp solve interrupted after %d iterations: %w", iter-1, err)
		}
		if hasDeadline && !time.Now().Before(deadline) {
			res.Status = StatusTimeLimit
			break
		}
		s.admmStep()
		res.Iterations = iter
		check := iter%st.CheckInterval == 0 || iter == st.MaxIter
		adapt := st.AdaptiveRho && iter == adaptive.next
		if check || adapt {
			r := s.residuals()
			if check && s.terminate(r, res, iter, &early) {
				break
			}
			if adapt {
				changed, err := s.adaptRho(r)
				if err != nil {
					return nil, fmt.Errorf("qp solve: %w", err)
				}
				adaptive.advance(iter, changed)
			}
		}
		if iter == switchAt {
			var err error
			if done, err = s.runIPM(ctx, deadline, hasDeadline, res); err != nil {
				return nil, err
			}
		}
	}
	s.finish(res)
	res.SolveTime = time.Since(start)
	if !s.setupReported {
		res.SetupTime = s.setupTime
		s.setupReported = true
	}
	return res, nil
}

// runIPM runs the interior-point method and records its outcome in res;
// it reports whether the solve is over (optimal, or out of time). When the
// method fails, ADMM continues from its own iterate.
func (s *Solver) runIPM(ctx context.Context, deadline time.Time, hasDeadline bool, res *Result) (bool, error) {
	saved := s.saveIterate()
	out, err := newIPM(s).run(ctx, deadline, hasDeadline)
	if err != nil {
		return false, err
	}
	res.IPMIterations = out.iterations
	switch {
	case out.optimal:
		res.Status = StatusOptimal
		res.Method = MethodIPM
		res.Polished = out.polished
		return true, nil
	case out.timeLimit:
		s.restoreIterate(saved)
		res.Status = StatusTimeLimit
		return true, nil
	}
	s.restoreIterate(saved)
	return false, nil
}

// savedIterate is a copy of the ADMM iterate.
type savedIterate struct{ x, y, z []float64 }

func (s *Solver) saveIterate() savedIterate {
	return savedIterate{append([]float64(nil), s.x...), append([]float64(nil), s.y...), append([]float64(nil), s.z...)}
}

func (s *Solver) restoreIterate(v savedIterate) {
	copy(s.x, v.x)
	copy(s.y, v.y)
	copy(s.z, v.z)
}

// deadline returns the earlier of the context deadline and the time limit.
func (s *Solver) deadline(ctx context.Context, start time.Time) (time.Time, bool) {
	deadline, ok := ctx.Deadline()
	if s.settings.TimeLimit > 0 {
		limit := start.Add(s.settings.TimeLimit)
		if !ok || limit.Before(deadline) {
			return limit, true
		}
	}
	return deadline, ok
}

// rhoSchedule spaces the adaptations of ρ: the first after
// AdaptiveRhoInterval iterations, and the gap doubles every time ρ
// actually changes. ADMM converges for any fixed ρ but not necessarily
// while ρ keeps moving; on nearly linear problems (a few coupling rows whose
// duals build up slowly, as in the fleet shape) the residual-ratio estimate
// swings by orders of magnitude and resetting ρ every few dozen iterations
// kept the iteration from ever settling. Doubling bounds the number of
// refactorisations by log₂ of the iteration count, so ρ settles in the end.
type rhoSchedule struct {
	next, gap int
}

// advance schedules the adaptation after the one at iter.
func (r *rhoSchedule) advance(iter int, changed bool) {
	if changed {
		r.gap *= 2
	}
	r.next = iter + r.gap
}

// earlyPolishSchedule spaces early polishing attempts: the first at
// iteration next, then gaps growing by half after every attempt.
type earlyPolishSchedule struct {
	next, gap int
}

// terminate tests the iterate for optimality and infeasibility, polishes,
// and records the final status in res; it reports whether to stop.
func (s *Solver) terminate(r residuals, res *Result, iter int, early *earlyPolishSchedule) bool {
	if status, done := s.checkTermination(r); done {
		res.Status = status
		if status == StatusOptimal && s.settings.Polish {
			res.Polished = s.polishOptimal(r)
		}
		return true
	}
	if !s.settings.Polish || iter < early.next {
		return false
	}
	attempted, optimal := s.tryEarlyPolish()
	if optimal {
		res.Status = StatusOptimal
		res.Polished = true
		return true
	}
	if attempted {
		early.next = iter + early.gap
		early.gap += early.gap / 2
	}
	return false
}

// admmStep performs one ADMM iteration of OSQP (Algorithm 1 of the paper).
func (s *Solver) admmStep() {
	n := s.n
	alpha := s.settings.Alpha
	sigma := s.settings.Sigma
	copy(s.xPrev, s.x)
	copy(s.zPrev, s.z)
	for j := 0; j < n; j++ {
		s.rhs[j] = sigma*s.xPrev[j] - s.q[j]
	}
	for i := 0; i < s.m; i++ {
		s.rhs[n+i] = s.zPrev[i] - s.rhoInv[i]*s.y[i]
	}
	s.kkt.solve(s.rhs)
	for j := 0; j < n; j++ {
		s.x[j] = alpha*s.rhs[j] + (1-alpha)*s.xPrev[j]
		s.deltaX[j] = s.x[j] - s.xPrev[j]
	}
	for i := 0; i < s.m; i++ {
		zTilde := s.zPrev[i] + s.rhoInv[i]*(s.rhs[n+i]-s.y[i])
		v := alpha*zTilde + (1-alpha)*s.zPrev[i] + s.rhoInv[i]*s.y[i]
		zNew := clamp(v, s.l[i], s.u[i])
		yNew := s.rhoVec[i] * (v - zNew)
		s.deltaY[i] = yNew - s.y[i]
		s.y[i] = yNew
		s.z[i] = zNew
	}
}

// adaptRho rescales ρ by the square root of the ratio of the relative
// primal and dual residuals (scaled), and refactorises when it moved enough;
// it reports whether ρ changed.
func (s *Solver) adaptRho(r residuals) (bool, error) {
	prim := r.primScaled / (r.primNormScaled + 1e-10)
	dual := r.dualScaled / (r.dualNormScaled + 1e-10)
	next := clamp(s.rho*math.Sqrt(prim/(dual+1e-10)), rhoMin, rhoMax)
	tol := s.settings.AdaptiveRhoTolerance
	if next > s.rho*tol || next < s.rho/tol {
		s.rho = next
		s.setRhoVector()
		return true, s.kkt.updateRho(s.negInvRho)
	}
	return false, nil
}

// finish polishes an optimal point, unscales the iterate into res and fills
// in the objective and the residuals measured on the original data.
func (s *Solver) finish(res *Result) {
	res.Rho = s.rho
	res.X = make([]float64, s.n)
	for j := range res.X {
		res.X[j] = s.x[j] * s.sc.d[j]
	}
	res.Y = make([]float64, s.m)
	for i := range res.Y {
		res.Y[i] = s.y[i] * s.sc.e[i] * s.sc.cinv
	}
	switch res.Status {
	case StatusInfeasible:
		res.Certificate = s.primalCertificate()
		res.Objective = math.NaN()
	case StatusUnbounded:
		res.Certificate = s.dualCertificate()
		res.Objective = math.NaN()
	default:
		res.Objective = s.orig.Objective(res.X)
	}
	res.PrimalResidual, res.DualResidual = kktResiduals(&s.orig, res.X, res.Y)
}

// kktResiduals returns the distance of Ax from [l, u] and ‖Px + q + Aᵀy‖∞
// on the unscaled problem.
func kktResiduals(p *Problem, x, y []float64) (prim, dual float64) {
	a := p.matA()
	ax := make([]float64, a.Rows)
	a.mulVec(ax, x)
	for i, v := range ax {
		prim = math.Max(prim, math.Abs(v-clamp(v, p.L[i], p.U[i])))
	}
	grad := make([]float64, len(x))
	p.matP().symMulVec(grad, x)
	aty := make([]float64, len(x))
	a.mulTransVec(aty, y)
	for j := range grad {
		dual = math.Max(dual, math.Abs(grad[j]+p.Q[j]+aty[j]))
	}
	return prim, dual
}
