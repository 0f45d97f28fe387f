#!/usr/bin/env python3
"""Generate job-wide QPs with coupling constraints and their central optimum
from CVXOPT, for the tests of package plan (libs/plan/cvxopt_test.go).

Writes libs/plan/testdata/plan_qps.json. Deterministic: every instance draws
from its own fixed seed (Debian 12: python3-cvxopt 1.3.0, python3-numpy
1.24.2).

Each instance is separable by row except for its constraints:

    minimize    sum_i 1/2 P_i x_i^2 + q_i x_i           (P_i >= 0)
    subject to  lo_i <= x_i <= hi_i
                l_kv <= sum_{i: label_k(i) = v} a_ki x_i <= u_kv

Constraint k is over every row ("by": "") or has one row per value v of the
row label "g" or "h" ("by": "g" / "h"); its key in package plan is
RowKey(k, v), "c<k>" or "c<k>/<v>". Rows of "h" are contiguous blocks in row
order (sites), rows of "g" are scattered.

Feasible instances are built around an interior point x_f (every
constraint holds at x_f with slack), with bounds placed between x_f and the
box-only optimum x_box, so most constraints bind. Each is solved with
cvxopt.solvers.qp at tight tolerances and the answer is verified by its KKT
residuals (stationarity, primal feasibility, complementarity, dual signs),
computed here in numpy; where CVXOPT stops short of the tolerance ("unknown",
relative gap ~1e-13 but stationarity ~1e-8), its answer is refined on its
own active set by solving that KKT system exactly, and the refined point is
kept only if it is a KKT point with smaller residuals. The duals are recorded per key in the sign
convention of package plan: lambda > 0 at an active max, < 0 at an active min.

Infeasible instances: CVXOPT's qp cannot certify infeasibility (it ends
"unknown"), so SciPy's HiGHS (linprog) proves the feasibility LP infeasible.
"""

import argparse
import json
import pathlib
import sys

import numpy as np
import cvxopt
from cvxopt import matrix, spmatrix, solvers
from scipy import optimize

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_OUT = HERE.parent.parent / "libs" / "plan" / "testdata" / "plan_qps.json"


def r(v, digits=3):
    return np.round(v, digits)


def fnum(v):
    """A bound for JSON: None for an infinite one."""
    if v is None or not np.isfinite(v):
        return None
    return float(v)


class Inst:
    def __init__(self, name, seed, n, ngroups, nsites):
        self.name, self.seed, self.n = name, seed, n
        self.rng = np.random.default_rng(seed)
        self.g = self.rng.integers(0, ngroups, n)
        self.h = (np.arange(n) * nsites) // n  # contiguous blocks
        self.cons = []
        self.infeasible = False
        self.note = ""

    def labels(self, by):
        if by == "":
            return np.zeros(self.n, dtype=int), ["" ]
        lab = self.g if by == "g" else self.h
        pre = "g" if by == "g" else "s"
        return lab, [pre + str(v) for v in range(lab.max() + 1)]

    def rows(self, k):
        """(key, mask, a, lo, hi) of each row of constraint k."""
        c = self.cons[k]
        lab, names = self.labels(c["by"])
        out = []
        for v, name in enumerate(names):
            mask = lab == v
            if not mask.any():
                continue
            key = "c%d" % k + ("/" + name if name else "")
            lo, hi = c["bounds"][name]
            out.append((key, mask, c["a"], lo, hi))
        return out

    def add(self, by, a, kind, frac=0.5, xf=None, xbox=None, fixed=None):
        """Add a constraint; bounds per row placed between x_f and x_box
        (frac of the way from x_f to x_box), or given in fixed."""
        lab, names = self.labels(by)
        bounds = {}
        for v, name in enumerate(names):
            mask = lab == v
            if fixed is not None:
                bounds[name] = fixed
                continue
            sf, sb = a[mask] @ xf[mask], a[mask] @ xbox[mask]
            t = sf + frac * (sb - sf)
            if kind == "max":
                # bind only when x_box would exceed it
                bounds[name] = (-np.inf, r(t if sb > sf else sf + 0.5 * abs(sf) + 1, 4))
            elif kind == "min":
                bounds[name] = (r(t if sb < sf else sf - 0.5 * abs(sf) - 1, 4), np.inf)
            elif kind == "eq":
                bounds[name] = (r(t, 4), r(t, 4))
            elif kind == "range":
                spread = 0.15 * np.abs(a[mask]).sum() * (np.abs(xf[mask]).mean() + 0.1)
                bounds[name] = (r(sf - spread, 4), r(sf + spread, 4))
        self.cons.append({"by": by, "kind": kind, "a": a, "bounds": bounds})


