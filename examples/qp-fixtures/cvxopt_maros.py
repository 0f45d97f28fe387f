#!/usr/bin/env python3
"""Solve problems written by marosjson with CVXOPT and print their optima.

    go run ./examples/qp-fixtures/marosjson -o /tmp/maros GOULDQP3 LISWET5 LISWET6
    /usr/bin/python3 examples/qp-fixtures/cvxopt_maros.py /tmp/maros/*.json

The reference optima of libs/qp/maros (Case.Reference, for the problems that
depart from the Maros-Meszaros listing) were obtained this way with Debian's
python3-cvxopt 1.3.0. Rows l <= Ax <= u become equalities (l = u) or one
or two rows of Gx <= h.
"""

import argparse
import json

from cvxopt import matrix, solvers, spmatrix


def solve(doc, tol):
    n, m = doc["n"], doc["m"]
    pi, pj, pv = doc["P"]["i"], doc["P"]["j"], doc["P"]["v"]
    # P is stored as its upper triangle; CVXOPT wants the full matrix.
    fi, fj, fv = list(pi), list(pj), list(pv)
    for i, j, v in zip(pi, pj, pv):
        if i != j:
            fi.append(j)
            fj.append(i)
            fv.append(v)
    P = spmatrix([float(v) for v in fv], fi, fj, (n, n))
    rows = {}
    for i, j, v in zip(doc["A"]["i"], doc["A"]["j"], doc["A"]["v"]):
        rows.setdefault(i, []).append((j, float(v)))
    gi, gj, gv, h, ai, aj, av, b = [], [], [], [], [], [], [], []
    for i in range(m):
        lo, up = doc["l"][i], doc["u"][i]
        entries = rows.get(i, [])
        if lo is not None and up is not None and lo == up:
            for j, v in entries:
                ai.append(len(b))
                aj.append(j)
                av.append(v)
            b.append(float(lo))
            continue
        if up is not None:
            for j, v in entries:
                gi.append(len(h))
                gj.append(j)
                gv.append(v)
            h.append(float(up))
        if lo is not None:
            for j, v in entries:
                gi.append(len(h))
                gj.append(j)
                gv.append(-v)
            h.append(-float(lo))
    args = [P, matrix([float(v) for v in doc["q"]]), spmatrix(gv, gi, gj, (len(h), n)), matrix(h)]
    if b:
        args += [spmatrix(av, ai, aj, (len(b), n)), matrix(b)]
    solvers.options.update(show_progress=False, abstol=tol, reltol=tol, feastol=tol, maxiters=300)
    return solvers.qp(*args)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+")
    parser.add_argument("--tol", type=float, default=1e-10)
    args = parser.parse_args()
    for path in args.files:
        with open(path) as fh:
            doc = json.load(fh)
        sol = solve(doc, args.tol)
        objective = sol["primal objective"] + doc["constant"]
        print(f"{doc['name']}: {sol['status']} after {sol['iterations']} iterations, objective {objective:.10g}"
              f" (published {doc['published']:.8g})")


if __name__ == "__main__":
    main()
