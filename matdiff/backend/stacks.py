"""A large stack of small matrices split among the cores: :meth:`NumPyBackend.each_matrix`.

NumPy runs a stack of small matrices on one core -- ``numpy.linalg.qr`` and ``matmul`` loop over the stack in C,
and OpenBLAS does not thread a call as small as one 32x16 matrix -- where PyTorch spreads its batch over all of
them. A rule that acts matrix by matrix (the decompositions' forwards and their vjp and jvp rules) can be run on
parts of the stack at once: NumPy releases the GIL inside each kernel, so ``t`` threads run ``t`` parts.

When it pays (measured 2026-12-04, 2 threads, AMD EPYC; the whole rule on halves against the whole stack):

* complex128 256 x 32x16: in one process, interleaved (40-60 calls each), the QR vjp 0.53-0.88x the time, QR +
  gauge 0.59-0.81x, forward + backward 0.63-0.67x; each tree in its own process (``benchmarks/backward_ab.py
  --stacks``, 7 rounds) forward + backward of QR 0.77-0.81x, LQ 0.88-0.91x. complex128 1000 x 16x16: vjp 0.31x;
  float64 32 x 64x64: vjp 0.53-0.81x; float64 1000 x 16x16 vjp 0.66x, just below ``_MIN_WORK``.
* but not within ~0.1 s of a threaded BLAS call, while OpenBLAS's idle threads spin on the other cores: a complex128
  256 x 32x16 forward right after a 2000x2000 dgemm took 1.1-1.7x the time split, 0.3 s and 1 s after it 0.59-0.70x.
  So the first split shortens that spin to ~0.4 ms (:func:`fast_qr.short_spin`): right after the dgemm the complex
  stack's forward + backward then took 6.9-7.4 against 10.4-10.9 ms (2026-12-04, evening). float64 256 x 32x16 still
  loses split (1.06x forward + backward right after the dgemm, spin shortened; 1000 x 16x16 0.79x, at the bound).
* not: float64 256 x 32x16 (the above), 1000 x 8x4 (the vjp 1.7x slower: each part is a chain of tiny kernels whose
  Python glue holds the GIL), 64 x 32x16 (1.2-1.4x slower), 100 x 8x4 (2-3x slower: the hand-off costs ~0.2 ms).

Hence the split needs all of: the main thread (a check's worker threads, which already share the cores, never
split), NumPy's OpenBLAS on ``t >= 2`` threads (``matdiff.checks`` sets one thread for its stacks), at least
``_MIN_STACK`` matrices of at most ``_MAX_ENTRIES`` entries each (larger matrices are threaded by BLAS itself), one
batch shape for every array (no broadcast operand), and ``work = entries x min(m, n)`` (x 4 complex) of the largest
array at least ``_MIN_WORK``.
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

from . import fast_qr

_MIN_STACK = 128            # matrices: 64 x 32x16 lost (see above)
_MAX_ENTRIES = 4096         # per matrix: beyond 64x64 a matmul is threaded by OpenBLAS itself
_MIN_WORK = 1 << 22         # entries x min(m, n), x 4 complex: complex128 256 x 32x16 is 8.4e6, float64 2.1e6
_POOL, _POOL_SIZE = None, 0


def parts(arrays):
    """How many parts to split the stack of ``arrays`` (None entries ignored) into: 1 unless it pays (above)."""
    xs = [a for a in arrays if a is not None]
    if not xs or any(a.ndim < 3 or a.shape[:-2] != xs[0].shape[:-2] for a in xs) or xs[0].shape[0] < _MIN_STACK:
        return 1
    big = max(xs, key=lambda a: a.size)
    m, n = big.shape[-2:]
    if m * n > _MAX_ENTRIES or big.size * min(m, n) * (4 if big.dtype.kind == "c" else 1) < _MIN_WORK:
        return 1
    if threading.current_thread() is not threading.main_thread():
        return 1
    return min(fast_qr.get_threads() or 1, xs[0].shape[0] // (_MIN_STACK // 2))


def each_matrix(b, rule, arrays, kw):
    """``rule(b, *arrays, **kw)``, on ``parts(arrays)`` slices of the first axis at once, joined along it."""
    p = parts(arrays)
    if p < 2:
        return rule(b, *arrays, **kw)
    fast_qr.short_spin()                        # OpenBLAS's idle threads would hold the other cores for ~0.1 s
    nb = next(a for a in arrays if a is not None).shape[0]
    cuts = [nb * i // p for i in range(p + 1)]

    def part(i):
        return rule(b, *[None if a is None else a[cuts[i]:cuts[i + 1]] for a in arrays], **kw)

    futures = [_pool(p - 1).submit(part, i) for i in range(1, p)]
    try:
        first = part(0)
    finally:                                    # never leave a part running on arrays the caller may reuse
        wait(futures)
    return _join(b, [first] + [f.result() for f in futures])


def _join(b, results):
    if isinstance(results[0], tuple):
        return tuple(None if r[0] is None else b.concat(list(r), axis=0) for r in zip(*results))
    return b.concat(results, axis=0)


def _pool(n):
    global _POOL, _POOL_SIZE
    if _POOL is None or _POOL_SIZE < n:
        _POOL, _POOL_SIZE = ThreadPoolExecutor(n, thread_name_prefix="matdiff-stack"), n
    return _POOL


def _forget_pool():
    """In a forked child the pool's threads do not exist (a fork copies only the calling thread), and an executor
    that believes it has them would never run a part: the child makes its own (a DataLoader worker, a
    multiprocessing pool)."""
    global _POOL, _POOL_SIZE
    _POOL, _POOL_SIZE = None, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)