def box_opt(P, q, lo, hi):
    x = np.where(q < 0, hi, lo).astype(float)
    pos = P > 0
    x[pos] = np.clip(-q[pos] / P[pos], lo[pos], hi[pos])
    return x


def make(name):
    """The instances, by name."""
    if name == "budget_cap_min":
        I = Inst(name, 101, 300, 6, 10)
    elif name == "lp_rows":
        I = Inst(name, 102, 500, 8, 10)
    elif name == "equality":
        I = Inst(name, 103, 200, 4, 5)
    elif name == "range":
        I = Inst(name, 104, 800, 10, 20)
    elif name == "other_bounds":
        I = Inst(name, 105, 150, 5, 5)
    elif name == "fleet_scale":
        I = Inst(name, 106, 1000, 20, 10)
    elif name == "large":
        I = Inst(name, 107, 1500, 12, 15)
    elif name == "small":
        I = Inst(name, 108, 50, 3, 5)
    elif name == "infeasible_min":
        I = Inst(name, 201, 120, 4, 4)
    elif name == "infeasible_pair":
        I = Inst(name, 202, 100, 4, 4)
    else:
        raise KeyError(name)
    rng, n = I.rng, I.n
    P = r(rng.uniform(0.2, 4.0, n))
    q = r(rng.uniform(-6.0, 3.0, n))
    lo, hi = np.zeros(n), np.ones(n)
    if name == "lp_rows":
        P[rng.uniform(size=n) < 0.2] = 0.0
    if name == "other_bounds":
        lo = r(rng.uniform(-3.0, 1.0, n), 2)
        hi = r(lo + rng.uniform(0.5, 4.0, n), 2)
        q = r(rng.uniform(-8.0, 8.0, n))
    if name == "range":
        q = r(q + rng.uniform(-4, 4, I.h.max() + 1)[I.h])  # sites lean up or down
    if name == "fleet_scale":
        risk, outage = rng.uniform(size=n), 1000 + rng.uniform(size=n) * 50000
        hours = 5 + rng.uniform(size=n) * 40
        q = r(-risk * outage, 2)
        P = r(2 * 0.001 * hours * hours, 4)
        cost = r(2000 + rng.uniform(size=n) * 30000, 0)
    I.P, I.q, I.lo, I.hi = P, q, lo, hi
    xf = (lo + hi) / 2
    xb = box_opt(P, q, lo, hi)
    c = r(rng.uniform(1, 10, n), 2)
    w = r(rng.uniform(0.5, 3, n), 2)
    d = r(rng.uniform(1, 3, n), 2) * (q > -2)  # rows that lean low
    if name in ("budget_cap_min", "lp_rows", "large", "small"):
        I.add("", c, "max", 0.5, xf, xb)                 # c0 budget
        I.add("g", w, "max", 0.4, xf, xb)                # c1 cap per group
        I.add("", d, "min", 0.6, xf, xb)                 # c2 minimum
        if name == "large":
            I.add("h", r(rng.uniform(0.5, 2, n), 2), "min", 0.5, xf, xb)  # c3 min per site
    elif name == "equality":
        I.add("", c, "max", 0.5, xf, xb)                 # c0 budget
        I.add("", r(rng.uniform(0.5, 2, n), 2), "eq", 0.3, xf, xb)  # c1 equality
        I.add("h", w, "max", 0.5, xf, xb)                # c2 cap per site
    elif name == "range":
        I.add("", c, "max", 0.6, xf, xb)                 # c0 budget
        I.add("h", r(rng.uniform(0.5, 2, n), 2), "range", 0, xf, xb)  # c1 range per site
        I.add("g", w, "max", 0.5, xf, xb)                # c2 cap per group
    elif name == "other_bounds":
        bal = r(rng.uniform(-2, 2, n), 2)
        I.add("", c, "max", 0.5, xf, xb)                 # c0 budget
        I.add("g", bal, "range", 0, xf, xb)              # c1 balance per group, mixed signs
        I.add("", d, "min", 0.5, xf, xb)                 # c2 minimum
    elif name == "fleet_scale":
        I.add("", cost, "max", 0.3, xf, xb)              # c0 budget
        I.add("h", r(hours, 2), "max", 0.5, xf, xb)      # c1 hours per site
        I.add("g", r(rng.uniform(0.5, 3, n), 2), "max", 0.3, xf, xb)  # c2 crew per group
    elif name == "infeasible_min":
        I.infeasible = True
        I.add("", c, "max", 0.5, xf, xb)                 # c0 budget
        I.add("g", w, "max", 0.5, xf, xb)                # c1 cap per group
        top = float(d @ hi)
        I.add("", d, "min", fixed=(r(1.2 * top + 1, 4), np.inf))  # c2: above its greatest value
        I.note = "c2 asks for more than the bounds allow: sum d_i hi_i = %.4f < %.4f" % (top, 1.2 * top + 1)
    elif name == "infeasible_pair":
        I.infeasible = True
        I.add("", c, "max", fixed=(-np.inf, r(float(c @ hi), 4)))  # c0 budget, loose
        one = np.ones(n)
        I.add("", one, "min", fixed=(0.8 * n, np.inf))   # c1 sum x >= 0.8 n
        I.add("", one, "max", fixed=(-np.inf, 0.5 * n))  # c2 sum x <= 0.5 n
        I.note = "c1 and c2 each hold alone within the bounds but not together"
    return I


