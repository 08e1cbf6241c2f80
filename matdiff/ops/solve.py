"""Triangular solve node -- what turns a QR into a least-squares solver (``x = R^{-1} Q^H b``).

For ``X = T^{-1} B`` (Giles 2008 §3.3): ``Bbar = T^{-H} Xbar`` and ``Tbar = -Bbar X^H`` restricted to T's
triangle (the other triangle is never read, so it gets no gradient); forward mode ``dX = T^{-1}(dB - dT X)``.
"""
import math

from ..engine.registry import register
from ..errors import NonFiniteError, RankDeficientError, ShapeError


def _tri(b, M, lower):
    return b.tril(M) if lower else b.triu(M)


def _tri_outer(b, Bbar, X, lower):
    """``tri(Bbar X^H)``, T's triangle of the product only (gemmt, ``b.tril_matmul``): the upper one is the adjoint
    of the lower triangle of ``X Bbar^H``."""
    if lower:
        return b.tril(b.tril_matmul(Bbar, b.mH(X)))
    return b.mH(b.tril(b.tril_matmul(X, b.mH(Bbar))))


@register("solve_triangular", ref="X = T^{-1} B;  Bbar = T^{-H} Xbar, Tbar = -tri(Bbar X^H)  (Giles 2008 §3.3)")
class solve_triangular_op:
    symbols, equation = "T, B -> X", "{X} = {T}⁻¹ {B}"
    adjoints = ("−tri({T}⁻ᴴ {X_} {X}ᴴ)", "{T}⁻ᴴ {X_}")

    def forward(ctx, T, B, lower=False):
        b = ctx.b
        if T.ndim < 2 or T.shape[-1] != T.shape[-2] or B.ndim < 2 or B.shape[-2] != T.shape[-1]:
            raise ShapeError(f"solve_triangular needs a square T (..., k, k) and B (..., k, p); got {T.shape} and "
                             f"{B.shape}. Make a vector a column: b[:, None]")
        # both checks in one device-to-host copy: the total of T and B, and T's smallest |diagonal|
        if T.size and B.size:
            total, smallest = b.host_values(b.total(T) + b.total(B), b.amin(b.abs(b.diagonal(T))))
            if not math.isfinite(total) and not b.isfinite_all(T, B):
                raise NonFiniteError("solve_triangular: T or B contains NaN or inf; the solution (and its gradient) "
                                     "would be NaN -- clean the data first")
            if smallest == 0:
                raise RankDeficientError(f"solve_triangular: T ({T.shape[-2]}x{T.shape[-1]}) has a zero on its "
                                         "diagonal; the system is singular")
        dtype = b.result_type(T.dtype, B.dtype)
        T, B = b.astype(T, dtype), b.astype(B, dtype)
        X = b.solve_triangular(T, B, lower=lower)
        ctx.save(T, X)
        ctx.lower = lower
        return X

    def vjp(ctx, Xbar):
        b = ctx.b
        T, X = ctx.saved
        Bbar = b.solve_triangular(T, Xbar, lower=ctx.lower, adjoint=True)      # Bbar = T^{-H} Xbar
        Tbar = -_tri_outer(b, Bbar, X, ctx.lower) if ctx.needs_grad[0] else None
        return Tbar, Bbar

    def jvp(ctx, dT, dB):
        b = ctx.b
        T, X = ctx.saved
        rhs = dB if dB is not None else b.zeros(X.shape, X.dtype)
        if dT is not None:
            rhs = rhs - _tri(b, dT, ctx.lower) @ X
        return b.solve_triangular(T, rhs, lower=ctx.lower)
