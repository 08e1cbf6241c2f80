"""A/B of full-Jacobian gradcheck, QR 64x32: matdiff against ``torch.autograd.gradcheck``, each in its own process.

``python benchmarks/gradcheck_ab.py [ROUNDS [REPS [TREE]]]`` alternates, per round, one process each of matdiff
(blame on, blame off), torch and -- with TREE, a directory holding an older ``matdiff/`` package (``git archive
REV matdiff | tar -x -C TREE``) -- that older matdiff; 2 BLAS threads each, imports and a warm-up gradcheck of an
8x4 QR outside the timing. It prints per-dtype medians and ratios with the load average before and after (the
figures are only as quiet as the machine). ``worker.py`` times the same thing inside the full benchmark run.
"""
import json
import os
import subprocess
import sys

import numpy as np

CHILD = r"""
import json, sys, time
import numpy as np
lib, reps, blame = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
def data(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape)
    return (a + 1j * rng.standard_normal(shape) if dtype == "complex128" else a).astype(dtype)
if lib == "matdiff":
    import matdiff as md
    def make(a):
        A = md.tensor(a, requires_grad=True)
        return lambda: md.gradcheck(lambda A: tuple(md.qr(A)), [A], blame=blame).ok
else:
    import torch
    def make(a):
        A = torch.tensor(a, requires_grad=True)
        return lambda: torch.autograd.gradcheck(lambda A: torch.linalg.qr(A), (A,), fast_mode=False)
out = {}
for dtype in ("float64", "complex128"):
    assert make(data((8, 4), dtype, 3))()
    f = make(data((64, 32), dtype, 3))
    ts = []
    for _ in range(reps):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    out[dtype] = ts
print(json.dumps(out))
"""


def run(lib, reps, blame, tree=None):
    env = dict(os.environ, OMP_NUM_THREADS="2", OPENBLAS_NUM_THREADS="2", MKL_NUM_THREADS="2")
    if tree:
        env["PYTHONPATH"] = tree
    p = subprocess.run([sys.executable, "-c", CHILD, lib, str(reps), "1" if blame else "0"], env=env,
                       capture_output=True, text=True, check=True, cwd=tree or None)
    return json.loads(p.stdout.strip().splitlines()[-1])


def main(rounds=3, reps=2, tree=None):
    print("load before:", os.getloadavg())
    runs = [("matdiff", 1, None), ("torch", 0, None), ("matdiff", 0, None)] + ([("matdiff", 1, tree)] if tree else [])
    times = {}
    for _ in range(rounds):
        for lib, b, t in runs:
            for d, ts in run(lib, reps, b, t).items():
                times.setdefault((lib, b, t, d), []).extend(ts)
                print(lib, "old" if t else "new", f"blame={b}", d, " ".join(f"{x:.3f}" for x in ts), "s", flush=True)
    print("load after:", os.getloadavg())
    for d in ("float64", "complex128"):
        t = np.median(times[("torch", 0, None, d)])
        for lib, b, tr in runs[:1] + runs[2:]:
            m = np.median(times[(lib, b, tr, d)])
            print(f"{d:10s} {'old' if tr else 'new'} blame={'on ' if b else 'off'} matdiff {1e3 * m:8.1f} ms  "
                  f"torch {1e3 * t:8.1f} ms  torch/matdiff {t / m:5.1f}x")


if __name__ == "__main__":
    a = sys.argv[1:]
    main(int(a[0]) if a else 3, int(a[1]) if len(a) > 1 else 2, a[2] if len(a) > 2 else None)
