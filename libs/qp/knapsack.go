package qp

import (
	"math"
	"slices"
)

// knapsack solves the separable problem with its one dense row a·x in
// [lo, hi] (the continuous quadratic knapsack problem): for a multiplier μ
// of the row every variable has its closed form x_j(μ), the minimiser of
// ½d_j x² + (q_j + μ a_j) x over its interval, and g(μ) = a·x(μ) does not
// increase with μ. Between the breakpoints of the x_j (where one reaches
// an end of its interval, or where a variable without curvature flips
// from one end to the other) g is linear, so the μ with g(μ) on the row's
// bound is found by bisection over the sorted breakpoints and one linear
// step: exact, in O(n log n). It returns x and μ, or false when the
// problem has no solution or is unbounded (the iterative path proves it).
func (sp *separable) knapsack(q []float64, lo, hi float64) ([]float64, float64, bool) {
	n := len(q)
	x := make([]float64, n)
	for j := range n {
		// Without curvature a variable of the row must have a finite
		// interval, or g is infinite past its breakpoint.
		if sp.d[j] == 0 && sp.denseA[j] != 0 && (math.IsInf(sp.lo[j], 0) || math.IsInf(sp.hi[j], 0)) {
			return nil, 0, false
		}
		var ok bool
		if x[j], ok = sp.minimize(j, q[j]); !ok { // an empty interval, or unbounded
			return nil, 0, false
		}
	}
	g0 := dot(sp.denseA, x)
	switch {
	case lo <= g0 && g0 <= hi:
		return x, 0, true
	case g0 > hi:
		mu, ok := sp.root(q, sp.denseA, hi, x)
		return x, mu, ok
	}
	// g(μ) = lo for some μ < 0: the same search on the row negated.
	neg := make([]float64, n)
	for j, a := range sp.denseA {
		neg[j] = -a
	}
	mu, ok := sp.root(q, neg, -lo, x)
	return x, -mu, ok
}

// root finds μ > 0 with a·x(μ) = t, given a·x(0) > t, and leaves x(μ) in
// x. A variable without curvature whose breakpoint is μ itself takes the
// value in its interval that puts the row exactly on t.
func (sp *separable) root(q, a []float64, t float64, x []float64) (float64, bool) {
	n := len(q)
	// A variable without curvature sits at one end of its interval, by
	// the sign of q_j + μ a_j = a_j (μ − b_j) at its breakpoint b_j (the
	// same expression as in points, so that "μ is b_j" is exact).
	bp := func(j int) float64 { return -q[j] / a[j] }
	// xAt is x_j(μ); at its own breakpoint a variable without curvature
	// takes its value just past it (side > 0) or just before (side < 0).
	xAt := func(j int, mu float64, side float64) float64 {
		if sp.d[j] != 0 || a[j] == 0 {
			v, _ := sp.minimize(j, q[j]+mu*a[j])
			return v
		}
		c := mu - bp(j)
		if c == 0 {
			c = side
		}
		if (c > 0) == (a[j] > 0) { // q_j + μ a_j > 0
			return sp.lo[j]
		}
		return sp.hi[j]
	}
	g := func(mu, side float64) float64 {
		s := 0.0
		for j := range n {
			if a[j] != 0 {
				s += a[j] * xAt(j, mu, side)
			}
		}
		return s
	}
	var points []float64
	for j := range n {
		aj := a[j]
		if aj == 0 {
			continue
		}
		if d := sp.d[j]; d > 0 {
			for _, end := range []float64{sp.lo[j], sp.hi[j]} {
				if !math.IsInf(end, 0) {
					if b := -(d*end + q[j]) / aj; b > 0 {
						points = append(points, b)
					}
				}
			}
		} else if b := bp(j); b > 0 {
			points = append(points, b)
		}
	}
	slices.Sort(points)
	points = slices.Compact(points)
	// The first breakpoint at which g, just past it, is at or below t.
	k, _ := slices.BinarySearchFunc(points, t, func(b, t float64) int {
		if g(b, 1) <= t {
			return 1
		}
		return -1
	})
	var mu float64
	switch {
	case k < len(points) && g(points[k], -1) <= t:
		// Below t before reaching points[k]: the root is in the linear
		// piece that ends there.
		from := 0.0
		if k > 0 {
			from = points[k-1]
		}
		mu = sp.linearRoot(q, a, t, from, g(from, 1), points[k])
	case k < len(points):
		mu = points[k] // g jumps across t here
	default:
		// Past the last breakpoint only variables with curvature and an
		// open interval move: one linear piece to infinity.
		from := 0.0
		if len(points) > 0 {
			from = points[len(points)-1]
		}
		mu = sp.linearRoot(q, a, t, from, g(from, 1), math.Inf(1))
		if math.IsInf(mu, 0) || math.IsNaN(mu) {
			return 0, false // the row cannot reach t: infeasible
		}
	}
	for j := range n {
		x[j] = xAt(j, mu, 1)
	}
	// Variables without curvature at their breakpoint move from their
	// value past μ towards the one before it until the row reaches t.
	gap := t - dot(a, x)
	for j := range n {
		if gap <= 0 {
			break
		}
		if sp.d[j] != 0 || a[j] == 0 || bp(j) != mu {
			continue
		}
		before := xAt(j, mu, -1)
		step := math.Min(gap, a[j]*(before-x[j]))
		x[j] += step / a[j]
		gap -= step
	}
	return mu, true
}

// linearRoot is the μ in (from, to) where the linear piece of g starting
// at g(from⁺) = gFrom reaches t; its slope is −Σ a_j²/d_j over the
// variables strictly inside their interval on the piece.
func (sp *separable) linearRoot(q, a []float64, t, from, gFrom, to float64) float64 {
	mid := from + 1
	if !math.IsInf(to, 1) {
		mid = (from + to) / 2
	}
	slope := 0.0
	for j := range q {
		if d := sp.d[j]; d > 0 && a[j] != 0 {
			if v := -(q[j] + mid*a[j]) / d; sp.lo[j] < v && v < sp.hi[j] {
				slope -= a[j] * a[j] / d
			}
		}
	}
	if slope == 0 {
		return math.Inf(1)
	}
	mu := from + (t-gFrom)/slope
	if !math.IsInf(to, 1) {
		mu = math.Min(math.Max(mu, from), to)
	}
	return mu
}
