"""The registered ops, their functional spellings (``md.split(A, [2], axis=-1)``, ``md.concat([U, V], axis=-1)``...)
and Tensor's operators, which are these ops: ``A @ B`` calls ``matmul(A, B)`` directly.

``split``, ``concat`` and ``permute`` take ``axis`` as a required keyword: NumPy's ``split``/``concatenate``
default to axis 0 and ``torch.permute`` permutes *axes*, while the paper's partitions act on the columns
(``axis=-1``, ``[X|Y]``) or rows (``axis=-2``) of matrices -- so the call always says which.
"""
from __future__ import annotations

import numbers
from typing import Any, Sequence

from ..errors import MatdiffError
from ..tensor import Tensor
from . import decompositions, elementary, solve, structural
from .decompositions import lq, qr  # noqa: F401
from .interop import array_function, array_ufunc

_matmul, _add, _sub, _mul, _neg, _scale = (elementary.matmul, elementary.add, elementary.sub, elementary.mul,
                                           elementary.neg, elementary.scale)
_sum, _transpose, _adjoint, _conj, _real = (elementary.sum, elementary.transpose, elementary.adjoint, elementary.conj,
                                            elementary.real)
_slice, _split, _concat, _permute = structural.slice_, structural.split, structural.concat, structural.permute
_solve = solve.solve_triangular_node
assert decompositions    # registers qr, qr_wide, lq, lq_deep


def matmul(A: Tensor, B: Any) -> Tensor:
    """``A @ B`` on the last two axes, broadcasting leading axes."""
    return _matmul(A, B)


def add(A: Any, B: Any) -> Tensor:
    """``A + B`` (broadcasting as NumPy)."""
    return _add(A, B)


def sub(A: Any, B: Any) -> Tensor:
    """``A - B`` (broadcasting as NumPy)."""
    return _sub(A, B)


def mul(A: Any, B: Any) -> Tensor:
    """Elementwise product ``A ∘ B``."""
    return _mul(A, B)


def neg(A: Tensor) -> Tensor:
    """``-A``."""
    return _neg(A)


def scale(A: Tensor, s: complex) -> Tensor:
    """``s * A`` for a Python scalar ``s`` (real or complex)."""
    return _scale(A, s=s)


def sum(A: Tensor, axis: int | tuple | None = None) -> Tensor:  # noqa: A001 - the NumPy name on purpose
    """Sum of all entries, or over ``axis`` (an int or a tuple)."""
    return _sum(A, axis=axis)


def transpose(A: Tensor) -> Tensor:
    """Swap the last two axes (``A.T``)."""
    return _transpose(A)


def adjoint(A: Tensor) -> Tensor:
    """Conjugate transpose of the last two axes (``A.mH``)."""
    return _adjoint(A)


def conj(A: Tensor) -> Tensor:
    """Complex conjugate."""
    return _conj(A)


def real(A: Tensor) -> Tensor:
    """Real part; its adjoint is the real adjoint seen as complex."""
    return _real(A)


def _axis(fn, axis):
    if axis is None:
        raise MatdiffError(f"md.{fn} needs axis=: axis=-1 acts on columns (the paper's [X|Y]), axis=-2 on rows "
                           "([X; Y]); there is no default because NumPy's is axis 0")
    return axis


def split(A: Tensor, indices: int | Sequence[int], *, axis: int | None = None) -> tuple:
    """Cut ``A`` along ``axis`` at the points ``indices`` (a list, as ``np.split``) or into that many equal parts:
    ``X, Y = md.split(A, [m], axis=-1)`` is the paper's ``A = [X|Y]``. ``axis`` is required."""
    return _split(A, indices=indices, axis=_axis("split", axis))


def concat(parts: Sequence[Tensor], *, axis: int | None = None) -> Tensor:
    """Join tensors along ``axis``: ``md.concat([U, V], axis=-1)`` is the paper's ``[U|V]``. ``axis`` is required."""
    return _concat(*parts, axis=_axis("concat", axis))


def permute(A: Tensor, perm: Any, *, axis: int | None = None) -> Tensor:
    """Reorder the columns (``axis=-1``: ``A[..., :, perm]``, the paper's ``A P``) or rows (``axis=-2``:
    ``A[..., perm, :]``, ``P A``) of matrices -- not the axes, as ``torch.permute``. ``axis`` is required."""
    return _permute(A, perm=perm, axis=_axis("permute", axis))


def solve_triangular(T: Any, B: Any, lower: bool = False) -> Tensor:
    """``T^{-1} B`` for triangular ``T`` (upper unless ``lower``): ``x = md.solve_triangular(R, Q.mH @ b)``."""
    return _solve(T, B, lower=lower)


# -- Tensor's operators are these ops (bound here, where the ops are defined) ----------------------------------
def _times(A, B):
    return _scale(A, s=B) if isinstance(B, numbers.Number) else _mul(A, B)


def _divide(A, s):
    if not isinstance(s, numbers.Number):
        raise MatdiffError("a Tensor can only be divided by a scalar; for a matrix use md.solve_triangular "
                           "(or build the solve from nodes)")
    return _scale(A, s=1 / s)


Tensor.__matmul__ = lambda A, B: _matmul(A, B)
Tensor.__rmatmul__ = lambda A, B: _matmul(B, A)
Tensor.__add__ = lambda A, B: _add(A, B)
Tensor.__radd__ = lambda A, B: _add(B, A)
Tensor.__sub__ = lambda A, B: _sub(A, B)
Tensor.__rsub__ = lambda A, B: _sub(B, A)
Tensor.__mul__ = _times
Tensor.__rmul__ = lambda A, B: _scale(A, s=B) if isinstance(B, numbers.Number) else _mul(B, A)
Tensor.__truediv__ = _divide
Tensor.__neg__ = lambda A: _neg(A)
Tensor.__getitem__ = lambda A, key: _slice(A, key=key)
Tensor.T = property(lambda A: _transpose(A), doc="Swap the last two axes (a transpose node).")
Tensor.mH = property(lambda A: _adjoint(A), doc="Conjugate transpose of the last two axes (an adjoint node).")
Tensor.real = property(lambda A: _real(A), doc="Real part (a real node).")
Tensor.conj = lambda A: _conj(A)
Tensor.sum = lambda A, axis=None: _sum(A, axis=axis)
Tensor.__array_ufunc__ = array_ufunc
Tensor.__array_function__ = array_function
