"""Backends: one small interface over an array library, so that one rule serves every device.

A rule never imports numpy, scipy or cupy; it calls the methods of the :class:`Backend` it is handed
(``ctx.b``) and the arithmetic operators of the arrays themselves (``+ - * @``). Three backends ship:

* ``NumPyBackend``  -- NumPy + SciPy (LAPACK) on the CPU, device ``"cpu"``;
* ``CuPyBackend``   -- CuPy + cupyx (cuSOLVER) on the GPU, device ``"gpu"``;
* ``StrictBackend`` -- ``array_api_strict`` on the CPU: a deliberately minimal array-API library used by the
  test-suite as a stand-in second backend, which proves that the rules use nothing NumPy-only.

``backend_of(array)`` picks the backend from the array's type.
"""
import numpy as np

from .errors import DeviceError, MatdiffError


class Backend:
    """Common implementation over an array-API namespace ``xp``; subclasses add the linear algebra."""

    name = "abstract"
    device = "cpu"

    def __init__(self, xp):
        self.xp = xp
        self._concat = getattr(xp, "concat", None) or xp.concatenate
        self._kinds = {}

    # -- creation and conversion ---------------------------------------------------------------
    def is_array(self, x):
        return isinstance(x, self.array_type)

    def asarray(self, x, dtype=None):
        return self.xp.asarray(x, dtype=dtype)

    def zeros(self, shape, dtype):
        return self.xp.zeros(shape, dtype=dtype)

    def zeros_like(self, a):
        return self.xp.zeros(a.shape, dtype=a.dtype)

    def eye(self, n, dtype):
        return self.xp.eye(n, dtype=dtype)

    def from_host(self, a):
        """A NumPy array (or scalar) as an array of this backend (an explicit host-to-device copy)."""
        return self.xp.asarray(a)

    def to_host(self, a):
        """This backend's array as a NumPy array (an explicit device-to-host copy)."""
        return np.asarray(a)

    def astype(self, a, dtype):
        return a if a.dtype == dtype else self.xp.astype(a, dtype)

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

    def diag_part(self, a):
        """``I ∘ a``: the diagonal of each square matrix, zeros elsewhere."""
        return self.eye(a.shape[-1], a.dtype) * a

    def phase(self, d):
        """``d / |d|`` elementwise, with 1 where ``d == 0`` (the unit factors of the gauge rotation)."""
        a = self.abs(d)
        zero = a == 0
        one = self.astype(self.xp.ones(d.shape, dtype=a.dtype), d.dtype)
        return self.where(zero, one, d / self.astype(self.where(zero, 1, a), d.dtype))

    def concat(self, arrays, axis):
        return self._concat(list(arrays), axis=axis)

    def reshape(self, a, shape):
        return self.xp.reshape(a, shape)

    def broadcast_to(self, a, shape):
        return self.xp.broadcast_to(a, shape)

    def sum(self, a, axis=None, keepdims=False):
        return self.xp.sum(a, axis=axis, keepdims=keepdims)

    def take_along_axis(self, a, idx, axis):
        return self.xp.take_along_axis(a, idx, axis=axis)

    def argsort(self, a, axis=-1):
        return self.xp.argsort(a, axis=axis)

    def arange(self, n):
        return self.xp.arange(n)

    def setitem_copy(self, shape, dtype, key, value):
        """``zeros(shape)`` with ``value`` written at ``key`` (the adjoint of basic slicing)."""
        out = self.zeros(shape, dtype)
        out[key] = value
        return out

    def vdot_real(self, a, b):
        """``Re <a, b> = Re sum(conj(a) * b)`` as a Python float: the real inner product of the trace identity."""
        return float(self.sum(self.real(self.conj(a) * b)))

    def isfinite_all(self, a):
        return bool(self.xp.all(self.xp.isfinite(a)))

    def scalar(self, a):
        return float(a)

    # -- linear algebra --------------------------------------------------------------------------
    def qr(self, A):
        """Reduced QR of a stack of matrices: ``Q`` (..., m, k), ``R`` (..., k, n), ``k = min(m, n)``."""
        return self.xp.linalg.qr(A, mode="reduced")

    def solve_triangular(self, T, B, *, lower, side="left", adjoint=False, overwrite=False):
        """``op(T)^{-1} B`` (side="left") or ``B op(T)^{-1}`` (side="right"), ``op(T) = T^H`` if adjoint.

        ``overwrite=True`` allows the result to reuse B's memory (the caller owns B and drops it).
        The generic version solves with a general solver; NumPy and CuPy override it with a triangular one.
        """
        T = self.tril(T) if lower else self.triu(T)
        if adjoint:
            T = self.mH(T)
        if side == "left":
            return self.xp.linalg.solve(T, B)
        return self.mT(self.xp.linalg.solve(self.mT(T), self.mT(B)))

    def tril_matmul(self, A, B, upper_a=False):
        """The lower triangle (with the diagonal) of ``A @ B`` for a square product; the rest is zero.

        Enough for ``copyltu``/``hcopyltu``, which read only that triangle. ``upper_a`` says A is upper triangular.
        The generic version forms the whole product; NumPy's skips the blocks that are zero or unneeded.
        """
        return self.tril(A @ B)

    def pivots(self, A, rows=False):
        """Column pivots of LAPACK geqp3 (``rows=True``: row pivots, i.e. geqp3 of ``A^H``), per matrix.

        Pivot selection is a sequential, data-dependent choice; it always runs on the host through
        ``scipy.linalg.qr(..., pivoting=True)``. A GPU array is copied to the host once for it.
        Returns an integer array of this backend, shape ``A.shape[:-2] + (n,)`` (``(m,)`` for rows).
        """
        import scipy.linalg

        H = self.to_host(A)
        if rows:
            H = np.conj(np.swapaxes(H, -1, -2))
        batch = H.shape[:-2]
        flat = H.reshape((-1,) + H.shape[-2:])
        perms = np.empty((flat.shape[0], H.shape[-1]), dtype=np.int64)
        for i, M in enumerate(flat):
            perms[i] = scipy.linalg.qr(M, mode="r", pivoting=True)[1]
        return self.from_host(perms.reshape(batch + (H.shape[-1],)))

    def __repr__(self):
        return f"<matdiff backend {self.name} on {self.device}>"


