package plan

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"

	"gonum.org/v1/gonum/mat"

	"github.com/partita/partita/libs/qp"
)

// Sparse is a coupling row's coefficients over a part's variables.
type Sparse struct {
	Index []int
	Value []float64
}

// Part is one part's share of the job's QP: its own problem (the rows
// only it has, variable bounds among them) and its coefficients in the
// coupling rows. P must be diagonal (one variable per row of data).
type Part struct {
	Local    *qp.Problem
	Coupling map[Key]Sparse
	// Lower and Upper are the variable bounds (±Inf when open), for the
	// ranges of the coupling rows and the active set.
	Lower, Upper []float64
	// Groups are the rows of each one_per_group group, when the job
	// selects: Solve solves the relaxation (Σ x = 1 over each group, x in
	// its bounds), Select the selection itself. Local has no group rows.
	Groups [][]int

	once    sync.Once
	relaxed *qp.Problem // Local with the groups' rows

	// solver keeps the factorisation and the last iterate of a part that
	// is not separable: between trials and rounds only q changes.
	mu        sync.Mutex
	solver    *qp.Solver
	separable bool // solved in closed form: nothing to keep
}

// resolve solves the priced problem, re-using the part's solver (its
// factorisation, warm from the last solution) when the part is not
// separable and the solver is free; a concurrent solve gets its own.
// The kept solver has the settings of its first solve.
func (p *Part) resolve(ctx context.Context, priced *qp.Problem, s qp.Settings) (*qp.Result, error) {
	if !p.mu.TryLock() {
		return qp.Solve(ctx, priced, s)
	}
	defer p.mu.Unlock()
	if p.separable {
		return qp.Solve(ctx, priced, s)
	}
	if p.solver == nil {
		res, err := qp.Solve(ctx, priced, s)
		if err != nil || res.Method == qp.MethodSeparable {
			p.separable = err == nil
			return res, err
		}
		if p.solver, err = qp.NewSolver(priced, s); err != nil {
			return nil, err
		}
		if err := p.solver.WarmStart(res.X, res.Y); err != nil {
			return nil, err
		}
		return res, nil
	}
	if err := p.solver.UpdateLinearCost(priced.Q); err != nil {
		return nil, err
	}
	res, err := p.solver.Solve(ctx)
	if err != nil || res.Status == qp.StatusOptimal || res.Status == qp.StatusTimeLimit {
		return res, err
	}
	// A warm start that went astray (or an infeasibility certificate
	// found from it) is checked by a solve from scratch, which also
	// becomes the next warm start.
	fresh, err := qp.Solve(ctx, priced, s)
	if err == nil && fresh.Status == qp.StatusOptimal {
		err = p.solver.WarmStart(fresh.X, fresh.Y)
	}
	return fresh, err
}

// relaxation is the part's own problem as Solve solves it.
func (p *Part) relaxation() *qp.Problem {
	if p.Groups == nil {
		return p.Local
	}
	p.once.Do(func() {
		A := p.Local.A
		n, m := p.Local.NumVars(), p.Local.NumRows()
		t := qp.NewTriplets(m+len(p.Groups), n)
		if A != nil {
			for j := range A.Cols {
				for k := A.ColPtr[j]; k < A.ColPtr[j+1]; k++ {
					t.Add(A.RowIdx[k], j, A.Val[k])
				}
			}
		}
		l, u := slices.Clone(p.Local.L), slices.Clone(p.Local.U)
		for g, members := range p.Groups {
			for _, i := range members {
				t.Add(m+g, i, 1)
			}
			l, u = append(l, 1), append(u, 1)
		}
		aug, err := t.CSC()
		if err != nil { // the groups were checked when the part was built
			panic(fmt.Sprintf("plan: group rows: %v", err))
		}
		p.relaxed = &qp.Problem{P: p.Local.P, Q: p.Local.Q, A: aug, L: l, U: u}
	})
	return p.relaxed
}

// priced is prob with the prices' terms added to its linear term.
func (p *Part) priced(prob *qp.Problem, prices map[Key]float64) *qp.Problem {
	loc := *prob
	loc.Q = slices.Clone(prob.Q)
	for k, a := range p.Coupling {
		if lam := prices[k]; lam != 0 {
			for t, i := range a.Index {
				loc.Q[i] += lam * a.Value[t]
			}
		}
	}
	return &loc
}

// Coupled reports whether the part has a share in any coupling row.
func (p *Part) Coupled() bool { return len(p.Coupling) > 0 }

