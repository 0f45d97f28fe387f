// Package plan coordinates a job-wide quadratic program whose parts are
// solved in parallel, each in its own process, by the dual Newton strategy
// (Frasch, Sager and Diehl, "A parallel quadratic programming method for
// dynamic optimization problems", Math. Prog. Comp. 7, 2015 — qpDUNES).
//
// The job's QP is separable by part except for coupling rows: constraints
// whose rows lie in more than one part (a fleet-wide budget; a per-site cap
// on a site split over several parts):
//
//	minimize   Σ_p f_p(x_p)          f_p(x) = ½xᵀP_p x + q_pᵀx, P_p ⪰ 0
//	subject to x_p ∈ X_p              each part's own rows and bounds
//	           l ≤ Σ_p A_p x_p ≤ u    the coupling rows
//
// Pricing the coupling rows with multipliers λ separates it: each part
// solves min f_p(x_p) + λᵀA_p x_p over X_p and reports (Report) its
// contribution to the dual function g(λ) = Σ_p min(…) − σ(λ), σ the support
// function of [l, u]: the value, the gradient A_p x_p and the curvature
// A_p S_p A_pᵀ from the sensitivity of its solution to the prices. The
// coordinator (Step) maximises g by Newton steps regularised as a trust
// region (Levenberg–Marquardt on the dual). Each round evaluates a ladder
// of trial prices at once — the model's maximiser at several
// regularisations, one of them with a secant's curvature added — so that
// a round is a line search along the trust region's path: the trial with
// the best dual value becomes the center when the dual gains a fair share
// of what its model predicted, and the regularisation follows the trial
// that won. The model is maximised exactly (a dense active-set method on
// the step from the center, where the center's value cancels out), so
// the last steps are exact Newton steps on the piecewise-quadratic dual
// and end at the exact multipliers of the job's optimum. Every trial's
// activities and objective are kept: a small LP (simplex) finds the
// convex combination of trials that holds every coupling row with the
// least objective, and that blend is the plan. It is optimal when the
// duality gap (the plan's objective − the best dual value) is within
// tolerance; each round is one parallel re-solve of the parts. Scored
// rows never move: only prices go out and reports come back.
package plan
