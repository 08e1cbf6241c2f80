"""Elementary nodes: matmul, add, sub, neg, mul, scale, divide, sum, transpose, adjoint, conj, real.

Each block is one op: its forward on arrays, its vjp (reverse mode, PyTorch's complex convention, so a
holomorphic op's vjp is ``J^H``) and its jvp (forward mode). Matrices live on the last two axes; leading
axes broadcast as in NumPy, and the engine sums a broadcast adjoint back to each input's shape.
References: Giles 2008 (paper ref. [6]), the paper's Section 2.2.
"""
import numbers

import numpy as np

from ..engine.registry import register
from ..engine.tape import check_later
from ..errors import DivisionByZeroError, MatdiffError, ShapeError


def _broadcast(op, *shapes):
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        raise ShapeError(f"{op}: shapes {' and '.join(map(str, shapes))} do not broadcast; leading (batch) "
                         "axes must be equal or 1, as in NumPy") from None


def _conj(s):
    return s.conjugate() if isinstance(s, complex) else s


def _add_tangents(a, b):
    if a is None:
        return b
    return a if b is None else a + b


# -- matmul: C = A B ------------------------------------------------------------------------------
@register("matmul", ref="C = A B;  Abar = Cbar B^H, Bbar = A^H Cbar  (Giles 2008 §3.2)")
class matmul_op:
    symbols, equation, adjoints = "A, B -> C", "{C} = {A} {B}", ("{C_} {B}ᴴ", "{A}ᴴ {C_}")

    def forward(ctx, A, B):
        if A.ndim < 2 or B.ndim < 2:
            raise ShapeError(f"matmul acts on matrices (last two axes); got shapes {A.shape} and {B.shape}. "
                             "Make a vector a column with x[:, None] or md.tensor(x.reshape(-1, 1))")
        if A.shape[-1] != B.shape[-2]:
            raise ShapeError(f"matmul: A is {A.shape[-2]}x{A.shape[-1]} but B is {B.shape[-2]}x{B.shape[-1]}; "
                             f"A's columns ({A.shape[-1]}) must equal B's rows ({B.shape[-2]})")
        _broadcast("matmul", A.shape[:-2], B.shape[:-2])
        ctx.save(A, B)
        return A @ B

    def vjp(ctx, Cbar):
        A, B = ctx.saved
        b = ctx.b
        Abar = Cbar @ b.mH(B) if ctx.needs_grad[0] else None
        Bbar = b.mH(A) @ Cbar if ctx.needs_grad[1] else None
        return Abar, Bbar

    def jvp(ctx, dA, dB):
        A, B = ctx.saved
        return _add_tangents(None if dA is None else dA @ B, None if dB is None else A @ dB)


# -- add / sub / neg --------------------------------------------------------------------------------
@register("add", ref="C = A + B;  Abar = Cbar, Bbar = Cbar (summed over broadcast axes)")
class add_op:
    symbols, equation, adjoints = "A, B -> C", "{C} = {A} + {B}", ("{C_}", "{C_}")

    def forward(ctx, A, B):
        _broadcast("add", A.shape, B.shape)
        return A + B

    def vjp(ctx, Cbar):
        return Cbar, Cbar

    def jvp(ctx, dA, dB):
        return _add_tangents(dA, dB)


@register("sub", ref="C = A - B;  Abar = Cbar, Bbar = -Cbar")
class sub_op:
    symbols, equation, adjoints = "A, B -> C", "{C} = {A} − {B}", ("{C_}", "−{C_}")

    def forward(ctx, A, B):
        _broadcast("sub", A.shape, B.shape)
        return A - B

    def vjp(ctx, Cbar):
        return Cbar, -Cbar

    def jvp(ctx, dA, dB):
        return _add_tangents(dA, None if dB is None else -dB)


@register("neg", ref="C = -A;  Abar = -Cbar")
class neg_op:
    symbols, equation, adjoints = "A -> C", "{C} = −{A}", ("−{C_}",)

    def forward(ctx, A):
        return -A

    def vjp(ctx, Cbar):
        return (-Cbar,)

    def jvp(ctx, dA):
        return -dA