// Solve solves the part at prices λ and returns its solver result and its
// report. The result's Objective is the part's own objective f_p(x).
func (p *Part) Solve(ctx context.Context, prices map[Key]float64, s qp.Settings) (*qp.Result, Report, error) {
	local := p.relaxation()
	res, err := p.resolve(ctx, p.priced(local, prices), s)
	if err != nil || res.Status != qp.StatusOptimal {
		return res, Report{}, err
	}
	x := res.X
	diag := diagonal(p.Local.P, len(x))
	obj := p.objective(x, diag)
	res.Objective = obj
	r := Report{Objective: obj, Lagrangian: obj}
	if !p.Coupled() {
		return res, r, nil
	}
	r.Activity, r.Scale, r.Price, r.Range = map[Key]float64{}, map[Key]float64{}, map[Key]float64{}, map[Key]Range{}
	for k, a := range p.Coupling {
		act, scale := a.at(x)
		// The typical price: the median over the row's variables.
		var ratios []float64
		for t := range a.Index {
			if v, i := a.Value[t], a.Index[t]; v != 0 {
				ratios = append(ratios, math.Abs(diag[i]*x[i]+p.Local.Q[i])/math.Abs(v))
			}
		}
		r.Activity[k], r.Scale[k] = act, scale
		r.Lagrangian += prices[k] * act
		if len(prices) == 0 { // the ranges serve in round 0
			lo, hi := p.rangeOf(a)
			r.Range[k] = NewRange(lo, hi)
		}
		if len(ratios) > 0 {
			slices.Sort(ratios)
			r.Price[k] = ratios[len(ratios)/2]
		}
	}
	curv, err := p.curvature(local, res, diag)
	if err != nil {
		return res, Report{}, err
	}
	r.Curvature = curv
	return res, r, nil
}

// objective is the part's own objective f_p(x), diag P's diagonal.
func (p *Part) objective(x, diag []float64) float64 {
	f := 0.0
	for i, xi := range x {
		f += 0.5*diag[i]*xi*xi + p.Local.Q[i]*xi
	}
	return f
}

// at is the row's activity aᵀx and its scale Σ|a_i x_i|.
func (a Sparse) at(x []float64) (act, scale float64) {
	for t, i := range a.Index {
		v := a.Value[t] * x[i]
		act, scale = act+v, scale+math.Abs(v)
	}
	return act, scale
}

// rangeOf is the least and greatest value of a coupling row over the
// part's variable bounds and, when it selects, its groups' rows (one
// member of each group, or a mix, at 1): the relaxation's range, which
// holds every selection.
func (p *Part) rangeOf(a Sparse) (lo, hi float64) {
	coef := make(map[int]float64, len(a.Index))
	for t, i := range a.Index {
		coef[i] += a.Value[t]
	}
	for _, members := range p.Groups {
		gl, gh := math.Inf(1), math.Inf(-1)
		for _, i := range members {
			v := coef[i] // 0 for a member outside the row
			gl, gh = math.Min(gl, v), math.Max(gh, v)
			delete(coef, i)
		}
		lo, hi = lo+gl, hi+gh
	}
	for i, v := range coef {
		lo += math.Min(v*p.Lower[i], v*p.Upper[i])
		hi += math.Max(v*p.Lower[i], v*p.Upper[i])
	}
	if math.IsNaN(lo) { // 0·Inf: a zero coefficient on an open variable
		lo = 0
	}
	if math.IsNaN(hi) {
		hi = 0
	}
	return lo, hi
}

func diagonal(P *qp.CSC, n int) []float64 {
	d := make([]float64, n)
	for j := range n {
		for t := P.ColPtr[j]; t < P.ColPtr[j+1]; t++ {
			if P.RowIdx[t] == j {
				d[j] += P.Val[t]
			}
		}
	}
	return d
}

