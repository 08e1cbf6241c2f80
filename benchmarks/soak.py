"""Soak: many forward/backward passes of a QR graph must not grow memory. ``python benchmarks/soak.py [N]``.

Each iteration builds the Figure 2 graph of a wide QR (split -> qr -> adjoint/matmul -> concat) for a fresh
leaf, reduces Q and R to a loss and runs backward; nothing is kept. After a warm-up, Python's tracemalloc
(which also sees NumPy's array buffers) measures the memory still allocated after every block of iterations:
if backward failed to release its saved values, or the tape kept nodes alive, it would grow by about one
graph per iteration. Also prints a 10,000-node chain's backward time. Figures, not assertions --
``tests/test_soak.py`` asserts on the same function.
"""
import gc
import sys
import time
import tracemalloc

import numpy as np

import matdiff as md


def _one(a, Qbar, Rbar):
    A = md.tensor(a, requires_grad=True)
    Q, R = md.qr(A)                                          # wide: the Figure 2 graph
    loss = md.sum(md.real(Q * Qbar)) + md.sum(md.real(R * Rbar))
    loss.backward()
    return A.grad


def _held():
    """Bytes allocated now, outside tracemalloc's and this module's own bookkeeping."""
    snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__),
                                                       tracemalloc.Filter(False, __file__)])
    return sum(st.size for st in snap.statistics("filename"))


def soak(iterations=1000, shape=(6, 10), dtype=np.complex128, warmup=50, blocks=4):
    """Run ``iterations`` passes; returns the figures: bytes held after each block, growth, a graph's size."""
    rng = np.random.default_rng(0)
    cplx = np.dtype(dtype).kind == "c"
    draw = lambda s: (rng.standard_normal(s) + (1j * rng.standard_normal(s) if cplx else 0)).astype(dtype)  # noqa: E731
    a, Qbar, Rbar = draw(shape), draw((shape[0], min(shape))), draw((min(shape), shape[1]))
    for _ in range(warmup):
        _one(a, Qbar, Rbar)
    gc.collect()
    tracemalloc.start()
    try:
        with md.Tape() as tape:                             # the size of one graph, for scale
            _one(a, Qbar, Rbar)
        graph_bytes = tracemalloc.get_traced_memory()[1]
        del tape
        gc.collect()
        base = tracemalloc.get_traced_memory()[0]
        held, seconds = [], 0.0
        per_block = iterations // blocks
        peaks = []
        for _ in range(blocks):
            tracemalloc.reset_peak()
            t0 = time.perf_counter()
            for _ in range(per_block):
                _one(a, Qbar, Rbar)                          # no explicit gc in the loop: as a user's loop runs
            seconds += time.perf_counter() - t0
            peaks.append(tracemalloc.get_traced_memory()[1] - base)
            gc.collect()
            held.append(_held())
    finally:
        tracemalloc.stop()
    return dict(iterations=per_block * blocks, shape=shape, dtype=np.dtype(dtype).name, held_after_blocks=held,
                growth=held[-1] - held[0], peak_per_block=peaks, graph_bytes=graph_bytes,
                us_per_iteration=seconds / (per_block * blocks) * 1e6)


def chain(n=10_000):
    """Backward through an n-node chain (x -> x*1.0001 ...): runs in a loop, not recursion; returns seconds."""
    x = md.tensor(np.ones((2, 2)), requires_grad=True)
    y = x
    for _ in range(n - 1):
        y = y * 1.0001
    t0 = time.perf_counter()
    md.sum(y).backward()
    return time.perf_counter() - t0, float(x.grad[0, 0])


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    r = soak(n)
    print(f"soak: {r['iterations']} forward+backward passes of the wide-QR graph {r['shape']} {r['dtype']} "
          f"(under tracemalloc: {r['us_per_iteration']:.0f} us each)")
    print(f"  bytes allocated after each quarter: {r['held_after_blocks']}  "
          f"(growth after the first quarter: {r['growth']} B)")
    print(f"  peak of each quarter (no explicit gc inside): {r['peak_per_block']} B; "
          f"one live graph ~{r['graph_bytes']} B")
    s, g = chain()
    print(f"chain: 10,000-node backward in {s * 1e3:.0f} ms, d(sum)/dx = {g:.6g} "
          f"(expected 1.0001^9999 = {1.0001 ** 9999:.6g})")
