#!/usr/bin/env python3
"""Generate random feasible convex QPs and LPs with reference answers from SciPy.

Writes libs/qp/testdata/random_qps.json for the Go tests of package qp. The
output is deterministic for a given seed and SciPy/NumPy version (Debian 12:
python3-scipy 1.10.1, python3-numpy 1.24.2).

Problem form (as in package qp):
    minimize    1/2 x'Px + q'x
    subject to  l <= A x <= u,   lb <= x <= ub
P is stored as its upper triangle. Infinite bounds are stored as null.

Every instance is feasible by construction (the bounds are built around a
point x0) and bounded (P positive definite, or every variable boxed).
QPs are solved with SLSQP (falling back to trust-constr), LPs with HiGHS.
Each answer is then verified: the script recovers sign-constrained
multipliers of the active constraints by bounded least squares and keeps the
instance only if the scaled KKT error is at most --kkt-tol; dropped instances
are listed on stderr and counted in the output.
"""

import argparse
import json
import math
import pathlib
import sys
import warnings

import numpy as np
from scipy import optimize

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_OUT = HERE.parent.parent / "libs" / "qp" / "testdata" / "random_qps.json"


def dec(rng, low, high, size=None, digits=2):
    """Uniform values rounded to a few decimals, so the JSON stays exact."""
    return np.round(rng.uniform(low, high, size=size), digits)


def sparse_int(rng, rows, cols, density, span):
    """Integer matrix with the given density and entries in [-span, span]."""
    mat = rng.integers(-span, span + 1, size=(rows, cols)).astype(float)
    mat[rng.uniform(size=(rows, cols)) > density] = 0.0
    return mat