def solve(I, tol):
    n = I.n
    Gi, Gj, Gv, h = [], [], [], []
    Ai, Aj, Av, b = [], [], [], []
    refs = []  # (key, 'G'/'A', row, sign)

    def grow(idx, vals, rhs):
        r0 = len(h)
        Gi.extend([r0] * len(idx)); Gj.extend(idx); Gv.extend(vals); h.append(rhs)
        return r0

    for i in range(n):
        grow([i], [1.0], I.hi[i])
        grow([i], [-1.0], -I.lo[i])
    for k in range(len(I.cons)):
        for key, mask, a, lo, hi in I.rows(k):
            idx = [int(i) for i in np.nonzero(mask & (a != 0))[0]]
            vals = [float(a[i]) for i in idx]
            if lo == hi:
                r0 = len(b)
                Ai.extend([r0] * len(idx)); Aj.extend(idx); Av.extend(vals); b.append(lo)
                refs.append((key, "A", r0, 1.0))
                continue
            if np.isfinite(hi):
                refs.append((key, "G", grow(idx, vals, hi), 1.0))
            if np.isfinite(lo):
                refs.append((key, "G", grow(idx, [-v for v in vals], -lo), -1.0))
    G = spmatrix(Gv, Gi, Gj, (len(h), n))
    Pm = spmatrix([float(v) for v in I.P], range(n), range(n), (n, n))
    args = [Pm, matrix(I.q.astype(float)), G, matrix(np.array(h, dtype=float))]
    if b:
        args += [spmatrix(Av, Ai, Aj, (len(b), n)), matrix(np.array(b, dtype=float))]
    solvers.options.update({"show_progress": False, "abstol": tol, "reltol": tol,
                            "feastol": tol, "maxiters": 300})
    sol = solvers.qp(*args)
    return sol, refs, G, np.array(h), (spmatrix(Av, Ai, Aj, (len(b), n)) if b else None), np.array(b)


