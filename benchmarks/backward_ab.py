"""A/B of the QR/LQ backward (or, ``--forward``, the forward alone): matdiff trees against each other and PyTorch,
each in a process of its own.

    python benchmarks/backward_ab.py [--trees PATH ...] [--rounds 5] [--reps 7] [--threads 2] [--no-torch] [--forward]
                                     [--stacks]

Every round starts one process per library (each tree: ``PATH`` put first on sys.path, so a ``git archive`` of an
old commit in /tmp compares against this checkout), in an order rotated per round; each process times every case
(median of ``reps``) and matdiff's processes also time a 2000x2000 dgemm for the ``%limit`` column (the nominal
flops of ``run.nominal_flops`` at that rate / the time). Printed: per case the median over rounds of each time,
and the median over rounds of the *per-round* ratios of the first tree to each other library -- on a shared
machine only same-round ratios mean anything. Stacks are timed forward + backward, single matrices backward only
(the forward outside). ``--forward``: the user's forward under no_grad (gauge included) against
``torch.linalg.qr`` (of A^H for LQ), the shapes of ``FORWARD_CASES``. ``--stacks``: forward + backward of the
stacks of ``run.py`` (``STACK_CASES``: QR and LQ, 256x32x16 and 1000x8x4, real and complex).
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CASES = [("qr", (2000, 500), "float64", "bwd"), ("qr", (1000, 1000), "float64", "bwd"),
         ("qr", (500, 2000), "float64", "bwd"), ("qr", (1000, 1000), "complex128", "bwd"),
         ("lq", (500, 2000), "float64", "bwd"), ("qr", (256, 32, 16), "float64", "fwdbwd"),
         ("qr", (1000, 8, 4), "float64", "fwdbwd")]

FORWARD_CASES = [(kind, shape, dtype, "fwd") for shape, dtype in
                 [((64, 32), "float64"), ((500, 200), "float64"), ((2000, 500), "float64"), ((300, 300), "float64"),
                  ((1000, 1000), "float64"), ((200, 500), "float64"), ((500, 2000), "float64"),
                  ((500, 200), "complex128"), ((300, 300), "complex128"), ((200, 500), "complex128")]
                 for kind in ("qr", "lq")]

STACK_CASES = [(kind, shape, dtype, "fwdbwd") for kind in ("qr", "lq") for dtype in ("float64", "complex128")
               for shape in ((256, 32, 16), (1000, 8, 4))]


def name(case):
    kind, shape, dtype, what = case
    return f"{kind} {'x'.join(map(str, shape))} {dtype} {what}"


def data(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape)
    return (a + 1j * rng.standard_normal(shape) if dtype == "complex128" else a).astype(dtype)


CLOCK = time.perf_counter


def median_time(f, reps):
    f()
    ts = []
    for _ in range(reps):
        t = CLOCK()
        f()
        ts.append(CLOCK() - t)
    return float(np.median(ts))


def child_matdiff(reps, cases):
    import matdiff as md
    x, y = data((2000, 2000), "float64", 9), data((2000, 2000), "float64", 8)
    out = {"dgemm": 2 * 2000 ** 3 / median_time(lambda: x @ y, 3) / 1e9}
    for case in cases:
        kind, shape, dtype, what = case
        a = data(shape, dtype, 0)
        fn = md.qr if kind == "qr" else md.lq
        if what == "fwd":
            with md.no_grad():
                out[name(case)] = median_time(lambda: fn(a), reps)
            continue
        A = md.tensor(a, requires_grad=True)
        outs = list(fn(A)[:2])
        seeds = [data(o.shape, dtype, 1 + i) for i, o in enumerate(outs)]
        if what == "bwd":
            f = lambda: md.grad(outs, [A], seeds, retain_graph=True)    # noqa: E731
        else:
            def f():
                T = md.tensor(a, requires_grad=True)
                md.grad(list(fn(T)[:2]), [T], seeds)
        out[name(case)] = median_time(f, reps)
    return out


def child_torch(reps, cases):
    import torch
    out = {}
    for case in cases:
        kind, shape, dtype, what = case
        a = torch.from_numpy(data(shape, dtype, 0))

        def factor(T):      # LQ of A as QR of A^H: L = R^H, Q_lq = Q^H
            if kind == "qr":
                return list(torch.linalg.qr(T))
            Q, R = torch.linalg.qr(T.mH)
            return [R.mH, Q.mH]

        if what == "fwd":
            with torch.no_grad():
                out[name(case)] = median_time(lambda: factor(a), reps)
            continue
        A = a.clone().requires_grad_(True)
        outs = factor(A)
        seeds = [torch.from_numpy(data(tuple(o.shape), dtype, 1 + i)) for i, o in enumerate(outs)]
        if what == "bwd":
            f = lambda: torch.autograd.grad(outs, [A], seeds, retain_graph=True)    # noqa: E731
        else:
            def f():
                T = a.clone().requires_grad_(True)
                torch.autograd.grad(factor(T), [T], seeds)
        out[name(case)] = median_time(f, reps)
    return out


def cases_of(a):
    """The cases the flags ask for."""
    return FORWARD_CASES if a.forward else STACK_CASES if a.stacks else CASES


def run_child(lib, tree, reps, threads, cpu, forward, stacks):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads), PYTHONPATH=tree or os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, __file__, "--child", lib, "--reps", str(reps)] + ["--cpu-time"] * cpu
                       + ["--forward"] * forward + ["--stacks"] * stacks, env=env,
                       capture_output=True, text=True, timeout=1800)
    if r.returncode:
        raise SystemExit(f"{lib} {tree}: {r.stderr.strip().splitlines()[-1]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--trees", nargs="*", default=[str(HERE.parent)])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--cpu-time", action="store_true",
                   help="time by the process's CPU time (time.process_time): with --threads 1 on a loaded machine it "
                        "leaves out the time other processes hold the core (two threads' spin-waits would count)")
    p.add_argument("--forward", action="store_true", help="the forward alone (FORWARD_CASES), not the backward")
    p.add_argument("--stacks", action="store_true", help="forward + backward of the stacks (STACK_CASES)")
    p.add_argument("--child")
    a = p.parse_args()
    if a.child:
        global CLOCK
        CLOCK = time.process_time if a.cpu_time else time.perf_counter
        print(json.dumps((child_matdiff if a.child == "matdiff" else child_torch)(a.reps, cases_of(a))))
        return
    sys.path.insert(0, str(HERE))
    from run import nominal_flops
    libs = [("matdiff", t) for t in a.trees] + ([] if a.no_torch else [("torch", None)])
    labels = [f"md:{Path(t).name}" for t in a.trees] + ([] if a.no_torch else ["torch"])
    res = [[] for _ in libs]
    for r in range(a.rounds):
        for i in [(r + j) % len(libs) for j in range(len(libs))]:
            res[i].append(run_child(*libs[i], a.reps, a.threads, a.cpu_time, a.forward, a.stacks))
    load = os.getloadavg()
    clock = "CPU" if a.cpu_time else "wall"
    print(f"{a.rounds} rounds x {a.reps} reps, {a.threads} threads, {clock} time, load {load[0]:.1f} {load[1]:.1f}; "
          f"dgemm {np.median([x['dgemm'] for x in res[0]]):.1f} GF/s (first tree)")
    print(f"{'case':<30}" + "".join(f"{lab + ' ms':>16}" for lab in labels)
          + "".join(f"{labels[0] + '/' + lab:>22}" for lab in labels[1:]) + f"{'%limit':>8}")
    for case in cases_of(a):
        k = name(case)
        row = f"{k:<30}" + "".join(f"{1e3 * np.median([x[k] for x in rr]):>16.2f}" for rr in res)
        row += "".join(f"{np.median([y[k] / x[k] for x, y in zip(rr, res[0])]):>22.3f}" for rr in res[1:])
        if case[3] == "fwd":              # the flop-count limit is the backward's
            print(row)
            continue
        lim = [nominal_flops(case[0], case[1], case[2]) / (x["dgemm"] * 1e9) / x[k] for x in res[0]]
        print(row + f"{100 * np.median(lim):>7.0f}%")


if __name__ == "__main__":
    main()
