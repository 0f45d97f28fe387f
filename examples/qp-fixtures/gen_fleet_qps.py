#!/usr/bin/env python3
"""Fleet-shaped QPs with reference answers from CVXOPT.

Writes libs/qp/testdata/fleet_qps.json for TestFleetAgainstCVXOPT in package
qp. The parts come from `go run ./examples/qp-fixtures/fleetparts` (see its
doc comment: parts of examples/fleet jobs, risk from the logistic baseline or
from the ONNX model); each part is the QP that services/optimizer's
Program.Build makes of it under examples/fleet/spec.yaml:

    maximize  sum_j risk_j*outage_cost_j*x_j - 0.001*crew_hours_j^2*x_j^2
    s.t.      0 <= x_j <= 1
              sum_j repair_cost_j*x_j <= budget      (250000)
              sum_j crew_hours_j*x_j  <= crew_max    (400; a part has one site)

i.e. minimize 1/2 x'Px + q'x with P = diag(0.002*crew_hours^2) and
q = -risk*outage_cost. CVXOPT (Debian python3-cvxopt) solves the equivalent
problem with the two dense rows moved into equalities t = repair_cost'x,
w = crew_hours'x and the bounds t <= budget, w <= crew_max, so that its
sparse Cholesky stays sparse. Every answer is verified on the original
problem (bound violation, stationarity with the recovered multipliers and
complementarity, each scaled as in gen_random_qps.py); an answer whose KKT
error exceeds --kkt-tol stops the script.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import cvxopt
from cvxopt import matrix, solvers, spmatrix

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DEFAULT_OUT = ROOT / "libs" / "qp" / "testdata" / "fleet_qps.json"
BUDGET = 250000.0
CREW_MAX = 400.0


def solve(part, tol):
    """CVXOPT on the reformulated problem; returns x, the multipliers of
    x <= 1, x >= 0, the budget row and the crew row, and CVXOPT's record."""
    risk = np.array(part["risk"])
    outage = np.array(part["outage_cost"])
    hours = np.array(part["crew_hours"])
    cost = np.array(part["repair_cost"])
    n = len(risk)
    nv = n + 2  # x, t, w
    p_diag = 0.002 * hours * hours
    P = spmatrix([float(v) for v in p_diag], list(range(n)), list(range(n)), (nv, nv))
    q = matrix(np.concatenate([-risk * outage, [0.0, 0.0]]))
    # G v <= h: x <= 1, -x <= 0, t <= budget, w <= crew_max.
    gi = list(range(n)) + list(range(n, 2 * n)) + [2 * n, 2 * n + 1]
    gj = list(range(n)) + list(range(n)) + [n, n + 1]
    gv = [1.0] * n + [-1.0] * n + [1.0, 1.0]
    G = spmatrix(gv, gi, gj, (2 * n + 2, nv))
    h = matrix(np.concatenate([np.ones(n), np.zeros(n), [BUDGET, CREW_MAX]]))
    # A v = 0: cost'x - t = 0, hours'x - w = 0.
    ai = [0] * n + [1] * n + [0, 1]
    aj = list(range(n)) + list(range(n)) + [n, n + 1]
    av = [float(v) for v in cost] + [float(v) for v in hours] + [-1.0, -1.0]
    A = spmatrix(av, ai, aj, (2, nv))
    b = matrix([0.0, 0.0])
    solvers.options.update(show_progress=False, abstol=tol, reltol=tol, feastol=tol, maxiters=200)
    sol = solvers.qp(P, q, G, h, A, b)
    if sol["status"] != "optimal":
        raise RuntimeError(f"{part['name']}: CVXOPT status {sol['status']}")
    v = np.array(sol["x"]).ravel()
    z = np.array(sol["z"]).ravel()
    x = v[:n]
    record = {
        "iterations": sol["iterations"],
        "gap": sol["gap"],
        "relative_gap": sol["relative gap"],
        "primal_infeasibility": sol["primal infeasibility"],
        "dual_infeasibility": sol["dual infeasibility"],
    }
    return x, z[:n], z[n:2 * n], z[2 * n], z[2 * n + 1], record