# -- mul (elementwise) and scale (by a Python scalar) -----------------------------------------------
@register("mul", ref="C = A ∘ B;  Abar = Cbar ∘ conj(B), Bbar = Cbar ∘ conj(A)")
class mul_op:
    symbols, equation, adjoints = "A, B -> C", "{C} = {A} ∘ {B}", ("{C_} ∘ conj({B})", "{C_} ∘ conj({A})")

    def forward(ctx, A, B):
        _broadcast("mul", A.shape, B.shape)
        ctx.save(A, B)
        return A * B

    def vjp(ctx, Cbar):
        A, B = ctx.saved
        b = ctx.b
        return (Cbar * b.conj(B) if ctx.needs_grad[0] else None,
                Cbar * b.conj(A) if ctx.needs_grad[1] else None)

    def jvp(ctx, dA, dB):
        A, B = ctx.saved
        return _add_tangents(None if dA is None else dA * B, None if dB is None else A * dB)


@register("scale", ref="C = s A (s a constant scalar);  Abar = conj(s) Cbar")
class scale_op:
    symbols = "A -> C"
    equation = staticmethod(lambda p: f"{{C}} = {p['s']:.4g} {{A}}")
    adjoints = staticmethod(lambda p: (f"{_conj(p['s']):.4g} {{C_}}",))

    def forward(ctx, A, s):
        if not isinstance(s, numbers.Number):
            raise MatdiffError(f"scale takes a Python scalar s, got {type(s).__name__}; use mul for tensors")
        b = ctx.b
        if isinstance(s, complex) and not b.is_complex(A.dtype):
            A = b.astype(A, b.complex_dtype(A.dtype))
        ctx.s = s
        return A * s

    def vjp(ctx, Cbar):
        return (Cbar * ctx.s.conjugate(),)

    def jvp(ctx, dA):
        return dA * ctx.s


@register("divide", ref="C = A / B (elementwise);  Abar = Cbar / conj(B), Bbar = -Cbar ∘ conj(C / B)")
class divide_op:
    """Elementwise quotient ``C = A / B``, broadcasting as NumPy; integer operands divide as floats (NumPy's true
    division). An exact zero in ``B`` is refused (DivisionByZeroError), not turned into IEEE inf/NaN: a quotient
    and its gradient would then be inf or NaN with no error, which matdiff never returns silently."""
    symbols, equation, adjoints = "A, B -> C", "{C} = {A} / {B}", ("{C_} / conj({B})", "−{C_} ∘ conj({C} / {B})")

    def forward(ctx, A, B):
        _broadcast("divide", A.shape, B.shape)
        b = ctx.b
        if not (b.is_float(A.dtype) or b.is_float(B.dtype)):      # int / int: true division, in float64
            A, B = b.astype(A, b.float64), b.astype(B, b.float64)
        check_later(b, b.any(B == 0), _no_zero)
        C = A / B
        if C.__class__ is not b.array_type:                          # 0-d: NumPy returns a scalar
            C = b.own(C)
        ctx.save(B, C)                                               # the output, so create_graph can lift it
        return C

    def vjp(ctx, Cbar):
        B, C = ctx.saved
        b = ctx.b
        Abar = Cbar / b.conj(B)                                      # dC = dA / B  ->  Abar = Cbar conj(1 / B)
        Bbar = -(Abar * b.conj(C)) if ctx.needs_grad[1] else None    # dC = -(C / B) dB
        return (Abar if ctx.needs_grad[0] else None), Bbar

    def jvp(ctx, dA, dB):
        B, C = ctx.saved
        return _add_tangents(dA, None if dB is None else -(C * dB)) / B     # dC = (dA - C dB) / B


