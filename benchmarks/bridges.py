"""The bridges' speed against the frameworks' own QR: ``matdiff.torch.qr`` vs ``torch.linalg.qr`` (forward + backward),
``jit(grad)`` of ``matdiff.jax.qr`` vs ``jnp.linalg.qr``'s -- ratios, each measured in one run (shared machine).

    python benchmarks/bridges.py            # torch here, JAX in its own process; 2 threads each
    python benchmarks/bridges.py --quick    # smaller repeat counts
    python benchmarks/bridges.py --threads 1   # one thread: on a loaded 2-core machine two OpenMP threads mostly
                                               # wait for each other (500x200 took 0.98 s there, 12 ms on one)

Each framework runs in its own process with the same thread count (never beside NumPy's BLAS; JAX one process per
case, with a time limit: on an AMD EPYC here ``jit(grad)`` of the 256x32x16 stack hung in XLA's CPU runtime -- for
``jnp.linalg.qr``'s own gradient as for ours, after 1-11 good calls: jaxlib 0.10.2's batched CPU trsm waits in
``jax::ParallelBatchMap`` for tasks on its own 2-thread pool -- docs/bridges.md); within a process ours
and theirs alternate, and each ratio is the median over rounds of (ours / theirs). CPU only: GPU unverified.
"""
import os
import subprocess
import sys

JAX_TIMEOUT = 240         # seconds per JAX case (compile included; a case takes ~5-60 s here)
THREADS = int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv else 2
CASES = [("500x200", (500, 200), "float64"), ("1000x1000", (1000, 1000), "float64"),
         ("complex 300x300", (300, 300), "complex128"), ("256x32x16 stack", (256, 32, 16), "float64")]


def _median_ratio(ours, theirs, rounds):
    import statistics
    import time

    clock = time.process_time if THREADS == 1 else time.perf_counter     # one thread: CPU time, blind to preemption
    ratios, times = [], []
    for _ in range(rounds):
        t0 = clock()
        ours()
        t1 = clock()
        theirs()
        t2 = clock()
        ratios.append((t1 - t0) / (t2 - t1))
        times.append((t1 - t0, t2 - t1))
    best = min(times, key=lambda t: t[0] + t[1])
    return statistics.median(ratios), best


def _torch(rounds):
    import torch

    import matdiff.torch as mt
    torch.set_num_threads(THREADS)
    rows = []
    for label, shape, dtype in CASES:
        g = torch.Generator().manual_seed(0)
        dt = getattr(torch, dtype)
        A = torch.randn(shape, dtype=dt, generator=g).requires_grad_()
        GQ = torch.randn(shape[:-1] + (min(shape[-2:]),), dtype=dt, generator=g)
        GR = torch.randn(shape[:-2] + (min(shape[-2:]), shape[-1]), dtype=dt, generator=g)

        def step(qr):
            Q, R = qr(A)
            torch.autograd.grad([Q, R], [A], [GQ, GR])
        step(mt.qr), step(torch.linalg.qr)                      # warm up
        rows.append((f"torch {label}",) + _median_ratio(lambda: step(mt.qr), lambda: step(torch.linalg.qr), rounds))
    return rows


def _jax(rounds, only=None):
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np

    import matdiff.jax as mj
    rows = []
    for label, shape, dtype in CASES if only is None else [CASES[only]]:
        rng = np.random.default_rng(0)
        a = rng.standard_normal(shape) + (1j * rng.standard_normal(shape) if dtype.startswith("complex") else 0)
        A = jnp.asarray(a)

        def grad_of(qr):
            return jax.jit(jax.grad(lambda A: jnp.sum(jnp.abs(qr(A)[0]) ** 3) + jnp.sum(jnp.abs(qr(A)[1]) ** 3)))
        ours, theirs = grad_of(mj.qr), grad_of(lambda A: jnp.linalg.qr(A))
        ours(A).block_until_ready(), theirs(A).block_until_ready()                  # compile
        rows.append((f"jax jit(grad) {label}",) + _median_ratio(lambda: ours(A).block_until_ready(),
                                                                lambda: theirs(A).block_until_ready(), rounds))
    return rows


def _print(rows):
    for name, ratio, (ours, theirs) in rows:
        print(f"| {name:<32} | {ours * 1e3:9.2f} ms | {theirs * 1e3:9.2f} ms | {ratio:5.2f}x |")


def main(argv):
    rounds = 5 if "--quick" in argv else 15
    if "--jax-only" in argv:
        _print(_jax(rounds, int(argv[argv.index("--case") + 1]) if "--case" in argv else None))
        return
    n = str(THREADS)
    env = dict(os.environ, OMP_NUM_THREADS=n, OPENBLAS_NUM_THREADS=n, MKL_NUM_THREADS=n)
    clock = "CPU time" if THREADS == 1 else "wall time"
    print(f"| case (CPU, {THREADS} threads, {clock}; GPU unverified) | matdiff | framework | ratio (median) |")
    print("| --- | --- | --- | --- |")
    sys.stdout.flush()
    if "--torch-only" not in argv:
        for i, (label, _, _) in enumerate(CASES):     # a process per case: one that hangs costs only its own figure
            try:
                subprocess.run([sys.executable, __file__, "--jax-only", "--case", str(i), "--threads", n]
                               + [a for a in argv if a == "--quick"], env=env, check=True, timeout=JAX_TIMEOUT)
            except subprocess.TimeoutExpired:
                print(f"| jax jit(grad) {label:<18} | hung past {JAX_TIMEOUT} s: XLA's CPU runtime, seen with "
                      "jnp.linalg.qr's own grad of the stack too (jax 0.10.2) |")
            sys.stdout.flush()
    _print(_torch(rounds))


if __name__ == "__main__":
    main(sys.argv[1:])
