// Package maros builds problems of the Maros–Mészáros convex QP test set
// (I. Maros and C. Mészáros, "A repository of convex quadratic programming
// problems", Optimization Methods and Software 11–12, 1999) as qp.Problem
// values, for tests and benchmarks of package qp.
//
// Only problems defined by formulas are here: each generator follows the
// problem's definition (for the CUTE problems, the SIF file of its
// author, at the parameters the set uses) and was written from that
// definition; no data file of the set is used. Published holds the optimal
// objective of the repository's listing (00readme.qp of the QPDATA
// distribution, October 1998: "solution value obtained by the default
// settings of BPMPD solver"), which includes the objective's constant term;
// Problem has no constant term, so it is kept in Constant.
//
// Every generator reproduces the listing's size (rows, variables, entries
// of A, quadratic variables and off-diagonal entries of Q; TestSizes),
// except for coefficients the QPS files round to zero (KSIP, HUES-MOD,
// HUESTIS). Four problems depart from the listing's optimum (see
// Case.Departs): GOULDQP3, LISWET5 and LISWET6, whose SIF definitions at
// hand give other optima (confirmed with CVXOPT), and LISWET8, whose
// listed optimum has its exponent off by one.
package maros

import (
	"fmt"
	"math"
	"sort"

	"github.com/partita/partita/libs/qp"
)

// Case is one problem of the set.
type Case struct {
	Name string
	// Problem is the QP: its first Listed.M rows are the constraints of the
	// set's formulation (Ax = b rows and ranges), the rest are variable
	// bounds as identity rows (only for variables with a finite bound).
	Problem *qp.Problem
	// Constant is the constant term of the objective.
	Constant float64
	// Published is the optimal objective of the listing, constant included.
	Published float64
	// Listed is the size the listing gives: M rows, N variables, NZ
	// entries of A, QN variables with a quadratic term and QNZ entries of
	// the strict lower triangle of Q.
	Listed Size
	// Note records what the generator does where the definition leaves a
	// choice, or where the problem departs from the listing.
	Note string
	// Departs, when set, explains why the optimum of the problem as built
	// is not the listing's (a definition that differs from the one the set
	// was made from, or an erratum of the listing). Reference is then the
	// optimum of the problem as built, checked with an independent solver
	// (CVXOPT, see bench/cvxopt_maros.py --tol 1e-10).
	Departs   string
	Reference float64
	// Heavy marks problems whose KKT factorisation alone costs billions of
	// flops (the CVXQP*_L instances): minutes for this package's solver.
	Heavy bool
}

// Size is a row of the listing.
type Size struct {
	M, N, NZ, QN, QNZ int
}

// Large reports whether the problem has at least 10000 variables.
func (c Case) Large() bool { return c.Listed.N >= 10000 }

// Target returns the optimum the solver is held to: Reference when the
// problem departs from the listing, Published otherwise.
func (c Case) Target() float64 {
	if c.Departs != "" {
		return c.Reference
	}
	return c.Published
}

// Objective returns the set's objective at x: the QP objective plus the
// constant.
func (c Case) Objective(x []float64) float64 {
	return c.Problem.Objective(x) + c.Constant
}

// Cases returns every problem of this package, small ones first within
// each family.
func Cases() []Case {
	var out []Case
	for _, g := range generators {
		m, listed, published := g.build()
		out = append(out, Case{
			Name:      g.name,
			Problem:   m.problem(),
			Constant:  m.c,
			Published: published,
			Listed:    listed,
			Note:      g.note,
			Departs:   g.departs,
			Reference: g.reference,
			Heavy:     g.heavy,
		})
	}
	return out
}

// Names lists the problems of Cases, in order.
func Names() []string {
	names := make([]string, len(generators))
	for i, g := range generators {
		names[i] = g.name
	}
	return names
}

// Get builds one problem by name.
func Get(name string) (Case, error) {
	for _, g := range generators {
		if g.name == name {
			m, listed, published := g.build()
			return Case{Name: g.name, Problem: m.problem(), Constant: m.c, Published: published, Listed: listed,
				Note: g.note, Departs: g.departs, Reference: g.reference, Heavy: g.heavy}, nil
		}
	}
	return Case{}, fmt.Errorf("maros: no problem %q", name)
}