def make_instance(rng, index):
    """Draw one instance; returns a dict of numpy arrays."""
    kind = "lp" if index % 4 == 3 else ["qp_pd", "qp_psd", "qp_diag"][index % 4]
    n = int(rng.integers(5, 61))
    if kind == "qp_pd":
        m_factor = sparse_int(rng, max(1, n // 2), n, 0.3, 3)
        p_mat = m_factor.T @ m_factor + np.diag(rng.integers(1, 5, size=n).astype(float))
    elif kind == "qp_psd":
        m_factor = sparse_int(rng, max(1, n // 3), n, 0.4, 3)
        p_mat = m_factor.T @ m_factor
    elif kind == "qp_diag":
        p_mat = np.diag(rng.integers(0, 6, size=n).astype(float))
    else:
        p_mat = np.zeros((n, n))
    q = dec(rng, -10, 10, size=n)

    # Variable bounds: boxed everywhere unless P is positive definite.
    lb = -dec(rng, 0.5, 5, size=n)
    ub = dec(rng, 0.5, 5, size=n)
    if kind == "qp_pd":
        free = rng.uniform(size=n) < 0.5
        lb[free] = -math.inf
        ub[free] = math.inf
    low_x0 = np.where(np.isfinite(lb), lb, -3.0)
    high_x0 = np.where(np.isfinite(ub), ub, 3.0)
    x0 = np.round(rng.uniform(low_x0, high_x0), 2)

    m_ineq = int(rng.integers(0, n + 1))
    m_eq = int(rng.integers(0, n // 3 + 1))
    a_ineq = np.round(sparse_int(rng, m_ineq, n, 0.3, 500) / 100.0, 2)
    a_eq = np.round(sparse_int(rng, m_eq, n, 0.3, 500) / 100.0, 2)
    ax_ineq = a_ineq @ x0
    l_ineq = np.full(m_ineq, -math.inf)
    u_ineq = np.full(m_ineq, math.inf)
    for i in range(m_ineq):
        side = rng.integers(0, 3)  # 0: <=, 1: >=, 2: range
        if side in (0, 2):
            u_ineq[i] = round(ax_ineq[i] + float(dec(rng, 0, 2)), 6)
        if side in (1, 2):
            l_ineq[i] = round(ax_ineq[i] - float(dec(rng, 0, 2)), 6)
    b_eq = np.round(a_eq @ x0, 6)
    a_mat = np.vstack([a_ineq, a_eq]) if m_ineq + m_eq else np.zeros((0, n))
    l_vec = np.concatenate([l_ineq, b_eq])
    u_vec = np.concatenate([u_ineq, b_eq])
    return {
        "kind": kind, "n": n, "P": p_mat, "q": q, "A": a_mat, "l": l_vec, "u": u_vec,
        "lb": lb, "ub": ub, "x0": x0,
    }


def objective(inst, x):
    return 0.5 * x @ inst["P"] @ x + inst["q"] @ x


def all_rows(inst):
    """A, l, u with the variable bounds appended as identity rows."""
    n = inst["n"]
    a_full = np.vstack([inst["A"], np.eye(n)])
    return a_full, np.concatenate([inst["l"], inst["lb"]]), np.concatenate([inst["u"], inst["ub"]])


def kkt_error(inst, x):
    """Scaled KKT error of x with best sign-constrained multipliers."""
    a_full, l_full, u_full = all_rows(inst)
    ax = a_full @ x
    scale_p = 1.0 + np.max(np.abs(ax), initial=0.0)
    prim = max(np.max(ax - u_full, initial=0.0), np.max(l_full - ax, initial=0.0)) / scale_p
    grad = inst["P"] @ x + inst["q"]
    act_tol = 1e-7 * scale_p
    at_up = np.isfinite(u_full) & (u_full - ax <= act_tol)
    at_lo = np.isfinite(l_full) & (ax - l_full <= act_tol)
    active = at_up | at_lo
    scale_d = 1.0 + max(np.max(np.abs(grad), initial=0.0), np.max(np.abs(inst["q"]), initial=0.0))
    if not active.any():
        return max(prim, np.max(np.abs(grad), initial=0.0) / scale_d)
    lo_y = np.where(at_lo[active], -np.inf, 0.0)
    hi_y = np.where(at_up[active], np.inf, 0.0)
    # Rows active at both bounds (equalities) are free.
    both = at_lo[active] & at_up[active]
    lo_y[both], hi_y[both] = -np.inf, np.inf
    fit = optimize.lsq_linear(a_full[active].T, -grad, bounds=(lo_y, hi_y), method="bvls", tol=1e-15)
    stat = np.max(np.abs(grad + a_full[active].T @ fit.x), initial=0.0)
    scale_d = max(scale_d, 1.0 + np.max(np.abs(a_full[active].T @ fit.x), initial=0.0))
    return max(prim, stat / scale_d)


def solve_lp(inst):
    a, l, u = inst["A"], inst["l"], inst["u"]
    eq = np.isfinite(l) & np.isfinite(u) & (l == u)
    up = np.isfinite(u) & ~eq
    lo = np.isfinite(l) & ~eq
    a_ub = np.vstack([a[up], -a[lo]])
    b_ub = np.concatenate([u[up], -l[lo]])
    res = optimize.linprog(
        inst["q"],
        A_ub=a_ub if len(b_ub) else None, b_ub=b_ub if len(b_ub) else None,
        A_eq=a[eq] if eq.any() else None, b_eq=l[eq] if eq.any() else None,
        bounds=list(zip(inst["lb"], inst["ub"])), method="highs",
        options={"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10},
    )
    return res.x if res.status == 0 else None


def solve_qp(inst, method):
    p_mat, q, a, l, u = inst["P"], inst["q"], inst["A"], inst["l"], inst["u"]
    bounds = optimize.Bounds(
        np.where(np.isfinite(inst["lb"]), inst["lb"], -np.inf),
        np.where(np.isfinite(inst["ub"]), inst["ub"], np.inf),
    )
    fun = lambda x: 0.5 * x @ p_mat @ x + q @ x
    jac = lambda x: p_mat @ x + q
    if method == "SLSQP":
        cons = []
        eq = np.isfinite(l) & np.isfinite(u) & (l == u)
        up = np.isfinite(u) & ~eq
        lo = np.isfinite(l) & ~eq
        if eq.any():
            cons.append({"type": "eq", "fun": lambda x, m=a[eq], b=l[eq]: m @ x - b, "jac": lambda x, m=a[eq]: m})
        if up.any():
            cons.append({"type": "ineq", "fun": lambda x, m=a[up], b=u[up]: b - m @ x, "jac": lambda x, m=a[up]: -m})
        if lo.any():
            cons.append({"type": "ineq", "fun": lambda x, m=a[lo], b=l[lo]: m @ x - b, "jac": lambda x, m=a[lo]: m})
        res = optimize.minimize(fun, inst["x0"], jac=jac, bounds=bounds, constraints=cons,
                                method="SLSQP", options={"ftol": 1e-15, "maxiter": 2000})
    else:
        cons = [optimize.LinearConstraint(a, l, u)] if len(l) else []
        res = optimize.minimize(fun, inst["x0"], jac=jac, hess=lambda x: p_mat, bounds=bounds,
                                constraints=cons, method="trust-constr",
                                options={"gtol": 1e-13, "xtol": 1e-15, "maxiter": 20000})
    return res.x


def bound_list(v):
    return [None if math.isinf(x) else float(x) for x in v]


def encode(name, inst, x):
    n = inst["n"]
    iu, ju = np.nonzero(np.triu(inst["P"]))
    ia, ja = np.nonzero(inst["A"])
    return {
        "name": name,
        "kind": inst["kind"],
        "n": n,
        "P": {"i": iu.tolist(), "j": ju.tolist(), "v": inst["P"][iu, ju].tolist()},
        "q": inst["q"].tolist(),
        "A": {"m": int(inst["A"].shape[0]), "i": ia.tolist(), "j": ja.tolist(), "v": inst["A"][ia, ja].tolist()},
        "l": bound_list(inst["l"]),
        "u": bound_list(inst["u"]),
        "lb": bound_list(inst["lb"]),
        "ub": bound_list(inst["ub"]),
        "x": x.tolist(),
        "objective": float(objective(inst, x)),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=20250611)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--kkt-tol", type=float, default=1e-8)
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    # SLSQP warns when it clips a trial step to the bounds; that is expected.
    warnings.filterwarnings("ignore", message="Values in x were outside bounds")

    rng = np.random.default_rng(args.seed)
    instances, dropped, index = [], [], 0
    while len(instances) < args.count:
        inst = make_instance(rng, index)
        name = f"{inst['kind']}-{index:03d}"
        index += 1
        best, errors = None, []
        methods = ["highs"] if inst["kind"] == "lp" else ["SLSQP", "trust-constr"]
        for method in methods:
            x = solve_lp(inst) if method == "highs" else solve_qp(inst, method)
            if x is None:
                continue
            err = kkt_error(inst, x)
            errors.append(f"{method} {err:.2g}")
            if err <= args.kkt_tol:
                best = x
                break
        if best is None:
            dropped.append(name)
            print(f"dropped {name}: KKT error above {args.kkt_tol:g} ({', '.join(errors)})", file=sys.stderr)
            continue
        instances.append(encode(name, inst, best))

    out = {
        "generator": "examples/qp-fixtures/gen_random_qps.py",
        "seed": args.seed,
        "kkt_tol": args.kkt_tol,
        "scipy": __import__("scipy").__version__,
        "numpy": np.__version__,
        "dropped": dropped,
        "instances": instances,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(out, fh, separators=(",", ":"))
        fh.write("\n")
    print(f"wrote {len(instances)} instances ({len(dropped)} dropped) to {args.out}")


if __name__ == "__main__":
    main()
