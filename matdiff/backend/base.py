"""Every primitive of the contract (:mod:`matdiff.backend.contract`) over an array-API namespace ``xp``.

Rules call only the contract's primitives (and the arrays' own ``+ - * @``), so one rule serves every backend.
Subclasses add the linear algebra of their library (QR, triangular solves) and faster paths. ``xp`` is for this
package's own code: it is not part of the contract.
"""
import math

import numpy as np

from .contract import Contract


class Backend(Contract):
    """Common implementation over an array-API namespace ``xp``; subclasses add the linear algebra."""

    name = "abstract"
    device = "cpu"
    promotes = True     # do mixed-dtype operands promote as in NumPy? (array_api_strict refuses int with float)
    defers_checks = False   # do host copies synchronise a device? Then a sweep's checks reach the host once, at its end

    def __init__(self, xp, array_type=None):
        self.xp = xp
        self.array_type = array_type or type(xp.asarray(0.0))      # the exact class of the library's arrays
        self.arrays = self                  # the contract's "array backend underneath" (the Tensor backend's differs)
        self.float32, self.float64 = xp.float32, xp.float64                       # the contract's dtype constants
        self.complex64, self.complex128 = xp.complex64, xp.complex128
        self._concat = getattr(xp, "concat", None) or xp.concatenate
        self._kinds = {}

    # -- creation and conversion ---------------------------------------------------------------
    def asarray(self, x, dtype=None):
        return self.xp.asarray(x, dtype=dtype)

    def zeros(self, shape, dtype):
        return self.xp.zeros(shape, dtype=dtype)

    def ones(self, shape, dtype):
        return self.xp.ones(shape, dtype=dtype)

    def eye(self, n, dtype):
        return self.xp.eye(n, dtype=dtype)

    def from_host(self, a):
        """A NumPy array (or scalar) as an array of this backend (an explicit host-to-device copy)."""
        return self.xp.asarray(a)

    def to_host(self, a):
        """This backend's array as a NumPy array (an explicit device-to-host copy)."""
        return np.asarray(a)

    def own(self, x):
        """``x`` if it is an array of this backend, else None (callers turn None into a clear error)."""
        return x if type(x) is self.array_type else None

    def values(self, x):
        return x

    def astype(self, a, dtype):
        if a.dtype == dtype:
            return a
        return self.xp.astype(a, dtype) if hasattr(self.xp, "astype") else a.astype(dtype)   # CuPy: the method

    # -- dtypes ----------------------------------------------------------------------------------
    def _kind(self, dtype):
        """'c' complex, 'f' real float, '' otherwise -- cached per dtype (dtype comparisons are slow)."""
        try:
            return self._kinds[dtype]
        except KeyError:
            xp = self.xp
            k = "c" if dtype in (xp.complex64, xp.complex128) else "f" if dtype in (xp.float32, xp.float64) else ""
            self._kinds[dtype] = k
            return k

    def is_complex(self, dtype):
        return self._kind(dtype) == "c"

    def is_float(self, dtype):
        return self._kind(dtype) != ""

    def real_dtype(self, dtype):
        xp = self.xp
        return xp.float32 if dtype == xp.complex64 else xp.float64 if dtype == xp.complex128 else dtype

    def complex_dtype(self, dtype):
        xp = self.xp
        return xp.complex64 if dtype == xp.float32 else xp.complex128 if dtype == xp.float64 else dtype

    def result_type(self, *dtypes):
        return self.xp.result_type(*dtypes)

    def eps(self, dtype):
        key = ("eps", dtype)
        if key not in self._kinds:
            self._kinds[key] = float(self.xp.finfo(dtype).eps)
        return self._kinds[key]

    def dtype_name(self, dtype):
        return np.dtype(str(dtype).rsplit(".", 1)[-1]).name

    # -- elementwise and shape -------------------------------------------------------------------
    def conj(self, a):
        return self.xp.conj(a) if self.is_complex(a.dtype) else a

    def real(self, a):
        return self.xp.real(a) if self.is_complex(a.dtype) else a

    def imag(self, a):
        return self.xp.imag(a)

    def abs(self, a):
        return self.xp.abs(a)

    def amin(self, a):
        return self.xp.min(a)

    def any(self, a):
        return self.xp.any(a)

    def where(self, cond, a, b):
        return self.xp.where(cond, a, b)

    def mT(self, a):
        """Swap the last two axes (a view where the library allows)."""
        return self.xp.matrix_transpose(a)

    def mH(self, a):
        """Conjugate transpose of the last two axes."""
        return self.conj(self.mT(a))

    def tril(self, a, k=0):
        return self.xp.tril(a, k=k)

    def triu(self, a, k=0):
        return self.xp.triu(a, k=k)

    def diagonal(self, a):
        """The main diagonal of each matrix: shape ``a.shape[:-2] + (min(m, n),)``."""
        return self.xp.linalg.diagonal(a)

    def diag_embed(self, d):
        """Square matrices with ``d`` (..., k) on their diagonals."""
        k = d.shape[-1]
        return self.eye(k, d.dtype) * d[..., None, :]

    def add_diagonal(self, H, d):
        """``H + diag(d)`` for square matrices H (..., k, k); may update H in place (the caller owns it)."""
        return H + self.diag_embed(d)

    def phase(self, d):
        """``d / |d|`` elementwise, with 1 where ``d == 0`` (the unit factors of the gauge rotation)."""
        a = self.abs(d)
        zero = a == 0
        one = self.astype(self.xp.ones(d.shape, dtype=a.dtype), d.dtype)
        return self.where(zero, one, d / self.astype(self.where(zero, 1, a), d.dtype))

    def positive_real(self, d):
        return False            # a device or a trace would pay a synchronisation for it: the gauge just rotates

    def concat(self, arrays, axis):
        return self._concat(list(arrays), axis=axis)

    def reshape(self, a, shape):
        return self.xp.reshape(a, shape)

    def broadcast_to(self, a, shape):
        return self.xp.broadcast_to(a, shape)

    def sum(self, a, axis=None, keepdims=False):
        return self.xp.sum(a, axis=axis, keepdims=keepdims)

    def _take_along_axis(self, a, idx, axis):
        return self.xp.take_along_axis(a, idx, axis=axis)

    def permute(self, a, perm, axis):
        """Reorder the columns (``axis=-1``: ``a[..., :, perm]``) or rows (``axis=-2``) of matrices; ``perm`` may
        carry batch axes that broadcast with ``a``'s."""
        idx = perm[..., None, :] if axis == -1 else perm[..., :, None]
        shape = np.broadcast_shapes(tuple(idx.shape), tuple(a.shape))
        return self._take_along_axis(self.broadcast_to(a, shape), self.broadcast_to(idx, shape), axis)

    def argsort(self, a, axis=-1):
        return self.xp.argsort(a, axis=axis)

    def setitem_copy(self, shape, dtype, key, value):
        """``zeros(shape)`` with ``value`` written at ``key`` (the adjoint of basic slicing)."""
        out = self.zeros(shape, dtype)
        out[key] = value
        return out

    def vdot_real(self, a, b):
        """``Re <a, b> = Re sum(conj(a) * b)`` as a Python float: the real inner product of the trace identity."""
        return float(self.sum(self.real(self.conj(a) * b)))

    def total(self, a):
        """A real 0-d float64 array that is NaN or inf if ``a`` holds a NaN or an inf (the sum of every real and
        imaginary part; finite entries can overflow it, so a non-finite total is only a suspicion)."""
        s = self.xp.sum(self.real(a)) + self.xp.sum(self.imag(a)) if self.is_complex(a.dtype) else self.xp.sum(a)
        return self.astype(s, self.xp.float64)

    def host_values(self, *scalars):
        """0-d arrays of this backend as Python floats, in one device-to-host copy (one synchronisation)."""
        return [float(x) for x in self.to_host(self.xp.stack([self.astype(s, self.xp.float64) for s in scalars]))]

    def isfinite_all(self, *arrays):
        """No NaN or inf in any of ``arrays``, with one device-to-host copy: a finite total of their sums proves
        every entry finite; only a non-finite total (a NaN, or an overflow of huge entries) pays for the entrywise
        test."""
        total = self.total(arrays[0])
        for a in arrays[1:]:
            total = total + self.total(a)
        return math.isfinite(self.host_values(total)[0]) or all(bool(self.xp.all(self.xp.isfinite(a))) for a in arrays)

    def qr(self, A):
        """Reduced QR of a stack of matrices: ``Q`` (..., m, k), ``R`` (..., k, n), ``k = min(m, n)``."""
        return self.xp.linalg.qr(A, mode="reduced")

    def qr_complete(self, A):
        """Complete QR: ``Q`` (..., m, m), ``R`` (..., m, n)."""
        return self.xp.linalg.qr(A, mode="complete")

    def solve_triangular(self, T, B, *, lower, side="left", adjoint=False, overwrite=False):
        """``op(T)^{-1} B`` (side="left") or ``B op(T)^{-1}`` (side="right"), ``op(T) = T^H`` if adjoint.

        ``overwrite=True`` allows the result to reuse B's memory (the caller owns B and drops it).
        The generic version solves with a general solver; NumPy and CuPy override it with a triangular one.
        """
        T = self.tril(T) if lower else self.triu(T)
        if adjoint:
            T = self.mH(T)
        if side == "right":                                  # B T^{-1} = (T^{-T} B^T)^T
            T, B = self.mT(T), self.mT(B)
        # The batch axes are broadcast here, explicitly: NumPy's linalg.solve broadcasts them, CuPy's does not
        # ("a must have (..., M, M) shape and b must have (..., M, K)"); tests/backend/test_backends.py runs this path.
        batch = np.broadcast_shapes(tuple(T.shape[:-2]), tuple(B.shape[:-2]))
        T = self.broadcast_to(T, batch + tuple(T.shape[-2:]))
        B = self.broadcast_to(B, batch + tuple(B.shape[-2:]))
        X = self.xp.linalg.solve(T, B)
        return self.mT(X) if side == "right" else X

    def solve_right_adjoint(self, R, X):
        """``X R^{-H}``, R upper triangular: a right solve that may reuse X's memory (X is the rule's temporary)."""
        return self.solve_triangular(R, X, lower=False, side="right", adjoint=True, overwrite=True)

    def solve_left_adjoint(self, L, X):
        """``L^{-H} X``, L lower triangular: a left solve that may reuse X's memory (X is the rule's temporary)."""
        return self.solve_triangular(L, X, lower=True, side="left", adjoint=True, overwrite=True)

    def each_matrix(self, rule, *arrays, **kw):
        """The rule on the whole stack at once (a backend may split it: NumPy's does)."""
        return rule(self, *arrays, **kw)

    def hcopyltu(self, M):
        """``symh(E ∘ M)`` (Section 4.2, ``paper.hcopyltu``): M's strict lower triangle, its conjugate mirrored above,
        the real part of M's diagonal on it. Reads nothing above M's diagonal."""
        low = self.tril(M, -1)
        return self.add_diagonal(low + self.mH(low), self.real(self.diagonal(M)))

    def tril_matmul(self, A, B, upper_a=False):
        """The lower triangle (with the diagonal) of ``A @ B`` for a square product -- BLAS's gemmt contract: what lies
        above the diagonal is unspecified (zero or the product's entries), because ``copyltu``/``hcopyltu`` never
        read it. ``upper_a`` says A is upper triangular. The generic version forms the whole product; NumPy's skips
        the blocks that are zero or unneeded."""
        return A @ B

    def pivots(self, A, rows=False):
        """Column pivots of LAPACK geqp3 (``rows=True``: row pivots, i.e. geqp3 of ``A^H``), per matrix.

        Pivot selection is a sequential, data-dependent choice; it always runs on the host through LAPACK's
        geqp3 (SciPy's binding, the routine behind ``scipy.linalg.qr(..., pivoting=True)``, called directly to
        skip its per-call checks in a loop over a batch). A GPU array is copied to the host once for it, explicitly,
        and the pivots stay there: a NumPy integer array of shape ``A.shape[:-2] + (n,)`` (``(m,)`` for rows), which
        the permute node checks on the host and moves to the device once (no device -> host round trip).
        """
        from scipy.linalg import lapack

        H = self.to_host(A)
        if rows:
            H = np.conj(np.swapaxes(H, -1, -2))
        batch, n = H.shape[:-2], H.shape[-1]
        flat = H.reshape((-1,) + H.shape[-2:])
        perms = np.empty((flat.shape[0], n), dtype=np.int64)
        if flat.shape[0]:
            (geqp3,) = lapack.get_lapack_funcs(("geqp3",), (flat,))
            lwork = max(1, int(abs(geqp3(flat[0], lwork=-1)[3][0])))
            for i, M in enumerate(flat):
                perms[i] = geqp3(M, lwork=lwork)[1] - 1         # LAPACK's pivots count from 1
        return perms.reshape(batch + (n,))

    def __repr__(self):
        return f"<matdiff backend {self.name} on {self.device}>"