// generator builds one problem: the model, the listing's size and the
// published optimum.
type generator struct {
	name      string
	build     func() (*model, Size, float64)
	note      string
	departs   string
	reference float64
	heavy     bool
}

var inf = math.Inf(1)

// model collects a QP: ½xᵀPx + qᵀx + c subject to general rows and
// variable bounds (free by default).
type model struct {
	n      int
	p      map[[2]int]float64 // upper triangle
	q      []float64
	c      float64
	rows   []row
	lo, hi []float64
}

type row struct {
	idx  []int
	val  []float64
	l, u float64
}

func newModel(n int) *model {
	m := &model{n: n, p: map[[2]int]float64{}, q: make([]float64, n), lo: make([]float64, n), hi: make([]float64, n)}
	for j := range m.lo {
		m.lo[j], m.hi[j] = -inf, inf
	}
	return m
}

// nonNegative sets 0 ≤ x (the default bound of SIF) for every variable.
func (m *model) nonNegative() {
	for j := range m.lo {
		m.lo[j], m.hi[j] = 0, inf
	}
}

// bound sets lo ≤ x_j ≤ hi.
func (m *model) bound(j int, lo, hi float64) { m.lo[j], m.hi[j] = lo, hi }

// quad adds v·x_i·x_j to the objective (v·x_i² when i = j).
func (m *model) quad(i, j int, v float64) {
	if i > j {
		i, j = j, i
	}
	if i == j {
		v *= 2
	}
	m.p[[2]int{i, j}] += v
}

// square adds w·(Σ a_k x_{idx_k} − b)² to the objective; repeated indices
// add up.
func (m *model) square(w float64, idx []int, a []float64, b float64) {
	merged := map[int]float64{}
	for k, j := range idx {
		merged[j] += a[k]
	}
	keys := make([]int, 0, len(merged))
	for j := range merged {
		keys = append(keys, j)
	}
	sort.Ints(keys)
	for x, i := range keys {
		ai := merged[i]
		m.p[[2]int{i, i}] += 2 * w * ai * ai
		for _, j := range keys[x+1:] {
			m.p[[2]int{i, j}] += 2 * w * ai * merged[j]
		}
		m.q[i] -= 2 * w * b * ai
	}
	m.c += w * b * b
}

// addRow adds l ≤ Σ a_k x_{idx_k} ≤ u; repeated indices add up.
func (m *model) addRow(idx []int, a []float64, l, u float64) {
	m.rows = append(m.rows, row{append([]int(nil), idx...), append([]float64(nil), a...), l, u})
}

// problem returns the QP: the rows, then a bound row for every variable
// with a finite bound.
func (m *model) problem() *qp.Problem {
	pt := qp.NewTriplets(m.n, m.n)
	for k, v := range m.p {
		if v != 0 {
			pt.Add(k[0], k[1], v)
		}
	}
	var bounded []int
	for j := 0; j < m.n; j++ {
		if !math.IsInf(m.lo[j], -1) || !math.IsInf(m.hi[j], 1) {
			bounded = append(bounded, j)
		}
	}
	rows := len(m.rows) + len(bounded)
	at := qp.NewTriplets(rows, m.n)
	l := make([]float64, 0, rows)
	u := make([]float64, 0, rows)
	for i, r := range m.rows {
		for k, j := range r.idx {
			at.Add(i, j, r.val[k])
		}
		l, u = append(l, r.l), append(u, r.u)
	}
	for k, j := range bounded {
		at.Add(len(m.rows)+k, j, 1)
		l, u = append(l, m.lo[j]), append(u, m.hi[j])
	}
	p, err := pt.CSC()
	if err != nil {
		panic(err) // indices are in range by construction
	}
	a, err := at.CSC()
	if err != nil {
		panic(err)
	}
	return &qp.Problem{P: p, Q: append([]float64(nil), m.q...), A: a, L: l, U: u}
}

// ones returns a slice of n ones.
func ones(n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = 1
	}
	return v
}