class NumPyBackend(Backend):
    """NumPy arrays on the CPU; LAPACK through numpy.linalg and scipy.linalg."""

    name = "numpy"
    device = "cpu"

    def __init__(self):
        super().__init__(np)
        self.array_type = np.ndarray
        self._masks = {}

    def asarray(self, x, dtype=None):
        return np.asarray(x, dtype=dtype)

    def from_host(self, a):
        return np.asarray(a)

    def mT(self, a):
        return a.swapaxes(-1, -2)

    def conj(self, a):
        return a.conj() if a.dtype.kind == "c" else a

    def real(self, a):
        return a.real if a.dtype.kind == "c" else a

    def diagonal(self, a):
        return np.diagonal(a, axis1=-2, axis2=-1)

    def tril(self, a, k=0):
        return a * self._mask(a, k, True) if a.shape[-1] <= 64 else np.tril(a, k)

    def triu(self, a, k=0):
        return a * self._mask(a, k, False) if a.shape[-1] <= 64 else np.triu(a, k)

    def _mask(self, a, k, lower):
        """0/1 triangle masks of small matrices, cached: a multiply beats np.tril's mask building there."""
        key = (a.shape[-2:], k, lower, a.dtype)
        m = self._masks.get(key)
        if m is None:
            m = np.tri(*a.shape[-2:], k=k if lower else k - 1, dtype=a.dtype)
            m = self._masks[key] = m if lower else 1 - m
        return m

    def diag_embed(self, d):
        k = d.shape[-1]
        out = np.zeros(d.shape + (k,), dtype=d.dtype)
        np.einsum("...ii->...i", out)[...] = d
        return out

    def diag_part(self, a):
        if a.shape[-1] > 64:
            return self.diag_embed(np.diagonal(a, axis1=-2, axis2=-1))
        key = (a.shape[-1], "eye", a.dtype)
        eye = self._masks.get(key)
        if eye is None:
            eye = self._masks[key] = np.eye(a.shape[-1], dtype=a.dtype)
        return a * eye

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
        if A.shape[-2] <= 128:
            return self.tril(A @ B)
        out = np.zeros(np.broadcast_shapes(A.shape[:-2], B.shape[:-2]) + (A.shape[-2], B.shape[-1]),
                       dtype=np.result_type(A, B))
        _tril_matmul(out, A, B, upper_a)
        return out


