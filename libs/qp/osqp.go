package qp

import (
	"context"
	"fmt"
	"math"
	"time"
)

// Limits and kinds of the per-row step size ρ, as in OSQP.
const (
	rhoMin      = 1e-6
	rhoMax      = 1e6
	rhoEqFactor = 1e3  // equality rows get ρ·rhoEqFactor
	rhoEqTol    = 1e-4 // |u−l| below this (scaled) makes a row an equality
	divisionTol = 1e-30
	// firstEarlyPolish is the iteration of the first early polishing
	// attempt; the gap between attempts grows by half after each one.
	firstEarlyPolish = 25
)

// Row kinds that decide the step size of a constraint row.
const (
	rowInequality int8 = iota
	rowEquality
	rowFree // l = −∞ and u = +∞
)

// Solver solves one problem, possibly several times with changed q or
// bounds. Each Solve starts from the previous iterate (or from WarmStart).
// A Solver is not safe for concurrent use.
type Solver struct {
	settings Settings
	orig     Problem // validated copy of the caller's data
	n, m     int

	// Scaled data.
	p, a    *CSC
	q, l, u []float64
	sc      *scaling

	rho       float64
	rowKind   []int8
	rhoVec    []float64
	rhoInv    []float64
	negInvRho []float64
	kkt       *kktSystem
	polishKKT *kktSystem // polishing system on kkt's analysis, made on first use

	// Scaled iterates and work vectors.
	x, y, z       []float64
	xPrev, zPrev  []float64
	deltaX        []float64
	deltaY        []float64
	rhs           []float64
	ax, px, aty   []float64
	workN, workM  []float64
	sides         []int8 // active-set guess for polishing
	triedSides    []int8 // guess of the last early polish attempt
	haveTried     bool   // triedSides is set (reset by every Solve)
	setupTime     time.Duration
	setupReported bool
}

// Solve solves p once with settings s (use DefaultSettings() for defaults).
// A separable problem (P diagonal, every row of A on one variable) that is
// feasible and bounded is solved in closed form.
func Solve(ctx context.Context, p *Problem, s Settings) (*Result, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if p.NumVars() > 0 {
		if res, ok := solveSeparable(p); ok {
			return res, nil
		}
	}
	solver, err := NewSolver(p, s)
	if err != nil {
		return nil, err
	}
	return solver.Solve(ctx)
}

// NewSolver validates p and s, scales the problem and factorises the KKT
// system. The problem data are copied.
func NewSolver(p *Problem, s Settings) (*Solver, error) {
	start := time.Now()
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	n, m := p.NumVars(), p.NumRows()
	if n == 0 {
		return nil, fmt.Errorf("%w: problem has no variables", ErrDimension)
	}
	sv := &Solver{
		settings: s,
		orig: Problem{
			P: p.matP().clone(), Q: append([]float64(nil), p.Q...), A: p.matA().clone(),
			L: append([]float64(nil), p.L...), U: append([]float64(nil), p.U...),
		},
		n: n, m: m,
		p: p.matP().clone(), a: p.matA().clone(),
		q:   append([]float64(nil), p.Q...),
		rho: s.Rho,
	}
	sv.sc = equilibrate(sv.p, sv.a, sv.q, s.ScalingIterations)
	sv.l = sv.sc.scaleBounds(p.L)
	sv.u = sv.sc.scaleBounds(p.U)
	sv.rowKind = make([]int8, m)
	sv.rhoVec = make([]float64, m)
	sv.rhoInv = make([]float64, m)
	sv.negInvRho = make([]float64, m)
	sv.classifyRows()
	sv.setRhoVector()
	kkt, err := newKKT(sv.p, sv.a, s.Sigma, sv.negInvRho)
	if err != nil {
		return nil, fmt.Errorf("qp setup: %w", err)
	}
	sv.kkt = kkt
	sv.x = make([]float64, n)
	sv.y = make([]float64, m)
	sv.z = make([]float64, m)
	sv.xPrev = make([]float64, n)
	sv.zPrev = make([]float64, m)
	sv.deltaX = make([]float64, n)
	sv.deltaY = make([]float64, m)
	sv.rhs = make([]float64, n+m)
	sv.ax = make([]float64, m)
	sv.px = make([]float64, n)
	sv.aty = make([]float64, n)
	sv.workN = make([]float64, n)
	sv.workM = make([]float64, m)
	sv.sides = make([]int8, m)
	sv.triedSides = make([]int8, m)
	sv.setupTime = time.Since(start)
	return sv, nil
}