// curvature is A_c S A_cᵀ, S the sensitivity of the solution to the
// linear term on the active set: variables at a bound are fixed; the other
// active rows E restrict the free ones, S = D⁻¹ − D⁻¹Eᵀ(E D⁻¹ Eᵀ)⁻¹E D⁻¹
// with D the (diagonal) curvature of the free variables.
func (p *Part) curvature(local *qp.Problem, res *qp.Result, diag []float64) ([]Curv, error) {
	x := res.X
	n := len(x)
	fixed := make([]bool, n)
	floor := 0.0
	for _, d := range diag {
		floor = math.Max(floor, d)
	}
	floor = math.Max(floor*1e-9, 1e-12)
	for i := range n {
		// A variable at a bound does not move with the prices; one without
		// curvature of its own jumps rather than moves (the dual is linear
		// around it, with a kink where it jumps): neither contributes.
		tol := 1e-9 * math.Max(1, math.Max(math.Abs(p.Lower[i]), math.Abs(p.Upper[i])))
		fixed[i] = x[i]-p.Lower[i] <= tol || p.Upper[i]-x[i] <= tol || diag[i] <= floor
	}
	dinv := make([]float64, n)
	for i := range n {
		if !fixed[i] {
			dinv[i] = 1 / math.Max(diag[i], floor)
		}
	}
	// Active rows of the part's own problem that are not variable bounds.
	A := local.A
	ax := make([]float64, A.Rows)
	rowsOf := make([][]int, A.Rows) // free columns of each row
	vals := make([][]float64, A.Rows)
	single := make([]int, A.Rows) // nonzeros per row, to tell variable bounds apart
	for j := range A.Cols {
		for t := A.ColPtr[j]; t < A.ColPtr[j+1]; t++ {
			r := A.RowIdx[t]
			ax[r] += A.Val[t] * x[j]
			single[r]++
			if !fixed[j] {
				rowsOf[r] = append(rowsOf[r], j)
				vals[r] = append(vals[r], A.Val[t])
			}
		}
	}
	var active []int
	for r := range A.Rows {
		if single[r] <= 1 || len(rowsOf[r]) == 0 {
			continue
		}
		tol := 1e-9 * math.Max(1, math.Abs(ax[r]))
		if (ax[r]-local.L[r] <= tol || local.U[r]-ax[r] <= tol) && res.Y[r] != 0 {
			active = append(active, r)
		}
	}
	keys := make([]Key, 0, len(p.Coupling))
	for k := range p.Coupling {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	m, e := len(keys), len(active)
	// M = A_c D⁻¹ A_cᵀ, C = E D⁻¹ Eᵀ and G = E D⁻¹ A_cᵀ, summed over the
	// free variables from each one's rows (sparse: a variable is in a few
	// rows, so this is linear in the part's nonzeros).
	type entry struct {
		row int
		v   float64
	}
	coupling := make([][]entry, n) // the coupling rows of each variable
	for a, k := range keys {
		c := p.Coupling[k]
		for t, i := range c.Index {
			if dinv[i] != 0 {
				coupling[i] = append(coupling[i], entry{a, c.Value[t]})
			}
		}
	}
	M := mat.NewDense(m, m, nil)
	for i, es := range coupling {
		for _, x := range es {
			for _, y := range es {
				M.Set(x.row, y.row, M.At(x.row, y.row)+x.v*dinv[i]*y.v)
			}
		}
	}
	if e > 0 {
		own := make([][]entry, n) // the active rows of each free variable
		for u, r := range active {
			for t, i := range rowsOf[r] {
				own[i] = append(own[i], entry{u, vals[r][t]})
			}
		}
		C := mat.NewSymDense(e, nil)
		G := mat.NewDense(e, m, nil)
		for i, es := range own {
			for _, x := range es {
				for _, y := range es {
					if x.row <= y.row {
						C.SetSym(x.row, y.row, C.At(x.row, y.row)+x.v*dinv[i]*y.v)
					}
				}
				for _, y := range coupling[i] {
					G.Set(x.row, y.row, G.At(x.row, y.row)+x.v*dinv[i]*y.v)
				}
			}
		}
		var chol mat.Cholesky
		if !chol.Factorize(C) {
			// Dependent active rows: regularise slightly.
			reg := mat.NewSymDense(e, nil)
			tr := 0.0
			for u := range e {
				tr += C.At(u, u)
			}
			for u := range e {
				for w := u; w < e; w++ {
					reg.SetSym(u, w, C.At(u, w))
				}
				reg.SetSym(u, u, C.At(u, u)+1e-10*(tr/float64(e)+1e-300))
			}
			if !chol.Factorize(reg) {
				return nil, fmt.Errorf("plan: the part's active rows are degenerate")
			}
		}
		var CG mat.Dense
		if err := chol.SolveTo(&CG, G); err != nil {
			return nil, fmt.Errorf("plan: sensitivity: %w", err)
		}
		var GtCG mat.Dense
		GtCG.Mul(G.T(), &CG)
		M.Sub(M, &GtCG)
	}
	var out []Curv
	for a := range m {
		for b := a; b < m; b++ {
			if v := M.At(a, b); v != 0 {
				out = append(out, Curv{J: keys[a], K: keys[b], V: v})
			}
		}
	}
	return out, nil
}