def _tril_matmul(out, A, B, upper_a):
    """``out <- tril(A B)`` by 2x2 blocks: ``[[tril(A1 B1), 0], [A2 B1, tril(A2 B2)]]`` -- half a matmul's flops
    (gemmt); if A is upper triangular, ``A2 = [0 | A22]`` and zero blocks are skipped too (a sixth)."""
    n = out.shape[-1]
    if n <= 128:
        np.matmul(A, B, out=out)
        out[...] = np.tril(out)
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
_TRI = {}


def _tri_mask(k, lower):
    """Cached boolean k x k triangle (with the diagonal)."""
    m = _TRI.get((k, lower))
    if m is None:
        m = _TRI[(k, lower)] = np.tri(k, dtype=bool) if lower else np.tri(k, dtype=bool).T
    return m


def _solve_right(T, B, lower, overwrite=False):
    """``X = B T^{-1}`` for triangular ``T`` (..., k, k), ``B`` (..., m, k), by recursive 2x2 blocking.

    Upper T: ``X1 = B1 T11^{-1}``, ``X2 = (B2 - X1 T12) T22^{-1}``; lower T mirrors it. Almost all flops are
    matmuls; diagonal blocks of at most 64 are inverted by LAPACK (getri) and applied by a matmul. The work
    happens in place in one output array with one scratch buffer: fresh large temporaries cost page faults
    that, measured here, took as long as the matmuls. A 2-D T shared by a stack of B is folded into one tall
    B (a free reshape), so a stack of seeds costs one solve.
    """
    if T.shape[-1] <= _LEAF:                          # small: one inverse, one matmul
        return B @ np.linalg.inv(T * _tri_mask(T.shape[-1], lower))
    if T.ndim == 2 and B.ndim > 2:
        flat = B.reshape(-1, B.shape[-1])
        return _solve_right(T, flat, lower, overwrite and np.shares_memory(flat, B)).reshape(B.shape)
    T = np.tril(T) if lower else np.triu(T)          # only T's triangle is read, as in LAPACK
    dtype = np.result_type(T, B)
    shape = np.broadcast_shapes(T.shape[:-2], B.shape[:-2]) + B.shape[-2:]
    if overwrite and B.dtype == dtype and B.shape == shape and B.flags.writeable:
        X = B
    else:
        X = np.empty(shape, dtype=dtype)
        X[...] = B
    k = T.shape[-1]
    scratch = np.empty(X.shape[:-1] + (max(_LEAF, k - k // 2),), dtype=dtype)
    _solve_inplace(X, T, lower, scratch)
    return X


def _solve_inplace(X, T, lower, scratch):
    k = T.shape[-1]
    if k <= _LEAF:      # a small diagonal block: invert it (LAPACK getrf/getri), apply it with one matmul
        out = scratch[..., :k]
        np.matmul(X, np.linalg.inv(T), out=out)
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


class CuPyBackend(Backend):
    """CuPy arrays on the GPU; cuSOLVER through cupy.linalg and cupyx.scipy.linalg."""

    name = "cupy"
    device = "gpu"

    def __init__(self):
        import cupy

        super().__init__(cupy)
        self.array_type = cupy.ndarray

    def to_host(self, a):
        return self.xp.asnumpy(a)

    def mT(self, a):
        return a.swapaxes(-1, -2)

    def diagonal(self, a):
        return self.xp.diagonal(a, axis1=-2, axis2=-1)

    def isfinite_all(self, a):
        return bool(self.xp.isfinite(a).all())

    def qr(self, A):
        return self.xp.linalg.qr(A, mode="reduced")

    def solve_triangular(self, T, B, *, lower, side="left", adjoint=False, overwrite=False):
        from cupyx.scipy.linalg import solve_triangular

        if T.ndim == 2 and B.ndim == 2:
            if side == "left":
                return solve_triangular(T, B, lower=lower, trans="C" if adjoint else "N")
            Tc = self.xp.conj(T) if adjoint else T
            return solve_triangular(Tc, B.T, lower=lower, trans="N" if adjoint else "T").T
        if T.ndim == 2:   # one T for a whole stack: fold the stack into columns (one cuBLAS trsm)
            if side == "right":
                Tc = self.xp.conj(T) if adjoint else T
                k = B.shape[-1]
                return solve_triangular(Tc, B.reshape(-1, k).T, lower=lower,
                                        trans="N" if adjoint else "T").T.reshape(B.shape)
            k = B.shape[-2]
            Bt = self.xp.moveaxis(B, -2, 0).reshape(k, -1)
            X = solve_triangular(T, Bt, lower=lower, trans="C" if adjoint else "N")
            return self.xp.moveaxis(X.reshape((k,) + B.shape[:-2] + B.shape[-1:]), 0, -2)
        return super().solve_triangular(T, B, lower=lower, side=side, adjoint=adjoint)  # batched LU solve


class StrictBackend(Backend):
    """``array_api_strict``: the array API standard and nothing else, on the CPU (test stand-in)."""

    name = "array_api_strict"
    device = "cpu"

    def __init__(self):
        import array_api_strict

        super().__init__(array_api_strict)
        self.array_type = array_api_strict._array_object.Array

    def to_host(self, a):
        return np.asarray(a._array) if hasattr(a, "_array") else np.asarray(a)

    def from_host(self, a):
        return self.xp.asarray(np.asarray(a))

    def dtype_name(self, dtype):
        return str(dtype).rsplit(".", 1)[-1]

    def setitem_copy(self, shape, dtype, key, value):
        out = self.zeros(shape, dtype)
        out[key] = value
        return out


# -- choosing a backend ------------------------------------------------------------------------
_INSTANCES = {}
_FACTORIES = {"numpy": NumPyBackend, "cupy": CuPyBackend, "array_api_strict": StrictBackend}


def get(name):
    """The backend instance called ``name`` ("numpy", "cupy", "array_api_strict"), created once."""
    if name not in _INSTANCES:
        if name not in _FACTORIES:
            raise DeviceError(f"unknown backend {name!r}; known: {sorted(_FACTORIES)}")
        try:
            _INSTANCES[name] = _FACTORIES[name]()
        except ImportError as e:
            extra = " Install it with `pip install matdiff[gpu]` (CuPy) on a machine with a GPU." if name == "cupy" else ""
            raise DeviceError(f"backend {name!r} is not available: {e}.{extra}") from None
    return _INSTANCES[name]


def backend_of(x):
    """The backend that owns array ``x``, chosen by the array's type (its module)."""
    if isinstance(x, (np.ndarray, np.generic)):
        return get("numpy")
    mod = type(x).__module__.split(".")[0]
    if mod in ("cupy", "array_api_strict"):
        return get(mod)
    raise MatdiffError(f"matdiff cannot hold a {type(x).__name__}; give a NumPy or CuPy array (or a list/scalar)")


def for_device(device):
    """The backend for a device name: "cpu" -> NumPy, "gpu"/"cuda" -> CuPy."""
    if device in ("cpu", None):
        return get("numpy")
    if device in ("gpu", "cuda"):
        b = get("cupy")
        try:
            if b.xp.cuda.runtime.getDeviceCount() < 1:
                raise DeviceError("CuPy is installed but no GPU device is visible")
        except DeviceError:
            raise
        except Exception as e:
            raise DeviceError(f"no usable GPU: {e}") from None
        return b
    raise DeviceError(f"unknown device {device!r}; use 'cpu' or 'gpu'")


def gpu_available():
    """True when CuPy imports and sees at least one CUDA device."""
    try:
        for_device("gpu")
        return True
    except MatdiffError:
        return False