def to_np(m):
    return np.array(matrix(m)).ravel()


def verify(I, sol, G, h, A, b):
    x, z = to_np(sol["x"]), to_np(sol["z"])
    Gd = np.array(matrix(G))
    grad = I.P * x + I.q
    stat = grad + Gd.T @ z
    y = np.zeros(0)
    if A is not None:
        y = to_np(sol["y"])
        Ad = np.array(matrix(A))
        stat += Ad.T @ y
        eq = np.abs(Ad @ x - b).max() / max(1.0, np.abs(b).max())
    else:
        eq = 0.0
    s = h - Gd @ x
    scale = max(1.0, np.abs(I.q).max())
    res = {
        "stationarity": float(np.abs(stat).max() / scale),
        "primal": float(max(0.0, -s.min()) / max(1.0, np.abs(h).max())),
        "equality": float(eq),
        "complementarity": float(np.abs(z * s).max() / scale / max(1.0, np.abs(x).max())),
        "dual_sign": float(max(0.0, -z.min()) / scale),
    }
    return x, z, y, res


def polish(I, sol, G, h, A, b):
    """Refine CVXOPT's answer on its active set: the rows with z_i > s_i
    are taken as equalities and the KKT system of the equality-constrained
    QP is solved directly. Returns (x, z, y), or None if the refined point
    is not a KKT point (a dual of the wrong sign, a violated row)."""
    x, z = to_np(sol["x"]), to_np(sol["z"])
    Gd = np.array(matrix(G))
    s = h - Gd @ x
    act = np.nonzero(z > s)[0]
    E, e = Gd[act], h[act]
    if A is not None:
        Ad = np.array(matrix(A))
        E, e = np.vstack([E, Ad]), np.concatenate([e, b])
    n, m = I.n, E.shape[0]
    K = np.zeros((n + m, n + m))
    K[:n, :n] = np.diag(I.P)
    K[:n, n:] = E.T
    K[n:, :n] = E
    rhs = np.concatenate([-I.q, e])
    try:
        sol2 = np.linalg.solve(K, rhs)
    except np.linalg.LinAlgError:
        sol2 = np.linalg.lstsq(K, rhs, rcond=None)[0]
    x2, nu = sol2[:n], sol2[n:]
    z2 = np.zeros_like(z)
    z2[act] = nu[:len(act)]
    y2 = nu[len(act):]
    if z2.min() < -1e-9 * max(1.0, np.abs(I.q).max()) or (h - Gd @ x2).min() < -1e-12 * max(1.0, np.abs(h).max()):
        return None
    return x2, np.maximum(z2, 0), y2


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--tol", type=float, default=1e-10)
    ap.add_argument("--kkt-tol", type=float, default=1e-8)
    args = ap.parse_args()
    names = ["small", "budget_cap_min", "lp_rows", "equality", "range", "other_bounds",
             "fleet_scale", "large", "infeasible_min", "infeasible_pair"]
    out = []
    for name in names:
        I = make(name)
        sol, refs, G, h, A, b = solve(I, args.tol)
        inst = {
            "name": name, "seed": I.seed, "n": I.n, "infeasible": I.infeasible,
            "P": [float(v) for v in I.P], "q": [float(v) for v in I.q],
            "lo": [float(v) for v in I.lo], "hi": [float(v) for v in I.hi],
            "g": ["g%d" % v for v in I.g], "h": ["s%d" % v for v in I.h],
            "constraints": [{
                "by": c["by"], "kind": c["kind"], "a": [float(v) for v in c["a"]],
                "bounds": {k: [fnum(lo), fnum(hi)] for k, (lo, hi) in c["bounds"].items()},
            } for c in I.cons],
            "cvxopt_status": sol["status"],
        }
        if I.note:
            inst["note"] = I.note
        if I.infeasible:
            # CVXOPT's qp (coneqp) has no infeasibility certificate; it ends
            # "unknown". Infeasibility is proved by HiGHS on the feasibility LP.
            if sol["status"] == "optimal":
                sys.exit("%s: meant to be infeasible but CVXOPT solved it" % name)
            lp = optimize.linprog(np.zeros(I.n), A_ub=np.array(matrix(G)), b_ub=h,
                                  A_eq=None if A is None else np.array(matrix(A)),
                                  b_eq=None if A is None else b, bounds=(None, None), method="highs")
            if lp.status != 2:
                sys.exit("%s: HiGHS does not find it infeasible: %s" % (name, lp.message))
            inst["highs"] = lp.message
            print("%-16s n=%4d infeasible (cvxopt: %s; HiGHS: %s)" % (name, I.n, sol["status"], lp.message), file=sys.stderr)
            out.append(inst)
            continue
        if sol["status"] not in ("optimal", "unknown"):
            sys.exit("%s: CVXOPT status %s" % (name, sol["status"]))
        x, z, y, raw = verify(I, sol, G, h, A, b)
        pol = polish(I, sol, G, h, A, b)
        if pol is None:
            sys.exit("%s: the active set of CVXOPT's answer does not refine to a KKT point" % name)
        res = verify(I, {"x": matrix(pol[0]), "z": matrix(pol[1]), "y": matrix(pol[2])}, G, h, A, b)[3]
        if max(res.values()) <= max(raw.values()):
            x, z, y = pol
        else:
            res = raw  # CVXOPT's own answer is the more accurate
        worst = max(res.values())
        if worst > args.kkt_tol:
            sys.exit("%s: KKT residuals %s over %g" % (name, res, args.kkt_tol))
        duals, active, rows = {}, [], {}
        for key, kind, row, sign in refs:
            duals[key] = duals.get(key, 0.0) + sign * (z[row] if kind == "G" else y[row])
        for k in range(len(I.cons)):
            for key, mask, a, lo, hi in I.rows(k):
                act = float(a[mask] @ x[mask])
                sc = max(float(np.abs(a[mask] * x[mask]).sum()), *(abs(v) for v in (lo, hi) if np.isfinite(v)))
                at = [side for side, bnd in (("min", lo), ("max", hi))
                      if np.isfinite(bnd) and abs(act - bnd) <= 1e-7 * max(1.0, sc)]
                rows[key] = act
                if at:
                    active.append(key + ":" + "=".join(at))
        obj = float(0.5 * I.P @ (x * x) + I.q @ x)
        nb = int(np.sum((x <= I.lo + 1e-7) | (x >= I.hi - 1e-7)))
        inst.update({
            "x": [float(v) for v in x], "objective": obj,
            "duals": {k: float(v) for k, v in sorted(duals.items())},
            "activity": rows, "active": active, "kkt": res, "kkt_cvxopt": raw,
            "objective_cvxopt": float(sol["primal objective"]),
            "cvxopt_iterations": sol["iterations"],
        })
        print("%-16s n=%4d cvxopt %s (raw kkt %.1e) obj=%.10g kkt=%.1e rows at bounds=%d/%d active coupling rows=%d/%d: %s"
              % (name, I.n, sol["status"], max(raw.values()), obj, worst, nb, I.n, len(active), len(rows), " ".join(active[:12])
                 + (" …" if len(active) > 12 else "")), file=sys.stderr)
        if not active:
            sys.exit("%s: no coupling row binds" % name)
        out.append(inst)
    doc = {"generator": "examples/qp-fixtures/gen_plan_qps.py", "cvxopt": cvxopt.__version__,
           "numpy": np.__version__, "tol": args.tol, "kkt_tol": args.kkt_tol, "instances": out}
    path = pathlib.Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print("wrote %s (%d bytes)" % (path, path.stat().st_size), file=sys.stderr)


if __name__ == "__main__":
    main()
