"""The registered ops, their functional spellings (``md.split(A, [2], axis=-1)``, ``md.concat([U, V], axis=-1)``...;
each takes ``name=`` to name its result at the call)
and the spellings of Tensor's operators (``A @ B`` is ``matmul``'s call path itself; the table that binds them to
Tensor is ``SURFACE`` in matdiff/autodiff.py).

``split``, ``concat`` and ``permute`` take ``axis`` as a required keyword: NumPy's ``split``/``concatenate``
default to axis 0 and ``torch.permute`` permutes *axes*, while the paper's partitions act on the columns
(``axis=-1``, ``[X|Y]``) or rows (``axis=-2``) of matrices -- so the call always says which.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

from ..engine.op import _named as _name_outputs
from ..engine.tensor import Tensor
from ..errors import MatdiffError, ShapeError
from . import elementary, primitives, solve, structural  # noqa: F401 -- importing them registers every op
from .elementary import (
    add_op,
    adjoint_op,
    conj_op,
    divide_op,
    matmul_op,
    mul_op,
    neg_op,
    real_op,
    scale_op,
    sub_op,
    sum_op,
    transpose_op,
)

# md.qr / md.lq: the functions (they shadow the attributes naming the modules ops/qr.py and ops/lq.py, which register
# the nodes qr, qr_wide, lq, lq_deep; reach a module by ``from matdiff.ops.qr import ...`` or importlib)
from .lq import lq  # noqa: F401
from .primitives import reshape_op
from .qr import qr  # noqa: F401
from .solve import solve_triangular_op
from .structural import concat_op, permute_op, split_op


def matmul(A: Tensor, B: Any, *, name: Any = None) -> Tensor:
    """``A @ B`` on the last two axes, broadcasting leading axes."""
    return _named(matmul_op(A, B), name)


def add(A: Any, B: Any, *, name: Any = None) -> Tensor:
    """``A + B`` (broadcasting as NumPy)."""
    return _named(add_op(A, B), name)


def sub(A: Any, B: Any, *, name: Any = None) -> Tensor:
    """``A - B`` (broadcasting as NumPy)."""
    return _named(sub_op(A, B), name)


def mul(A: Any, B: Any, *, name: Any = None) -> Tensor:
    """Elementwise product ``A ∘ B``."""
    return _named(mul_op(A, B), name)


def divide(A: Any, B: Any, *, name: Any = None) -> Tensor:
    """Elementwise ``A / B`` (``A / B``, ``2 / B``, ``A / 2``), broadcasting as NumPy; a divide node
    (``Abar = Cbar / conj(B)``, ``Bbar = -Cbar ∘ conj(C / B)``). Integers divide as floats. An entry of ``B`` that
    is exactly zero raises ``md.DivisionByZeroError`` (no IEEE inf/NaN, whose gradient would be NaN silently)."""
    A, B = _numbers_as_constants(A, B)
    return _named(divide_op(A, B), name)


def reshape(A: Tensor, shape: Any, *, name: Any = None) -> Tensor:
    """``A`` with the same entries (row-major, as ``np.reshape``) in ``shape`` (a tuple or an int); one ``-1`` is
    inferred. A reshape node: its adjoint is ``Cbar`` reshaped back. Also ``A.reshape(2, 3)``."""
    return _named(reshape_op(A, shape=_shape(A, shape)), name)


def neg(A: Tensor, *, name: Any = None) -> Tensor:
    """``-A``."""
    return _named(neg_op(A), name)


def scale(A: Tensor, s: complex, *, name: Any = None) -> Tensor:
    """``s * A`` for a Python scalar ``s`` (real or complex)."""
    return _named(scale_op(A, s=s), name)


def sum(A: Tensor, axis: int | tuple | None = None, *, name: Any = None) -> Tensor:  # noqa: A001 - the NumPy name on purpose
    """Sum of all entries, or over ``axis`` (an int or a tuple)."""
    return _named(sum_op(A, axis=axis), name)


def transpose(A: Tensor, *, name: Any = None) -> Tensor:
    """Swap the last two axes (``A.T``)."""
    return _named(transpose_op(A), name)


def adjoint(A: Tensor, *, name: Any = None) -> Tensor:
    """Conjugate transpose of the last two axes (``A.mH``)."""
    return _named(adjoint_op(A), name)


def conj(A: Tensor, *, name: Any = None) -> Tensor:
    """Complex conjugate."""
    return _named(conj_op(A), name)


def real(A: Tensor, *, name: Any = None) -> Tensor:
    """Real part; its adjoint is the real adjoint seen as complex."""
    return _named(real_op(A), name)


def _named(out, name):
    """Name the result at the call (``md.matmul(Qh, Y, name="V")``; a tuple of names for several outputs)."""
    return out if name is None else _name_outputs(out, name, None)


def _axis(fn, axis):
    if axis is None:
        raise MatdiffError(f"md.{fn} needs axis=: axis=-1 acts on columns (the paper's [X|Y]), axis=-2 on rows "
                           "([X; Y]); there is no default because NumPy's is axis 0")
    return axis


def split(A: Tensor, indices: int | Sequence[int], *, axis: int | None = None, name: Any = None) -> tuple:
    """Cut ``A`` along ``axis`` at the points ``indices`` (a list, as ``np.split``) or into that many equal parts:
    ``X, Y = md.split(A, [m], axis=-1)`` is the paper's ``A = [X|Y]``. ``axis`` is required."""
    return _named(split_op(A, indices=indices, axis=_axis("split", axis)), name)


