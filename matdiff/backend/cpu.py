"""NumPy + LAPACK on the CPU, with matmul-rich blocked kernels on NumPy's own BLAS.

SciPy ships a second OpenBLAS with its own thread pool: alternating SciPy's trsm with NumPy's matmuls made
the matmuls after it 2x slower on a 2-core machine (both pools spin). So the triangular solve of one matrix is
trsm on *NumPy's own* OpenBLAS (ctypes, :func:`fast_qr.trsm`), stacks of them recursive 2x2 blockings whose flops
are NumPy matmuls, and the lower-triangle products of the QR backward row panels of NumPy matmuls. SciPy's
LAPACK/BLAS serve pivot selection and
*one small matrix* (at most 4096 entries: QR by geqrfp + orgqr, solves by trsm): there numpy.linalg's Python
wrappers cost more than the flops, and calls that small never wake a thread pool.
"""
import cmath

import numpy as np
from scipy.linalg import blas, lapack

from . import fast_qr, stacks
from .base import Backend

_SMALL = 4096       # entries: one matrix this small goes straight to LAPACK (numpy.linalg's wrappers cost more)
_SMALL_TRSM = 512   # ... and a right-hand side this small to SciPy's trsm: from 1024 entries on (64x16, 32x32) it
#                     wakes SciPy's OpenBLAS pool, whose spinning threads made NumPy's next matmul 4.6x slower here;
#                     geqrf + orgqr up to 4096 entries (64x64, 4096x1, complex too) left it asleep (measured)