def _no_zero(has_zero):
    if has_zero:
        raise DivisionByZeroError("divide: the divisor B has an entry that is exactly zero, so A / B (and its "
                                  "gradient) would be inf or NaN there. Keep it away from zero (mask those entries, "
                                  "or shift it: B + eps), or divide the values outside the graph: A.numpy() / "
                                  "B.numpy()")


def times(A, B):
    """``A * B``: the scale node for a Python (or NumPy) number ``B``, else the elementwise product."""
    return scale_op(A, s=B) if isinstance(B, numbers.Number) else mul_op(A, B)


# -- sum ----------------------------------------------------------------------------------------------
@register("sum", ref="c = sum(A) (all or some axes);  Abar = Cbar broadcast back over the summed axes")
class sum_op:
    symbols, equation, adjoints = "A -> c", "{c} = Σ {A}", ("{c_} spread over {A}",)

    def forward(ctx, A, axis=None):
        nd = A.ndim
        axes = tuple(range(nd)) if axis is None else (axis,) if isinstance(axis, int) else tuple(axis)
        for a in axes:
            if not -nd <= a < nd:
                raise ShapeError(f"sum: axis {a} is out of range for a tensor of {nd} axes; use an axis in "
                                 f"[-{nd}, {nd})")
        ctx.axes = tuple(sorted(a % nd - nd for a in axes))   # negative: valid under extra leading axes
        ctx.in_shape = A.shape
        return ctx.b.sum(A, axis=tuple(a % nd for a in axes))

    def vjp(ctx, Cbar):
        b, shape = ctx.b, ctx.in_shape
        keep = tuple(1 if i - len(shape) in ctx.axes else n for i, n in enumerate(shape))
        lead = Cbar.shape[:Cbar.ndim - (len(shape) - len(ctx.axes))]
        return (b.broadcast_to(b.reshape(Cbar, lead + keep), lead + shape),)

    def jvp(ctx, dA):
        return ctx.b.sum(dA, axis=ctx.axes)


# -- transpose, adjoint, conj, real -------------------------------------------------------------------
def _need_matrix(op, A):
    if A.ndim < 2:
        raise ShapeError(f"{op} swaps the last two axes and needs at least 2 axes; got shape {A.shape}. Make a vector "
                         "a column with x[:, None] (or a row with x[None, :])")


@register("transpose", ref="C = A^T (last two axes);  Abar = Cbar^T")
class transpose_op:
    symbols, equation, adjoints = "A -> C", "{C} = ({A})ᵀ", ("({C_})ᵀ",)

    def forward(ctx, A):
        _need_matrix("transpose", A)
        return ctx.b.mT(A)

    def vjp(ctx, Cbar):
        return (ctx.b.mT(Cbar),)

    def jvp(ctx, dA):
        return ctx.b.mT(dA)


@register("adjoint", ref="C = A^H (conjugate transpose);  Abar = Cbar^H")
class adjoint_op:
    symbols, equation, adjoints = "A -> C", "{C} = ({A})ᴴ", ("({C_})ᴴ",)

    def forward(ctx, A):
        _need_matrix("adjoint", A)
        return ctx.b.mH(A)

    def vjp(ctx, Cbar):
        return (ctx.b.mH(Cbar),)

    def jvp(ctx, dA):
        return ctx.b.mH(dA)


@register("conj", ref="C = conj(A);  Abar = conj(Cbar)")
class conj_op:
    symbols, equation, adjoints = "A -> C", "{C} = conj({A})", ("conj({C_})",)

    def forward(ctx, A):
        return ctx.b.conj(A)

    def vjp(ctx, Cbar):
        return (ctx.b.conj(Cbar),)

    def jvp(ctx, dA):
        return ctx.b.conj(dA)


@register("real", ref="C = Re(A);  Abar = Cbar (a real adjoint, seen as complex)")
class real_op:
    symbols, equation, adjoints = "A -> C", "{C} = Re {A}", ("{C_}",)

    def forward(ctx, A):
        return ctx.b.real(A)

    def vjp(ctx, Cbar):
        return (Cbar,)

    def jvp(ctx, dA):
        return ctx.b.real(dA)
