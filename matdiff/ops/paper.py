"""The paper's helper operators, on raw arrays of any backend (Roberts & Roberts, Sections 2.3 and 4.2).

================  =================================================================================
``sym(A)``        ``(A + A^T) / 2``                                    Definition 2.1
``symh(A)``       ``(A + A^H) / 2``, a Hermitian matrix                Section 4.2
``E(k)``          mask with ``e_ij = 0 (i < j), 1 (i = j), 2 (i > j)``  Section 2.3, property 1
``P_L(k)``        ``(i > j)``: ones strictly below the diagonal        Eq 8; ``E = 2 P_L + I``
``copyltu(M)``    ``sym(E ∘ M)``: copy the lower triangle to the upper  Section 2.3, property 2
``hcopyltu(M)``   ``symh(E ∘ M)``: conjugate lower to upper, real diag  Section 4.2
================  =================================================================================

Each accepts an array (NumPy, CuPy, array_api_strict) or a Tensor (its ``.data`` is used) and
returns an array of the same backend. The rules pass their backend ``b``; under ``create_graph=True`` that is a
GraphBackend and the helpers record their arithmetic as nodes.

``copyltu`` and ``hcopyltu`` here are the definitions, written as the paper writes them, for reading and for the
tests; the rules call the backend's ``b.hcopyltu`` (a contract primitive: one select on NumPy), which
``tests/backend/test_contract.py`` checks against these on every backend.
"""
from ..backend import backend_of, get
from ..engine.tensor import Tensor


def _arr(A, b):
    """``A`` and its backend. Given no backend, a Tensor's ``.data`` is used; given one, ``A`` is handed to it as
    is -- so a rule running under create_graph=True (a GraphBackend) records these helpers as nodes too."""
    if b is not None:
        return A, b
    A = A.data if isinstance(A, Tensor) else A
    return A, backend_of(A)


def sym(A, b=None):
    """``sym(A) = (A + A^T) / 2`` -- the symmetric part of a square matrix (Definition 2.1)."""
    A, b = _arr(A, b)
    return (A + b.mT(A)) / 2


def symh(A, b=None):
    """``symh(A) = (A + A^H) / 2`` -- the Hermitian part of a square complex matrix (Section 4.2)."""
    A, b = _arr(A, b)
    return (A + b.mH(A)) / 2


def E(k, b=None, dtype=None):
    """The mask ``E`` (k x k): ``e_ij = 0`` for ``i < j``, ``1`` for ``i = j``, ``2`` for ``i > j`` (Section 2.3)."""
    b = b or get("numpy")
    dtype = dtype or b.float64
    return b.tril(b.ones((k, k), dtype), -1) * 2 + b.eye(k, dtype)


def P_L(k, b=None, dtype=None):
    """``P_L = (i > j)``: ones strictly below the diagonal, so that ``E = 2 P_L + I`` (Eq 8)."""
    b = b or get("numpy")
    dtype = dtype or b.float64
    return b.tril(b.ones((k, k), dtype), -1)


def copyltu(M, b=None):
    """``copyltu(M) = sym(E ∘ M)``: the lower triangle of real ``M`` copied to the upper (Section 2.3).

    E is zero above the diagonal, so ``E ∘ M = E ∘ tril(M)``: taking the triangle first means nothing above M's
    diagonal is read (an inf there would otherwise give ``0 · inf = NaN``)."""
    M, b = _arr(M, b)
    return sym(b.tril(M) * E(M.shape[-1], b, b.real_dtype(M.dtype)), b)


def hcopyltu(M, b=None):
    """``hcopyltu(M) = symh(E ∘ M)``: conjugate the lower triangle of ``M`` into the upper one and keep the real
    part of the diagonal (Section 4.2). Equals ``copyltu`` for real ``M``."""
    M, b = _arr(M, b)
    return symh(b.tril(M) * E(M.shape[-1], b, b.real_dtype(M.dtype)), b)      # E ∘ M = E ∘ tril(M)