class NumPyBackend(Backend):
    """NumPy arrays on the CPU: QR from numpy.linalg (LAPACK), solves and products by the kernels below."""

    name = "numpy"
    device = "cpu"

    def __init__(self):
        super().__init__(np, np.ndarray)

    def asarray(self, x, dtype=None):
        return np.asarray(x, dtype=dtype)

    def from_host(self, a):
        return np.asarray(a)

    def own(self, x):
        if type(x) is np.ndarray:
            return x
        return np.asarray(x) if isinstance(x, np.generic) else None    # 0-d arithmetic returns NumPy scalars

    def mT(self, a):
        return a.swapaxes(-1, -2)

    def mH(self, a):
        t = a.swapaxes(-1, -2)
        return t.conj() if t.dtype.kind == "c" else t

    def conj(self, a):
        return a.conj() if a.dtype.kind == "c" else a

    def real(self, a):
        return a.real if a.dtype.kind == "c" else a

    def diagonal(self, a):
        return a.diagonal(0, -2, -1)

    def tril(self, a, k=0):
        return np.where(_mask(a.shape[-2:], k, True), a, _ZERO) if a.shape[-1] <= 2048 else np.tril(a, k)

    def triu(self, a, k=0):
        return np.where(_mask(a.shape[-2:], k, False), a, _ZERO) if a.shape[-1] <= 2048 else np.triu(a, k)

    def hcopyltu(self, M):
        """One select: M on and below the diagonal, ``M^H`` above (nothing above M's diagonal is read, not even by
        arithmetic: an inf there changes nothing). Complex: the diagonal's imaginary part is then dropped by
        ``(H + H^H) / 2``, exact off the diagonal, where H is Hermitian already."""
        k = M.shape[-1]
        H = np.where(_mask((k, k), 0, True), M, self.mH(M))
        return (H + self.mH(H)) / 2 if H.dtype.kind == "c" else H

    def add_diagonal(self, H, d):
        if H.ndim == 2 and H.flags.c_contiguous:
            H.reshape(-1)[::H.shape[-1] + 1] += d       # a view of the diagonal, without einsum's parsing
        else:
            np.einsum("...ii->...i", H)[...] += d
        return H

    def diag_embed(self, d):
        k = d.shape[-1]
        out = np.zeros(d.shape + (k,), dtype=d.dtype)
        np.einsum("...ii->...i", out)[...] = d
        return out

    def phase(self, d):
        return fast_qr.phase(d)                 # real: +-1 in d's dtype (a zero keeps any sign: it is singular)

    def positive_real(self, d):
        if d.dtype.kind == "c":
            return not d.imag.any() and bool((d.real > 0).all())
        return bool((d > 0).all())                  # a NaN is not > 0

    def qr(self, A):
        """One small matrix: geqrfp + orgqr straight from SciPy (already in the gauge); one larger one:
        :func:`fast_qr.qr` (CholeskyQR2 where it is faster and proves its result, else Householder on the thread
        count measured best); a wide one: the partition of its leading square block; stacks: NumPy."""
        if A.ndim == 2 and 0 < A.size and A.dtype.char in "fdFD":
            m, n = A.shape
            if m < n:           # wide: QR of the leading square block, then V = Q^H Y as one matmul -- what geqrf
                Q, U = self.qr(A[:, :m])       # does, with level-3 updates (32x64: 25 us against geqrf's 46)
                R = np.empty((m, n), dtype=Q.dtype)
                R[:, :m] = U
                np.matmul(self.mH(Q), A[:, m:], out=R[:, m:])
                return Q, R
            return _qr_small(A) if A.size <= _SMALL else fast_qr.qr(A)
        return np.linalg.qr(A, mode="reduced")

    def qr_complete(self, A):
        """Complete QR: Householder (numpy.linalg.qr) on the thread count measured best for geqrf + orgqr."""
        return fast_qr.householder(A, mode="complete")

    def isfinite_all(self, *arrays):
        """Small arrays: a finite sum of squares (one BLAS dot, which raises no floating-point warnings) proves every
        entry finite -- twice as fast as ``isfinite(a).all()`` --, and only a non-finite one (a NaN, an inf, or entries
        whose squares overflow) pays for the entrywise test. Large ones go entrywise at once: a long dot would wake
        the BLAS thread pool, which the worker threads of gradcheck then fight."""
        for a in arrays:
            if a.size > _SMALL or not cmath.isfinite(np.vdot(a, a)):
                if not _all(np.isfinite(a), None):
                    return False
        return True

    def solve_triangular(self, T, B, *, lower, side="left", adjoint=False, overwrite=False):
        """Triangular solve on NumPy's own BLAS, never SciPy's (a second pool: see the module docstring). One
        matrix: BLAS trsm through ctypes (:func:`_trsm`; 1.1-1.3x faster than the recursive blocking, measured
        2026-12-02, and backward stable); a stack: :func:`_solve_right`; a tiny one: SciPy's trsm (one thread)."""
        if T.ndim == 2 and B.ndim == 2 and T.dtype.char in "fdFD" and B.dtype.char in "fdFD":
            if B.size <= _SMALL_TRSM:
                return _trsm_small(T, B, lower, side, adjoint)
            if fast_qr.available():
                return _trsm(T, B, lower, side, adjoint, overwrite)
        if adjoint:
            T, lower = np.conj(T.swapaxes(-1, -2)) if np.iscomplexobj(T) else T.swapaxes(-1, -2), not lower
        if side == "right":
            return _solve_right(T, B, lower, overwrite)
        # op(T)^{-1} B = (B^T op(T)^{-T})^T: a right solve with T^T (a view), lower <-> upper
        return _solve_right(T.swapaxes(-1, -2), B.swapaxes(-1, -2), not lower, overwrite).swapaxes(-1, -2)

    def each_matrix(self, rule, *arrays, **kw):
        """The rule on parts of a large stack of small matrices at once, in threads, where that pays
        (:mod:`matdiff.backend.stacks`: complex128 256 x 32x16 forward + backward 0.77-0.91x the time); else whole."""
        return stacks.each_matrix(self, rule, arrays, kw)

    def tril_matmul(self, A, B, upper_a=False):
        """The lower triangle of ``A B`` (gemmt) by row panels of ``nb`` rows: ``out[I, :e] = A[I, :] B[:, :e]``
        (``A[I, i:] B[i:, :e]`` if A is upper triangular) -- ``1/2 + nb/2n`` of a matmul's flops (``1/6 + ...`` for
        upper A) in n/nb (4) large matmuls, written straight into one output. Small: the whole product (its upper part
        is never read). OpenBLAS's own gemmt ran at half this speed here, the 2x2 recursion it replaced saved only
        a quarter of the flops at n = 500 (measured). Above the diagonal: zeros."""
        n = A.shape[-2]
        if n <= _GEMMT_LEAF:
            return A.dot(B) if A.ndim == 2 and B.ndim == 2 else A @ B    # dot: no gufunc set-up, 2x faster at 4x4
        out = np.zeros(np.broadcast_shapes(A.shape[:-2], B.shape[:-2]) + (n, B.shape[-1]), dtype=np.result_type(A, B))
        nb = max(_GEMMT_PANEL, -(-n // 4))
        for i in range(0, n, nb):
            e = min(i + nb, n)
            if upper_a:
                np.matmul(A[..., i:e, i:], B[..., i:, :e], out=out[..., i:e, :e])
            else:
                np.matmul(A[..., i:e, :], B[..., :, :e], out=out[..., i:e, :e])
        return out


_GEMMT_LEAF = 256       # rows: up to here the whole product
_GEMMT_PANEL = 128      # rows per panel at least: 4 panels -- on one thread as fast as 8 (64 rows), and on two
#                         threads of a loaded machine each threaded call costs a sync, so fewer calls (measured)


_all = np.logical_and.reduce
_ZERO = np.zeros((), dtype=np.int8)     # np.where's "else" as an array: a Python 0 is converted on every call
_ROUTINES = {}


def _routine(kind, names, dtype):
    """SciPy's LAPACK/BLAS wrappers for ``dtype`` (``orgqr`` is ``ungqr`` for complex), looked up once."""
    key = (names, dtype)
    if key not in _ROUTINES:
        _ROUTINES[key] = (lapack.get_lapack_funcs if kind == "lapack" else blas.get_blas_funcs)(
            names, dtype=dtype)
    return _ROUTINES[key]


def _qr_small(A):
    """Reduced QR of one small matrix: LAPACK geqrfp + orgqr (ungqr) called directly -- numpy.linalg.qr's wrapper
    costs more than the factorisation of an 8x4 (measured 16 vs 6 us). geqrfp is geqrf whose reflectors make diag R
    real and non-negative: the factors leave in matdiff's gauge, so the node rotates nothing (the same speed as
    geqrf at 64x32; the gauge's two products and phases saved 10-15 us a call). Small calls run on one thread, so
    SciPy's OpenBLAS pool never wakes (see the module docstring)."""
    geqrfp, orgqr = _routine("lapack", ("geqrfp", "orgqr"), A.dtype)
    m, n = A.shape
    k = min(m, n)
    qr, tau, info = geqrfp(A)
    Q, _, info2 = orgqr(qr[:, :k], tau)
    if info or info2:
        raise np.linalg.LinAlgError(f"LAPACK geqrfp/orgqr failed (info {info}, {info2})")
    # R: LAPACK's (finite) output times the upper triangle of ones (a product costs a third of np.where)
    return Q, qr[:k] * _mask((k, n), 0, False, qr.real.dtype)


def _trsm(T, B, lower, side, adjoint, overwrite):
    """``op(T)^{-1} B`` or ``B op(T)^{-1}`` for one matrix by BLAS trsm on NumPy's own OpenBLAS
    (:func:`fast_qr.trsm`), in place in B where the caller allows it and B is C-ordered already; T is copied only
    if it is not C-ordered (k x k, small beside the solve's k^2 p flops)."""
    k = B.shape[0 if side == "left" else 1]
    if T.shape != (k, k):       # BLAS would read past T: refuse as NumPy's matmul does
        raise ValueError(f"solve_triangular: T is {T.shape[0]}x{T.shape[1]} but B is {B.shape[0]}x{B.shape[1]} "
                         f"(side={side!r}): T must be square, of B's {'rows' if side == 'left' else 'columns'}")
    dtype = np.result_type(T, B)
    T = np.ascontiguousarray(T, dtype=dtype)
    X = _in_place(T, B, overwrite, B.flags.c_contiguous)
    if X is None:
        X = np.array(B, dtype=dtype, order="C")
    return fast_qr.trsm(T, X, side, lower, ("C" if dtype.kind == "c" else "T") if adjoint else "N")


def _trsm_small(T, B, lower, side, adjoint):
    """``op(T)^{-1} B`` or ``B op(T)^{-1}`` for one small system by BLAS trsm, called directly (one thread)."""
    dtype = T.dtype
    if B.dtype is not dtype:
        dtype = np.result_type(T, B)
        T, B = T.astype(dtype), B.astype(dtype)
    (trsm,) = _routine("blas", ("trsm",), dtype)
    return trsm(1.0, T, B, side == "right", lower, 2 if adjoint else 0)      # side, lower, trans_a (2: ^H)


_LEAF = 64
_MASKS = {}


def _mask(shape, k, lower, dtype=bool):
    """Cached triangle of an m x n matrix: ``tril(ones, k)`` or ``triu(ones, k)``, boolean or of ones in ``dtype``
    (np.tril rebuilds its mask on every call, which costs more than the arithmetic for small matrices)."""
    key = (tuple(shape), k, lower, dtype)
    m = _MASKS.get(key)
    if m is None:
        m = np.tri(*shape, k=k if lower else k - 1, dtype=bool)
        m = _MASKS[key] = (m if lower else ~m).astype(dtype, copy=False)
    return m


def _tri_mask(k, lower):
    """The k x k triangle with its diagonal."""
    return _mask((k, k), 0, lower)


def _solve_right(T, B, lower, overwrite=False):
    """``X = B T^{-1}`` for triangular ``T`` (..., k, k), ``B`` (..., m, k), by recursive 2x2 blocking.

    Upper T: ``X1 = B1 T11^{-1}``, ``X2 = (B2 - X1 T12) T22^{-1}``; lower T mirrors it. Almost all flops are
    matmuls; diagonal blocks of at most 64 are inverted by LAPACK (getri) and applied by a matmul. The work
    happens in place in one output array with one scratch buffer: fresh large temporaries cost page faults
    that, measured here, took as long as the matmuls. A 2-D T shared by a stack of B is folded into one tall
    B (a free reshape), so a stack of seeds costs one solve.
    """
    k = T.shape[-1]
    if k <= 32 and T.ndim > 2 and T.size >= 16 * k * k:  # a stack of small T: substitution, vectorised over the stack
        if _each_pays(T, B):                            # ... unless the stack outgrows the cache: trsm per matrix
            return _trsm_each(T, B, lower, overwrite)
        return _substitute(T, B, lower, overwrite)
    if k <= _LEAF:                                      # small: one inverse, one matmul
        return B @ np.linalg.inv(np.where(_tri_mask(k, lower), T, 0))
    if T.ndim == 2 and B.ndim > 2:
        flat = B.reshape(-1, B.shape[-1])
        return _solve_right(T, flat, lower, overwrite and np.shares_memory(flat, B)).reshape(B.shape)
    X = _in_place(T, B, overwrite, True)            # the blocking works in place in any layout
    if X is None:
        X = np.empty(np.broadcast_shapes(T.shape[:-2], B.shape[:-2]) + B.shape[-2:], dtype=np.result_type(T, B))
        X[...] = B
    scratch = np.empty(X.shape[:-1] + (max(_LEAF, k - k // 2),), dtype=X.dtype)
    _solve_inplace(X, T, lower, scratch)
    return X


def _each_pays(T, B):
    """Whether one trsm per matrix beats :func:`_substitute` for this stack (measured 2026-12-02, 64-2048 matrices
    of 16x16 to 64x32): substitution passes over the whole stack k times, which stops paying once the right-hand
    sides outgrow the cache -- from 2 MB complex, 4 MB real with 32 columns; below, the per-call cost (~6 us)
    loses. Needs NumPy's OpenBLAS and one batch shape for T and B (no broadcasting)."""
    if not fast_qr.available() or T.shape[:-2] != B.shape[:-2] or B.dtype.char not in "fdFD":
        return False
    size = B.size * np.result_type(T, B).itemsize
    return size >= (1 << 21) if np.iscomplexobj(B) or np.iscomplexobj(T) else T.shape[-1] >= 32 and size >= (1 << 22)


def _in_place(T, B, overwrite, ordered):
    """B itself as the solve's output where the caller allows it (``overwrite``), B already has the result's dtype
    and shape and is writeable, and its layout suits the solver (``ordered``, the caller's test); else None. A fresh
    output of a stack's size costs page faults here (a freed buffer of a few hundred KB is often handed back to the OS).
    Measured 2026-12-03, in one process, interleaved: the QR backward rule alone, called in a loop, of a 256 x 32x16
    stack took 0.71x the time (real and complex), of 1000 complex 8x4 0.77x, LQ's of a real 256 x 16x32 0.70x; but
    the whole backward through the engine only 0.95-1.0x (its other buffers keep the heap warm)."""
    if overwrite and ordered and B.flags.writeable and B.dtype == np.result_type(T, B) \
            and B.shape == np.broadcast_shapes(T.shape[:-2], B.shape[:-2]) + B.shape[-2:]:
        return B
    return None


def _trsm_each(T, B, lower, overwrite=False):
    """``X T = B`` matrix by matrix (:func:`fast_qr.trsm_each`), on C-ordered copies in the common dtype (in B
    itself where :func:`_in_place` allows)."""
    dtype = np.result_type(T, B)
    k = T.shape[-1]
    X = _in_place(T, B, overwrite, B.flags.c_contiguous)
    X = (np.array(B, dtype=dtype, order="C") if X is None else X).reshape(-1, B.shape[-2], k)
    fast_qr.trsm_each(np.ascontiguousarray(T, dtype=dtype).reshape(-1, k, k), X, lower)
    return X.reshape(B.shape)


def _substitute(T, B, lower, overwrite=False):
    """``X T = B`` column by column (forward/back substitution), each step one batched matvec over the stack:
    per-matrix LAPACK calls cost more than the arithmetic for stacks of small matrices. In B itself where
    :func:`_in_place` allows -- C order, or a C-ordered stack's transpose (a left solve's B): column j reads only
    ``B[..., j]`` and the columns already solved."""
    k = T.shape[-1]
    X = _in_place(T, B, overwrite, B.flags.c_contiguous or B.swapaxes(-1, -2).flags.c_contiguous)
    if X is None:
        X = np.empty(np.broadcast_shapes(T.shape[:-2], B.shape[:-2]) + B.shape[-2:], dtype=np.result_type(T, B))
    for j in (range(k - 1, -1, -1) if lower else range(k)):
        done = slice(j + 1, None) if lower else slice(None, j)
        col = B[..., j] - (X[..., done] @ T[..., done, j:j + 1])[..., 0]
        X[..., j] = col / T[..., j:j + 1, j]
    return X


def _solve_inplace(X, T, lower, scratch):
    k = T.shape[-1]
    if k <= _LEAF:      # a diagonal block (only its triangle is read): invert it with LAPACK, apply by one matmul
        out = scratch[..., :k]
        np.matmul(X, np.linalg.inv(np.where(_tri_mask(k, lower), T, 0)), out=out)
        X[...] = out
        return
    h = k // 2
    if lower:   # X2 T22 = B2 ;  X1 T11 = B1 - X2 T21
        first, second, couple = slice(h, None), slice(None, h), T[..., h:, :h]
    else:       # X1 T11 = B1 ;  X2 T22 = B2 - X1 T12
        first, second, couple = slice(None, h), slice(h, None), T[..., :h, h:]
    _solve_inplace(X[..., first], T[..., first, first], lower, scratch)
    upd = scratch[..., :couple.shape[-1]]
    np.matmul(X[..., first], couple, out=upd)
    X[..., second] -= upd
    _solve_inplace(X[..., second], T[..., second, second], lower, scratch)
