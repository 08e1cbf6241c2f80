"""The backend contract: every primitive a rule (and the engine around it) may call on ``b = ctx.b``.

A rule never imports an array library. It gets arrays (or, under ``create_graph=True``, Tensors) and a backend
``b``, and uses only (1) the methods and attributes listed here and (2) what every array of the contract supports
by itself: ``+ - * / @``, unary ``-``, ``x * python_scalar``, basic indexing ``x[..., i:j, :]`` (ints, slices,
``...``) and ``x[key] = y`` on a fresh array, ``.shape`` (a tuple), ``.ndim``, ``.dtype``, ``.size``, in-place
``+=`` / ``-=`` / ``*=`` on an array the rule made itself (or a factorisation returned; JAX rebinds the name).
Matrices live on the last two axes; any leading axes are a batch and broadcast as in NumPy.

Each primitive is one stub below, tagged with its kind (``PRIMITIVES[name]``):

* ``differentiable`` -- the Tensor backend (``ops.on_tensors.GraphBackend``) records it as ops, so a rule built from
  these can be differentiated again (``create_graph=True``);
* ``forward`` -- forward-only (a factorisation, a pivot choice, a phase, a host check): the Tensor backend applies
  it to constant arrays and refuses it on a Tensor with a MatdiffError naming it;
* ``query`` -- no array is differentiated (dtype questions, constants, conversions): the Tensor backend hands it
  to the array backend underneath, unchanged.

Attributes (``ATTRIBUTES``) are queries too. ``xp`` (the library's namespace) is *not* in the contract: a rule that
reached for it would work on one library and not on the next; ``tests/backend/test_contract.py`` runs every rule
through a proxy that refuses any name not listed here.

**A new array library** (torch, jax.numpy -- issue 21) is one small file, ``matdiff/backend/<lib>.py``:

1. subclass :class:`matdiff.backend.base.Backend`, which implements every primitive over an array-API namespace
   (``super().__init__(namespace)``), and set ``name``, ``device``, ``array_type`` (the exact array class),
   ``promotes`` (do mixed dtypes promote as in NumPy?) and ``defers_checks`` (does a host copy synchronise a device?);
2. override what the namespace lacks or does differently: at least ``to_host``/``from_host`` (to and from NumPy),
   usually ``qr``/``qr_complete`` (reduced/complete QR of a stack), ``solve_triangular`` (the generic one uses a
   general solver), ``mT`` (a view), ``dtype_name``; anything else only where it is faster;
3. add it to ``_FACTORIES`` and ``owner`` in ``matdiff/backend/__init__.py``; ``tests/backend/test_contract.py``
   then checks it implements every primitive, and ``matdiff.testing.BACKENDS`` runs the op tests on it.
"""
import functools

DIFFERENTIABLE, FORWARD, QUERY = "differentiable", "forward", "query"

#: attributes every backend has (all queries), with their meaning
ATTRIBUTES = {
    "name": "the backend's name: 'numpy', 'cupy', 'array_api_strict' (the Tensor backend: its arrays' name)",
    "device": "where the arrays live: 'cpu' or 'gpu'",
    "array_type": "the exact class of this backend's arrays (``x.__class__ is b.array_type``; Tensor on the graph)",
    "promotes": "True if mixed dtypes promote as in NumPy (array_api_strict: False -- the engine casts first)",
    "defers_checks": "True if a host copy synchronises a device: a sweep's host checks are then batched (CuPy)",
    "arrays": "the array backend underneath: itself, or the Tensor backend's NumPy/CuPy/strict backend",
    "float32": "the dtype object float32 of this library",
    "float64": "the dtype object float64 of this library",
    "complex64": "the dtype object complex64 of this library",
    "complex128": "the dtype object complex128 of this library",
}


def _primitive(kind):
    """Tag a stub with its kind; the stub itself raises: a backend that lacks the primitive says so by name."""
    def tag(f):
        @functools.wraps(f)
        def stub(self, *args, **kwargs):
            raise NotImplementedError(f"backend {getattr(self, 'name', type(self).__name__)!r} does not implement "
                                      f"the contract primitive {f.__name__!r}: {(f.__doc__ or '').strip()}")
        stub.kind = kind
        return stub
    return tag


differentiable, forward, query = _primitive(DIFFERENTIABLE), _primitive(FORWARD), _primitive(QUERY)


