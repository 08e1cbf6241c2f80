"""In-process A/B of CholeskyQR2 (``fast_qr.cholesky_qr2``): this tree's against an older tree's, interleaved call by
call in one process -- between processes this machine's noise (1.2-1.5x) hides a 10 % change.

    git archive REV | tar -x -C /tmp/base          # the older tree
    python benchmarks/fast_qr_ab.py /tmp/base 2    # 2 threads, wall time (1: one thread, CPU time)
"""
import importlib.util
import sys
import time

import numpy as np

from matdiff.backend import fast_qr as NEW

CASES = [((500, 200), "d"), ((2000, 500), "d"), ((1000, 200), "d"), ((500, 200), "D"), ((2000, 500), "D")]


def main(tree, threads=2):
    spec = importlib.util.spec_from_file_location("old_fast_qr", f"{tree}/matdiff/backend/fast_qr.py")
    old = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(old)
    NEW.set_threads(threads)
    clock = time.process_time if threads == 1 else time.perf_counter
    rng = np.random.default_rng(0)
    for (m, n), dt in CASES:
        A = rng.standard_normal((m, n)) + (1j * rng.standard_normal((m, n)) if dt == "D" else 0)
        reps = max(5, int(2000 / (m * n * n / 1e6 * (4 if dt == "D" else 1))))
        t = {"old": [], "new": []}
        for r in range(reps):
            for name, mod in (("old", old), ("new", NEW)) if r % 2 else (("new", NEW), ("old", old)):
                t0 = clock()
                mod.cholesky_qr2(A)
                t[name].append(clock() - t0)
        o, nw = np.median(t["old"]) * 1e3, np.median(t["new"]) * 1e3
        print(f"{m}x{n} {'complex128' if dt == 'D' else 'float64'}, {threads} thread(s): old {o:.2f} ms, "
              f"new {nw:.2f} ms, new/old {nw / o:.3f} ({reps} calls each)")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2)