def kkt_error(part, x, z_up, z_low, y_budget, y_crew):
    """Scaled KKT error of x on the original problem, multipliers >= 0."""
    risk = np.array(part["risk"])
    outage = np.array(part["outage_cost"])
    hours = np.array(part["crew_hours"])
    cost = np.array(part["repair_cost"])
    p_diag = 0.002 * hours * hours
    q = -risk * outage
    ax = np.concatenate([x, [cost @ x, hours @ x]])
    upper = np.concatenate([np.ones(len(x)), [BUDGET, CREW_MAX]])
    lower = np.concatenate([np.zeros(len(x)), [-np.inf, -np.inf]])
    y_up = np.concatenate([z_up, [y_budget, y_crew]])
    y_low = np.concatenate([z_low, [0.0, 0.0]])
    scale_p = 1 + np.max(np.abs(ax))
    prim = max(np.max(ax - upper), np.max(lower - ax), 0.0)
    px = p_diag * x
    aty = (z_up - z_low) + y_budget * cost + y_crew * hours
    dual = np.max(np.abs(px + q + aty))
    scale_d = 1 + max(np.max(np.abs(px)), np.max(np.abs(aty)), np.max(np.abs(q)))
    comp_up = np.max(np.minimum(np.abs(y_up), np.abs(upper - ax)))
    with np.errstate(invalid="ignore"):
        comp_low = np.nan_to_num(np.minimum(np.abs(y_low), np.abs(ax - lower)), nan=0.0)
    comp = max(comp_up, np.max(comp_low))
    return max(prim / scale_p, dual / scale_d, comp / max(scale_p, scale_d))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tol", type=float, default=1e-10, help="CVXOPT abstol, reltol and feastol")
    parser.add_argument("--kkt-tol", type=float, default=1e-8)
    parser.add_argument("--ort", default=os.environ.get("PARTITA_ORT_LIB", str(ROOT / "tools" / "lib" / "libonnxruntime.so.1")),
                        help="ONNX Runtime library for the onnx parts (none: skip them)")
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    raw = subprocess.run(["go", "run", "./examples/qp-fixtures/fleetparts", "-ort", args.ort, "-root", str(ROOT)],
                         cwd=ROOT, check=True, capture_output=True, text=True).stdout
    source = json.loads(raw)
    instances = []
    for part in source["parts"]:
        x, z_up, z_low, y_budget, y_crew, record = solve(part, args.tol)
        err = kkt_error(part, x, z_up, z_low, y_budget, y_crew)
        if err > args.kkt_tol:
            sys.exit(f"{part['name']}: CVXOPT answer has KKT error {err:.2g} > {args.kkt_tol:g}")
        hours = np.array(part["crew_hours"])
        q = -np.array(part["risk"]) * np.array(part["outage_cost"])
        objective = 0.5 * float(np.sum(0.002 * hours * hours * x * x)) + float(q @ x)
        inst = dict(part)
        inst.update(budget=BUDGET, crew_max=CREW_MAX, objective=objective, kkt_error=err, cvxopt=record)
        instances.append(inst)
        print(f"{part['name']}: n={len(x)} objective {objective:.10g} ({record['iterations']} iterations, KKT error {err:.1g})",
              file=sys.stderr)
    out = {
        "generator": "examples/qp-fixtures/gen_fleet_qps.py",
        "fleet_rows": source["fleet_rows"],
        "fleet_sites": source["fleet_sites"],
        "tol": args.tol,
        "kkt_tol": args.kkt_tol,
        "cvxopt": cvxopt.__version__,
        "numpy": np.__version__,
        "instances": instances,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(out, fh, separators=(",", ":"))
        fh.write("\n")
    print(f"wrote {len(instances)} instances to {args.out}")


if __name__ == "__main__":
    main()
