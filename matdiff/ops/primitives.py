"""Shape primitives the backward pass is written with: reshape, broadcast_to, embed (the adjoint of slicing) and
cast. First-order rules run them on arrays through the backend; ``create_graph=True`` runs the same rules on
Tensors (matdiff/ops/on_tensors.py), where these ops record the backward pass as nodes -- so they too need a forward, a
vjp and a jvp, like every op.
"""
import math

from ..engine.registry import register
from ..errors import ShapeError


@register("reshape", ref="C = reshape(A);  Abar = reshape(Cbar) back to A's shape")
class reshape_op:
    symbols, equation, adjoints = "A -> C", "{C} = reshape({A})", ("reshape({C_})",)

    def forward(ctx, A, shape):
        shape = tuple(int(s) for s in shape)
        if math.prod(shape) != math.prod(A.shape):
            raise ShapeError(f"reshape: cannot view {tuple(A.shape)} as {shape}; the number of entries must stay the "
                             "same")
        ctx.in_shape, ctx.out_shape = tuple(A.shape), shape
        return ctx.b.reshape(A, shape)

    def vjp(ctx, Cbar):
        lead = tuple(Cbar.shape[:Cbar.ndim - len(ctx.out_shape)])          # gradcheck's leading axis of seeds
        return (ctx.b.reshape(Cbar, lead + ctx.in_shape),)

    def jvp(ctx, dA):
        return ctx.b.reshape(dA, ctx.out_shape)


@register("broadcast_to", ref="C = A stretched to a shape (NumPy broadcasting);  Abar = Cbar summed back")
class broadcast_to_op:
    symbols, equation, adjoints = "A -> C", "{C} = broadcast({A})", ("Σ {C_} over the stretched axes",)

    def forward(ctx, A, shape):
        ctx.out_shape = tuple(shape)
        return ctx.b.broadcast_to(A, ctx.out_shape)

    def vjp(ctx, Cbar):
        return (Cbar,)          # the engine sums an adjoint back over broadcast axes (tape.fit)

    def jvp(ctx, dA):
        return dA               # the engine stretches a tangent to its output's shape (tape.fit)


@register("embed", ref="C = zeros(shape) with C[key] = A (the adjoint of slicing);  Abar = Cbar[key]")
class embed_op:
    symbols, equation, adjoints = "A -> C", "{C} = 0 with {A} placed at key", ("{C_}[key]",)

    def forward(ctx, A, shape, key):
        ctx.key, ctx.out_shape = tuple(key), tuple(shape)
        return ctx.b.setitem_copy(ctx.out_shape, A.dtype, ctx.key, A)

    def vjp(ctx, Cbar):
        lead = Cbar.ndim - len(ctx.out_shape)
        return (Cbar[(slice(None),) * lead + ctx.key],)

    def jvp(ctx, dA):
        return ctx.b.setitem_copy(ctx.out_shape, dA.dtype, ctx.key, dA)


@register("cast", ref="C = A as another dtype;  Abar = Cbar as A's dtype (real part for a real A)")
class cast_op:
    symbols, equation, adjoints = "A -> C", "{C} = {A}", ("{C_}",)

    def forward(ctx, A, dtype):
        return ctx.b.astype(A, dtype)

    def vjp(ctx, Cbar):
        return (Cbar,)          # the engine casts an adjoint to its input's dtype (tape.fit)

    def jvp(ctx, dA):
        return dA               # ... and a tangent to its output's (tape.fit)
