"""NumPy + LAPACK on the CPU, with matmul-rich blocked kernels on NumPy's own BLAS.

SciPy ships a second OpenBLAS with its own thread pool: alternating SciPy's trsm with NumPy's matmuls made
the matmuls after it 2x slower on a 2-core machine (both pools spin), and OpenBLAS trsm ran at ~30 GFLOP/s
against ~100 for dgemm. So the triangular solves and the lower-triangle products of the QR backward run
here as recursive 2x2 blockings whose flops are NumPy matmuls. SciPy is used for pivot selection only.
"""
import numpy as np

from .base import Backend


class NumPyBackend(Backend):
    """NumPy arrays on the CPU: QR from numpy.linalg (LAPACK), solves and products by the kernels below."""

    name = "numpy"
    device = "cpu"

    def __init__(self):
        super().__init__(np)
        self.array_type = np.ndarray

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

    def conj(self, a):
        return a.conj() if a.dtype.kind == "c" else a

    def real(self, a):
        return a.real if a.dtype.kind == "c" else a

    def diagonal(self, a):
        return np.diagonal(a, axis1=-2, axis2=-1)

    def tril(self, a, k=0):
        return np.where(_mask(a.shape[-2:], k, True), a, 0) if a.shape[-1] <= 2048 else np.tril(a, k)

    def triu(self, a, k=0):
        return np.where(_mask(a.shape[-2:], k, False), a, 0) if a.shape[-1] <= 2048 else np.triu(a, k)

    def add_diagonal(self, H, d):
        np.einsum("...ii->...i", H)[...] += d
        return H

    def diag_embed(self, d):
        k = d.shape[-1]
        out = np.zeros(d.shape + (k,), dtype=d.dtype)
        np.einsum("...ii->...i", out)[...] = d
        return out

    def phase(self, d):
        if d.dtype.kind != "c":
            return np.copysign(np.ones((), dtype=d.dtype), d)     # +-1 (a zero keeps any sign: it is singular)
        a = np.abs(d)
        a[a == 0] = 1
        D = d / a
        D[d == 0] = 1
        return D

    def qr(self, A):
        return np.linalg.qr(A, mode="reduced")

    def solve_triangular(self, T, B, *, lower, side="left", adjoint=False, overwrite=False):
        """Triangular solve on NumPy's own BLAS (see :func:`_solve_right`); never scipy's.

        SciPy ships a second OpenBLAS with its own thread pool: alternating scipy's trsm with NumPy's
        matmuls made the matmuls after it 2x slower here (both pools spin on 2 cores), and OpenBLAS trsm itself
        ran at ~30 GFLOP/s against ~100 for dgemm. A recursive blocked solve is matmul-rich and stays on one pool.
        """
        if adjoint:
            T, lower = np.conj(T.swapaxes(-1, -2)) if np.iscomplexobj(T) else T.swapaxes(-1, -2), not lower
        if side == "right":
            return _solve_right(T, B, lower, overwrite)
        # op(T)^{-1} B = (B^T op(T)^{-T})^T: a right solve with T^T (a view), lower <-> upper
        return _solve_right(T.swapaxes(-1, -2), B.swapaxes(-1, -2), not lower, overwrite).swapaxes(-1, -2)

    def tril_matmul(self, A, B, upper_a=False):
        n = A.shape[-2]
        if n <= _GEMMT_LEAF:
            out = A @ B
            np.copyto(out, 0, where=~_tri_mask(n, True))
            return out
        out = np.zeros(np.broadcast_shapes(A.shape[:-2], B.shape[:-2]) + (n, B.shape[-1]), dtype=np.result_type(A, B))
        _tril_matmul(out, A, B, upper_a)
        return out


_GEMMT_LEAF = 256


def _tril_matmul(out, A, B, upper_a):
    """``out <- tril(A B)`` by 2x2 blocks: ``[[tril(A1 B1), 0], [A2 B1, tril(A2 B2)]]`` -- half a matmul's flops
    (gemmt); if A is upper triangular, ``A2 = [0 | A22]`` and zero blocks are skipped too (a sixth). Blocks of
    at most 256 are plain matmuls (below that the saving is smaller than the bookkeeping, measured)."""
    n = out.shape[-1]
    if n <= _GEMMT_LEAF:
        np.matmul(A, B, out=out)
        np.copyto(out, 0, where=~_tri_mask(n, True))
        return
    h = n // 2
    if upper_a:
        np.matmul(A[..., h:, h:], B[..., h:, :h], out=out[..., h:, :h])
        _tril_matmul(out[..., h:, h:], A[..., h:, h:], B[..., h:, h:], True)
    else:
        np.matmul(A[..., h:, :], B[..., :, :h], out=out[..., h:, :h])
        _tril_matmul(out[..., h:, h:], A[..., h:, :], B[..., :, h:], False)
    _tril_matmul(out[..., :h, :h], A[..., :h, :], B[..., :, :h], False)


_LEAF = 64
_MASKS = {}


def _mask(shape, k, lower):
    """Cached boolean triangle of an m x n matrix: ``tril(ones, k)`` or ``triu(ones, k)`` (np.tril rebuilds its
    mask on every call, which costs more than the arithmetic for small matrices)."""
    key = (tuple(shape), k, lower)
    m = _MASKS.get(key)
    if m is None:
        m = np.tri(*shape, k=k if lower else k - 1, dtype=bool)
        m = _MASKS[key] = m if lower else ~m
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
        return _substitute(T, B, lower)
    if k <= _LEAF:                                      # small: one inverse, one matmul
        return B @ np.linalg.inv(np.where(_tri_mask(k, lower), T, 0))
    if T.ndim == 2 and B.ndim > 2:
        flat = B.reshape(-1, B.shape[-1])
        return _solve_right(T, flat, lower, overwrite and np.shares_memory(flat, B)).reshape(B.shape)
    dtype = np.result_type(T, B)
    shape = np.broadcast_shapes(T.shape[:-2], B.shape[:-2]) + B.shape[-2:]
    if overwrite and B.dtype == dtype and B.shape == shape and B.flags.writeable:
        X = B
    else:
        X = np.empty(shape, dtype=dtype)
        X[...] = B
    scratch = np.empty(X.shape[:-1] + (max(_LEAF, k - k // 2),), dtype=dtype)
    _solve_inplace(X, T, lower, scratch)
    return X


def _substitute(T, B, lower):
    """``X T = B`` column by column (forward/back substitution), each step one batched matvec over the stack:
    per-matrix LAPACK calls cost more than the arithmetic for stacks of small matrices."""
    k = T.shape[-1]
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
