#!/usr/bin/python3
"""Solve Maros-Meszaros problems with CVXOPT, for `partita bench plan`.

    /usr/bin/python3 cvxopt_maros.py [--runs N] [--budget S] [--time-limit S] [--tol T] FILE.json...

Each file is a problem as examples/qp-fixtures/marosjson writes it: n, m, the
upper triangle of P and A as triplets {"i", "j", "v"}, q, l, u (null for an
infinite bound), the objective's constant. Rows l <= Ax <= u become equalities
(l = u) or one or two rows of Gx <= h. cvxopt.solvers.qp runs with its default
tolerances (abstol 1e-7, reltol 1e-6, feastol 1e-7, 100 iterations) or --tol, N times
per problem, or fewer once the runs of a problem have taken --budget seconds.
The solves run in a forked worker process, killed (and replaced) when a run
takes more than --time-limit seconds: CVXOPT can spend many minutes inside one
call to its C code, where no signal stops it. Only the calls to solvers.qp are
timed (reading the file, building the matrices and checking the answer are
not).

Prints one JSON document: {"cvxopt": version, "problems": [{"name",
"seconds" (median of the runs), "runs", "iterations", "status" ("optimal",
"unknown", "time_limit", or "error" when CVXOPT raised), "objective" (primal
objective plus the constant; null without an answer), "violation" (largest
violation of Gx <= h and |Ax - b| at CVXOPT's x; null without an answer),
"error"}]}.
"""

import argparse
import ctypes
import json
import multiprocessing
import os
import signal
import statistics
import time

import cvxopt
from cvxopt import matrix, solvers, spmatrix


def build(doc):
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
    args = [P, matrix([float(v) for v in doc["q"]], (n, 1), "d"),
            spmatrix([float(v) for v in gv], gi, gj, (len(h), n)), matrix(h, (len(h), 1), "d")]
    if b:
        args += [spmatrix([float(v) for v in av], ai, aj, (len(b), n)), matrix(b, (len(b), 1), "d")]
    return args


def violation(args, x):
    G, h = args[2], args[3]
    v = 0.0
    if G.size[0] > 0:
        v = max(v, max(G * x - h))
    if len(args) > 4:
        v = max(v, max(abs(args[4] * x - args[5])))
    return float(v)


def run_once(qp_args, constant):
    """One timed solve and its outcome."""
    start = time.perf_counter()
    try:
        sol = solvers.qp(*qp_args)
    except (ArithmeticError, ValueError) as e:  # singular KKT system, rank conditions
        return {"seconds": time.perf_counter() - start, "status": "error", "error": f"{type(e).__name__}: {e}"}
    seconds = time.perf_counter() - start
    out = {"seconds": seconds, "status": sol["status"], "iterations": int(sol["iterations"]), "error": ""}
    if sol["primal objective"] is not None:
        out["objective"] = float(sol["primal objective"]) + constant
    if sol["x"] is not None:
        out["violation"] = violation(qp_args, sol["x"])
    return out


def worker(conn, runs, budget):
    """Solves the problems whose paths it receives, sending the problem's
    name, then the outcome of each run, then "done"; None ends it."""
    try:  # Linux: end with the parent, even in the middle of a solve
        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (AttributeError, OSError):
        pass
    # One solve first, so that the first problem is not charged CVXOPT's
    # first-call costs.
    solvers.qp(spmatrix([2.0, 2.0], [0, 1], [0, 1]), matrix([1.0, -1.0]),
               spmatrix([-1.0], [0], [0], (1, 2)), matrix([0.0]))
    while True:
        path = conn.recv()
        if path is None:
            return
        with open(path) as fh:
            doc = json.load(fh)
        qp_args = build(doc)
        conn.send(doc["name"])
        spent = 0.0
        for _ in range(runs):
            out = run_once(qp_args, float(doc["constant"]))
            conn.send(out)
            spent += out["seconds"]
            if out["status"] == "error" or spent >= budget:
                break
        conn.send("done")


class Worker:
    """A forked worker process, replaced when a run overruns the limit."""

    def __init__(self, runs, budget):
        fork = multiprocessing.get_context("fork")
        self.conn, child = fork.Pipe()
        self.proc = fork.Process(target=worker, args=(child, runs, budget), daemon=True)
        self.proc.start()
        child.close()

    def recv(self, timeout):
        """The next message, or None after timeout seconds (None: no limit)."""
        if not self.conn.poll(timeout):
            return None
        return self.conn.recv()

    def kill(self):
        self.proc.kill()
        self.proc.join()
        self.conn.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--budget", type=float, default=10.0)
    parser.add_argument("--time-limit", type=float, default=0.0, help="seconds per run (0: none)")
    parser.add_argument("--tol", type=float, default=0.0,
                        help="abstol, reltol and feastol (0: CVXOPT's defaults; 1e-10 gave the reference optima of libs/qp/maros)")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    solvers.options.clear()
    solvers.options["show_progress"] = False
    if args.tol > 0:
        for k in ("abstol", "reltol", "feastol"):
            solvers.options[k] = args.tol
        solvers.options["maxiters"] = 200
    limit = args.time_limit if args.time_limit > 0 else None
    w, out = None, []
    for path in args.files:
        if w is None:
            w = Worker(max(args.runs, 1), args.budget)
        w.conn.send(path)
        name = os.path.splitext(os.path.basename(path))[0]
        try:
            name = w.recv(None)
            runs = []
            while True:
                msg = w.recv(limit)
                if msg is None:  # over the limit: the worker is replaced
                    runs.append({"seconds": limit, "status": "time_limit", "error": f"stopped after {limit:g} s"})
                    w.kill()
                    w = None
                    break
                if msg == "done":
                    break
                runs.append(msg)
        except (EOFError, OSError):
            code = w.proc.exitcode
            w.kill()
            w = None
            runs = [{"seconds": 0.0, "status": "error", "error": f"the solving process died (exit code {code})"}]
        last = runs[-1]
        out.append({"name": name, "seconds": statistics.median(r["seconds"] for r in runs), "runs": len(runs),
                    "iterations": last.get("iterations", 0), "status": last["status"],
                    "objective": last.get("objective"), "violation": last.get("violation"),
                    "error": last["error"]})
    if w is not None:
        w.conn.send(None)
        w.proc.join()
    print(json.dumps({"cvxopt": cvxopt.__version__, "problems": out}))


if __name__ == "__main__":
    main()
