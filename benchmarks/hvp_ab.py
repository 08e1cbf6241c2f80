"""A/B of the Hessian-vector product through QR (issue 22, point 5): ``python benchmarks/hvp_ab.py [ROUNDS] [REPS]``.

matdiff and torch each run ``worker.py``'s HVP problem (L = Re sum(WQ ∘ Q) + Re sum(WR ∘ R ∘ R), direction V; the
cases of ``worker.HVP_CASES``) in a process of their own, with the same thread count (``THREADS``, default 2),
alternating which goes first in each round. Prints, per case, the medians over rounds of each process's median
wall time and CPU time (``time.process_time``: less moved by other load on a shared machine, but it counts a
spinning BLAS thread), their ratios, and ``uptime`` before and after. ``TREE=DIR`` measures the matdiff checkout
in DIR (for a before/after of a change).
"""
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def _median_pair(f, reps):
    f()
    f()
    wall, cpu = [], []
    for _ in range(reps):
        w, c = time.perf_counter(), time.process_time()
        f()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return float(np.median(wall)), float(np.median(cpu))


def worker(lib, reps):
    sys.path.insert(0, HERE)
    from worker import HVP_CASES, hvp_key, hvp_problem
    out = {}
    for shape, dtype in HVP_CASES:
        if lib == "torch":
            import torch
            a, WQ, WR, V = (torch.tensor(x) for x in hvp_problem(tuple(shape), dtype))

            def hvp():
                A = a.clone().requires_grad_(True)
                Q, R = torch.linalg.qr(A)
                g, = torch.autograd.grad((Q * WQ).real.sum() + (R * R * WR).real.sum(), A, create_graph=True)
                torch.autograd.grad(g, A, V)
        else:
            import matdiff as md
            a, WQ, WR, V = hvp_problem(tuple(shape), dtype)

            def hvp():
                A = md.tensor(a, requires_grad=True)
                Q, R = md.qr(A)
                g, = md.grad(md.sum(md.real(Q * WQ)) + md.sum(md.real(R * R * WR)), [A], create_graph=True)
                md.grad([g], [A], [V])
        out[hvp_key(shape, dtype)] = _median_pair(hvp, reps)
    print(json.dumps(out))


def main(rounds=4, reps=7):
    t = os.environ.get("THREADS", "2")
    env = dict(os.environ, OMP_NUM_THREADS=t, OPENBLAS_NUM_THREADS=t, MKL_NUM_THREADS=t)
    if os.environ.get("TREE"):
        env["PYTHONPATH"] = os.environ["TREE"]
    uptime = lambda: subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()  # noqa: E731
    print(f"threads {t}; before: {uptime()}")
    res = {"matdiff": [], "torch": []}
    for r in range(rounds):
        for lib in (("matdiff", "torch") if r % 2 == 0 else ("torch", "matdiff")):
            p = subprocess.run([sys.executable, __file__, "--worker", lib, str(reps)], env=env, capture_output=True,
                               text=True)
            if p.returncode:
                raise SystemExit(f"{lib} worker failed: {p.stderr.strip().splitlines()[-1:]}")
            res[lib].append(json.loads(p.stdout.strip().splitlines()[-1]))
    print(f"after: {uptime()}")
    for key in res["matdiff"][0]:
        (mw, mc), (tw, tc) = ([float(np.median([x[key][i] for x in res[lib]])) * 1e3 for i in (0, 1)]
                              for lib in ("matdiff", "torch"))
        print(f"{key:30s} wall: matdiff {mw:7.2f} ms, torch {tw:7.2f} ms, {mw / tw:5.2f}x   "
              f"cpu: matdiff {mc:7.2f} ms, torch {tc:7.2f} ms, {mc / tc:5.2f}x")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], int(sys.argv[3]))
    else:
        main(*(int(x) for x in sys.argv[1:]))
