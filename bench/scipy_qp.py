#!/usr/bin/python3
"""Solve a Partita part's QP with SciPy, for `partita bench optimizer`.

Reads JSON {"n", "pdiag", "q", "rows": [[[col, coef], ...], ...], "l", "u"} on stdin
(minimize 1/2 x'Px + q'x, P diagonal, l <= A x <= u) and prints
{"seconds": solve time, "objective": value, "success": bool}.
Uses SLSQP (Debian's python3-scipy) on the problem with each constraint row and
the objective scaled to unit magnitude, and reports the constraint violation of
its answer, so that an infeasible "success" is not counted.
"""
import json
import sys
import time

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, minimize
from scipy.sparse import csr_matrix


def main():
    p = json.load(sys.stdin)
    n = p["n"]
    pd = np.array(p["pdiag"])
    q = np.array(p["q"])
    l, u = [], []
    lb = np.full(n, -np.inf)
    ub = np.full(n, np.inf)
    data, ri, ci = [], [], []
    for k, row in enumerate(p["rows"]):
        if len(row) == 1 and row[0][1] == 1.0:  # a variable bound
            j = row[0][0]
            lb[j] = max(lb[j], p["l"][k])
            ub[j] = min(ub[j], p["u"][k])
            continue
        r = len(l)
        scale = max(abs(c) for _, c in row)  # rows of very different magnitudes defeat SLSQP
        for j, c in row:
            data.append(c / scale)
            ri.append(r)
            ci.append(j)
        l.append(p["l"][k] / scale)
        u.append(p["u"][k] / scale)
    cons = []
    if l:
        A = csr_matrix((data, (ri, ci)), shape=(len(l), n))
        cons.append(LinearConstraint(A, np.array(l), np.array(u)))
    so = max(float(np.max(np.abs(q), initial=0)), float(np.max(np.abs(pd), initial=0)), 1e-12)
    f = lambda x: (0.5 * np.dot(pd * x, x) + np.dot(q, x)) / so
    g = lambda x: (pd * x + q) / so
    x0 = np.clip(np.zeros(n), np.where(np.isfinite(lb), lb, -1e9), np.where(np.isfinite(ub), ub, 1e9))
    start = time.perf_counter()
    res = minimize(f, x0, jac=g, method="SLSQP", bounds=Bounds(lb, ub), constraints=cons,
                   options={"ftol": 1e-10, "maxiter": 2000})
    seconds = time.perf_counter() - start
    x = res.x
    viol = float(max(np.max(lb - x, initial=0), np.max(x - ub, initial=0)))
    if l:
        ax = A @ x
        viol = max(viol, float(np.max(np.array(l) - ax, initial=0)), float(np.max(ax - np.array(u), initial=0)))
    print(json.dumps({"seconds": seconds, "objective": float(res.fun) * so, "success": bool(res.success), "violation": viol}))


if __name__ == "__main__":
    main()
