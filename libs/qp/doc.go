// Package qp solves convex quadratic programs
//
//	minimize    ½ xᵀPx + qᵀx
//	subject to  l ≤ Ax ≤ u
//
// with the operator-splitting method of OSQP (Stellato, Banjac, Goulart,
// Bemporad and Boyd, "OSQP: an operator splitting solver for quadratic
// programs", Math. Prog. Comp. 12, 2020): ADMM on a quasi-definite KKT system
// factorised once by a sparse LDLᵀ (elimination tree, approximate minimum
// degree ordering), with Ruiz equilibration, per-constraint step sizes ρ that
// adapt during the solve, detection of primal and dual infeasibility, and
// solution polishing.
//
// A second method works on the same factorisation: Mehrotra's primal–dual
// predictor–corrector interior-point method (with Gondzio's centrality
// correctors), whose Newton systems have the pattern of the ADMM system
// (only the diagonal changes), so it reuses the ordering and symbolic
// analysis. By default (MethodAuto) ADMM runs first
// and hands over to the interior-point method once its iterations have cost
// what the interior-point method is estimated to cost, or at MaxIter;
// ADMM's infeasibility detection resumes if the interior-point method does
// not converge. Both methods stop on the same tolerances (row-wise primal
// residual, dual residual and duality gap) and both polish.
//
// P is symmetric positive semidefinite and given by its upper triangle; A is
// any sparse matrix; entries of l and u may be ±Inf, and l[i] = u[i] makes
// row i an equality. Variable bounds are ordinary rows of A.
//
// SolveOnePerGroup adds branch and bound for "exactly one variable per group
// is 1, the others 0" on top of the continuous solver.
package qp