def concat(parts: Sequence[Tensor], *, axis: int | None = None, name: Any = None) -> Tensor:
    """Join tensors along ``axis``: ``md.concat([U, V], axis=-1)`` is the paper's ``[U|V]``. ``axis`` is required."""
    return _named(concat_op(*parts, axis=_axis("concat", axis)), name)


def permute(A: Tensor, perm: Any, *, axis: int | None = None, name: Any = None) -> Tensor:
    """Reorder the columns (``axis=-1``: ``A[..., :, perm]``, the paper's ``A P``) or rows (``axis=-2``:
    ``A[..., perm, :]``, ``P A``) of matrices -- not the axes, as ``torch.permute``. ``axis`` is required."""
    return _named(permute_op(A, perm=perm, axis=_axis("permute", axis)), name)


def solve_triangular(T: Any, B: Any, lower: bool = False, *, name: Any = None) -> Tensor:
    """``T^{-1} B`` for triangular ``T`` (upper unless ``lower``): ``x = md.solve_triangular(R, Q.mH @ b)``."""
    return _named(solve_triangular_op(T, B, lower=lower), name)


def _numbers_as_constants(A, B):
    """A Python number beside a Tensor as a constant Tensor named by its value, so ``2 / L`` reads ``C = 2 / L``
    on a tape. Its dtype is the Tensor's -- float64 (complex128) beside integers, whose quotient is a float."""
    like = A if isinstance(A, Tensor) else B
    if not isinstance(like, Tensor):
        return A, B
    b = like._b

    def constant(x):
        dtype = like.data.dtype if b.is_float(like.data.dtype) else b.float64
        if isinstance(x, complex) and not b.is_complex(dtype):
            dtype = b.complex_dtype(dtype)
        return Tensor(b.asarray(x, dtype=dtype), b, name=f"{x:.4g}")
    return (constant(A) if isinstance(A, numbers.Number) else A), (constant(B) if isinstance(B, numbers.Number) else B)


def _shape(A, shape):
    """``shape`` as a tuple of ints, a single ``-1`` inferred from ``A``'s size (as NumPy)."""
    shape = (shape,) if isinstance(shape, numbers.Integral) else tuple(shape)
    if not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in shape):
        raise ShapeError(f"reshape: the shape must be integers, got {shape!r}; e.g. md.reshape(A, (2, 3))")
    if list(shape).count(-1) > 1 or any(s < -1 for s in shape):
        raise ShapeError(f"reshape: {shape} has more than one -1 or a negative size; give sizes >= 0 and at most one "
                         "-1 (inferred)")
    if -1 in shape:
        known = math.prod(s for s in shape if s != -1)
        size = math.prod(A.shape)
        if known == 0 or size % known:
            raise ShapeError(f"reshape: cannot view {tuple(A.shape)} ({size} entries) as {shape}; the number of "
                             "entries must stay the same")
        shape = tuple(size // known if s == -1 else s for s in shape)
    return tuple(int(s) for s in shape)


# -- the operators' own spellings (bound, with all of Tensor's surface, by ``SURFACE`` in matdiff/autodiff.py) -----
def truediv(A: Any, B: Any) -> Tensor:
    """``A / B``: a divide node, a Python number beside it a constant."""
    return divide_op.apply(*_numbers_as_constants(A, B))


def rtruediv(A: Any, B: Any) -> Tensor:
    """``B / A`` (``2 / A``)."""
    return divide_op.apply(*_numbers_as_constants(B, A))


def rmul(A: Tensor, B: Any) -> Tensor:
    """``B * A``: a scale node for a Python number ``B``, else an elementwise product."""
    return scale_op.apply(A, s=B) if isinstance(B, numbers.Number) else mul_op.apply(B, A)


def reshape_method(A: Tensor, *shape: Any) -> Tensor:
    """``T.reshape(2, 3)`` or ``T.reshape((2, 3))``: a reshape node (see ``md.reshape``)."""
    return reshape_op.apply(A, shape=_shape(A, shape[0] if len(shape) == 1 else shape))