class Contract:
    """Every primitive a rule may call, one stub each (see the module docstring). ``Backend`` and ``GraphBackend``
    subclass it; an inherited stub raises NotImplementedError naming the primitive."""

    # -- dtype queries --------------------------------------------------------------------------------------
    @query
    def is_complex(self, dtype):
        """True for complex64/complex128."""

    @query
    def is_float(self, dtype):
        """True for float32/64 and complex64/128 (the differentiable dtypes)."""

    @query
    def real_dtype(self, dtype):
        """complex64 -> float32, complex128 -> float64; any other dtype unchanged."""

    @query
    def complex_dtype(self, dtype):
        """float32 -> complex64, float64 -> complex128; any other dtype unchanged."""

    @query
    def result_type(self, *dtypes):
        """NumPy's promotion of ``dtypes`` (int with float included)."""

    @query
    def eps(self, dtype):
        """Machine epsilon of a float/complex dtype, as a Python float."""

    @query
    def dtype_name(self, dtype):
        """NumPy's name of the dtype: 'float64', 'complex64', ..."""

    # -- constants and conversions (return arrays, never recorded) ---------------------------------------
    @query
    def asarray(self, x, dtype=None):
        """An array of this backend from a Python scalar, a list or an array of this backend (no copy if possible)."""

    @query
    def zeros(self, shape, dtype):
        """A fresh array of zeros, ``shape`` a tuple (batch axes included)."""

    @query
    def ones(self, shape, dtype):
        """A fresh array of ones."""

    @query
    def eye(self, n, dtype):
        """The n x n identity (a fresh array)."""

    @query
    def from_host(self, a):
        """A NumPy array (or scalar) as an array of this backend: an explicit host-to-device copy."""

    @query
    def own(self, x):
        """``x`` as an array (Tensor on the graph) of this backend if it is one (NumPy: a NumPy scalar becomes 0-d),
        else None -- callers turn None into a clear error."""

    @query
    def values(self, x):
        """The numbers of ``x``: the array itself; on the Tensor backend a Tensor's ``.data`` (a constant, not
        recorded). For checks that read values and are never differentiated (the rank check)."""

    # -- structure -------------------------------------------------------------------------------------------
    @differentiable
    def mT(self, a):
        """Swap the last two axes: (..., m, n) -> (..., n, m); may be a view (never write into it)."""

    @differentiable
    def mH(self, a):
        """Conjugate transpose of the last two axes (a view for real dtypes)."""

    @differentiable
    def conj(self, a):
        """Complex conjugate; a real array is returned as is (not a copy)."""

    @differentiable
    def real(self, a):
        """Real part, in the real dtype of ``a``'s precision; a real array as is."""

    @differentiable
    def imag(self, a):
        """Imaginary part of a complex array, in the real dtype of its precision."""

    @differentiable
    def where(self, cond, x, y):
        """Entrywise ``x`` where ``cond`` (a boolean array, broadcasting) else ``y``. Recorded only for a constant
        ``cond`` (an array), as ``x ∘ m + y ∘ (1 - m)``: the branch not taken must then be finite."""

    @differentiable
    def tril(self, a, k=0):
        """Lower triangle of each matrix (on and below diagonal ``k``), zeros above; reads nothing above it."""

    @differentiable
    def triu(self, a, k=0):
        """Upper triangle of each matrix (on and above diagonal ``k``), zeros below."""

    @differentiable
    def diagonal(self, a):
        """Main diagonal of each matrix: shape ``a.shape[:-2] + (min(m, n),)``; may be a read-only view."""

    @differentiable
    def diag_embed(self, d):
        """Square matrices (..., k, k) with ``d`` (..., k) on the diagonal, zeros elsewhere (fresh)."""

    @differentiable
    def add_diagonal(self, H, d):
        """``H + diag(d)`` for square H (..., k, k), d (..., k); may overwrite H (pass only an H the rule owns)."""

    @differentiable
    def concat(self, arrays, axis):
        """Join a list of arrays along ``axis`` (same dtype and all other axes equal)."""

    @differentiable
    def reshape(self, a, shape):
        """``a`` with the same entries (row-major order) in ``shape``."""

    @differentiable
    def broadcast_to(self, a, shape):
        """``a`` stretched to ``shape`` by NumPy broadcasting (a read-only view: never write into it)."""

    @differentiable
    def astype(self, a, dtype):
        """``a`` in ``dtype`` (``a`` itself if it has it already; complex -> real keeps the real part)."""

    @differentiable
    def setitem_copy(self, shape, dtype, key, value):
        """``zeros(shape, dtype)`` with ``value`` written at basic index ``key``: the adjoint of slicing."""

    @differentiable
    def permute(self, a, perm, axis):
        """Reorder columns (``axis=-1``: ``a[..., :, perm]``) or rows (``axis=-2``) of each matrix; ``perm``
        (..., n) integer, a constant, its batch axes broadcasting with ``a``'s."""

    # -- reductions --------------------------------------------------------------------------------------------
    @differentiable
    def sum(self, a, axis=None, keepdims=False):
        """Sum over ``axis`` (None: all; an int or a tuple of ints), in ``a``'s dtype."""

    # -- linear algebra ----------------------------------------------------------------------------------------
    @differentiable
    def solve_triangular(self, T, B, *, lower, side="left", adjoint=False, overwrite=False):
        """``op(T)^{-1} B`` (side="left", B (..., k, p)) or ``B op(T)^{-1}`` (side="right", B (..., p, k)) with
        ``op(T) = T^H`` if adjoint; T (..., k, k) non-singular, only its lower (or upper) triangle is read; batch
        axes broadcast. ``overwrite=True`` lets the result reuse B's memory (the caller owns B and drops it)."""

    @differentiable
    def solve_right_adjoint(self, R, X):
        """``X R^{-H}`` for upper triangular R (..., k, k) and X (..., p, k): the right solve of Eq 3 / Eq 9. X is a
        temporary the rule just made: the result may reuse its memory (never pass an array someone else holds)."""

    @differentiable
    def solve_left_adjoint(self, L, X):
        """``L^{-H} X`` for lower triangular L (..., k, k) and X (..., k, p): the left solve of Eq 17. X is a
        temporary the rule just made: the result may reuse its memory (never pass an array someone else holds)."""

    @differentiable
    def tril_matmul(self, A, B, upper_a=False):
        """The lower triangle (with the diagonal) of the square product ``A @ B`` (BLAS gemmt); what lies above
        it is unspecified (zeros or the product's entries). ``upper_a``: A is upper triangular (a hint)."""

    @differentiable
    def hcopyltu(self, M):
        """``symh(E ∘ M)`` (Section 4.2; ``copyltu`` for real M): M's strict lower triangle, its conjugate mirrored
        above, ``Re diag(M)`` on the diagonal. Reads nothing above M's diagonal (tril_matmul's output is fine)."""

    @differentiable
    def each_matrix(self, rule, *arrays, **kw):
        """``rule(b, *arrays, **kw)`` for a ``rule`` that acts matrix by matrix (for a stack, its result is the stack
        of its results; arrays may be None, the result an array or a tuple of them): the backend may run parts of a
        large stack at once and join them along the first axis (NumPy: threads, :mod:`matdiff.backend.stacks`).
        Recorded as the rule's own primitives."""

    # -- forward-only --------------------------------------------------------------------------------------------
    @forward
    def qr(self, A):
        """Reduced QR of each matrix of A (..., m, n): Q (..., m, k), R (..., k, n), k = min(m, n), in A's dtype;
        any phase on R's diagonal (the caller applies the gauge, in place: new arrays, no views of A or of anything
        kept). May not overwrite A."""

    @forward
    def qr_complete(self, A):
        """Complete QR: Q (..., m, m), R (..., m, n), new arrays as ``qr``'s; no derivative exists for the extra
        columns of a deep Q."""

    @forward
    def pivots(self, A, rows=False):
        """Column pivots of LAPACK geqp3 per matrix (``rows=True``: row pivots, geqp3 of A^H), on the host: a
        NumPy int64 array of shape ``A.shape[:-2] + (n,)`` (``(m,)`` for rows)."""

    @forward
    def phase(self, d):
        """``d / |d|`` entrywise, 1 where d == 0 (real d: +-1): the unit factors of the gauge rotation."""

    @forward
    def positive_real(self, d):
        """True only where the backend can tell at no cost -- on the host, without synchronising a device or
        breaking a trace -- that every entry of ``d`` is real (imaginary part exactly 0) and > 0: then the gauge
        rotates nothing (CholeskyQR's R is in it already). False otherwise, which is always correct."""

    @forward
    def abs(self, a):
        """``|a|`` entrywise, real dtype (not differentiable at 0, nor holomorphic)."""

    @forward
    def amin(self, a):
        """The smallest entry of a real array, as a 0-d array."""

    @forward
    def any(self, a):
        """A 0-d boolean array: True if any entry of the boolean array ``a`` is (a host check's input)."""

    @forward
    def argsort(self, a, axis=-1):
        """Indices that sort ``a`` along ``axis`` (the inverse of a permutation ``perm`` is ``argsort(perm)``)."""

    # -- host checks (forward-only: they read numbers, they are never differentiated) -------------------------
    @forward
    def to_host(self, a):
        """``a`` as a NumPy array: an explicit device-to-host copy (synchronises a GPU)."""

    @forward
    def total(self, a):
        """A real 0-d float64 array, non-finite if ``a`` holds a NaN or an inf (a suspicion: it can overflow)."""

    @forward
    def host_values(self, *scalars):
        """0-d arrays as a list of Python floats, in one device-to-host copy."""

    @forward
    def isfinite_all(self, *arrays):
        """True if no entry of any of ``arrays`` is NaN or inf (one host copy)."""

    @forward
    def vdot_real(self, a, b):
        """``Re sum(conj(a) * b)`` as a Python float: the real inner product of the trace identity."""


#: name -> kind ("differentiable", "forward" or "query") of every method of the contract
PRIMITIVES = {name: f.kind for name, f in vars(Contract).items() if hasattr(f, "kind")}
#: every name a rule may look up on a backend: the methods and the attributes
NAMES = frozenset(PRIMITIVES) | frozenset(ATTRIBUTES)


def of_kind(kind):
    """The primitives of one kind, sorted."""
    return sorted(n for n, k in PRIMITIVES.items() if k == kind)


def meaning(name):
    """The one-line meaning of a primitive or an attribute."""
    if name in ATTRIBUTES:
        return ATTRIBUTES[name]
    return " ".join((getattr(Contract, name).__doc__ or "").split())