// classifyRows sets the kind of every row from the scaled bounds and
// reports whether any kind changed.
func (s *Solver) classifyRows() bool {
	changed := false
	for i := range s.rowKind {
		kind := rowInequality
		switch {
		case math.IsInf(s.l[i], -1) && math.IsInf(s.u[i], 1):
			kind = rowFree
		case s.u[i]-s.l[i] < rhoEqTol:
			kind = rowEquality
		}
		if kind != s.rowKind[i] {
			changed = true
			s.rowKind[i] = kind
		}
	}
	return changed
}

// setRhoVector derives the per-row ρ from s.rho and the row kinds.
func (s *Solver) setRhoVector() {
	for i, kind := range s.rowKind {
		r := s.rho
		switch kind {
		case rowEquality:
			r = rhoEqFactor * s.rho
		case rowFree:
			r = rhoMin
		}
		s.rhoVec[i] = r
		s.rhoInv[i] = 1 / r
		s.negInvRho[i] = -1 / r
	}
}

// WarmStart sets the starting point of the next Solve to the unscaled
// primal x (length n) and dual y (length m); a nil slice means zeros.
func (s *Solver) WarmStart(x, y []float64) error {
	if (x != nil && len(x) != s.n) || (y != nil && len(y) != s.m) {
		return fmt.Errorf("%w: warm start has len(x) = %d, len(y) = %d, want %d and %d", ErrDimension, len(x), len(y), s.n, s.m)
	}
	for j := range s.x {
		s.x[j] = 0
		if x != nil {
			s.x[j] = x[j] * s.sc.dinv[j]
		}
	}
	for i := range s.y {
		s.y[i] = 0
		if y != nil {
			s.y[i] = y[i] * s.sc.einv[i] * s.sc.c
		}
	}
	s.a.mulVec(s.z, s.x)
	for i := range s.z {
		s.z[i] = clamp(s.z[i], s.l[i], s.u[i])
	}
	return nil
}

// UpdateLinearCost replaces q (length n). The scaling is kept.
func (s *Solver) UpdateLinearCost(q []float64) error {
	if len(q) != s.n {
		return fmt.Errorf("%w: len(q) = %d, want %d", ErrDimension, len(q), s.n)
	}
	if err := checkFinite("q", q); err != nil {
		return err
	}
	copy(s.orig.Q, q)
	for j, v := range q {
		s.q[j] = v * s.sc.d[j] * s.sc.c
	}
	return nil
}

// UpdateBounds replaces l and u (length m). When a row changes between
// equality and inequality, the KKT system is refactorised.
func (s *Solver) UpdateBounds(l, u []float64) error {
	if len(l) != s.m || len(u) != s.m {
		return fmt.Errorf("%w: len(l) = %d, len(u) = %d, want %d", ErrDimension, len(l), len(u), s.m)
	}
	if err := checkBounds(l, u); err != nil {
		return fmt.Errorf("updating bounds: %w", err)
	}
	copy(s.orig.L, l)
	copy(s.orig.U, u)
	for i := range l {
		s.l[i] = l[i] * s.sc.e[i]
		s.u[i] = u[i] * s.sc.e[i]
	}
	if s.classifyRows() {
		s.setRhoVector()
		if err := s.kkt.updateRho(s.negInvRho); err != nil {
			return fmt.Errorf("updating bounds: %w", err)
		}
	}
	return nil
}
