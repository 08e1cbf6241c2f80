"""Structural nodes: slice, split, concat, permute -- the pieces of the paper's partitioning trick.

They move entries around without arithmetic, so their adjoints move adjoint entries back: the adjoint
of a split is a concat, of a concat a split, of a slice a zero matrix with the slice filled in, of a
permutation the inverse permutation (paper Section 3: ``Abar = Bbar P^T``).
Axes are stored negative so the rules also work when gradcheck adds a leading axis of seeds.
"""
import itertools
import numbers

import numpy as np

from ..engine.registry import register
from ..errors import MatdiffError, ShapeError


def _neg_axis(op, axis, ndim):
    if not isinstance(axis, numbers.Integral) or not -ndim <= axis < ndim:
        raise ShapeError(f"{op}: axis {axis!r} is out of range for a tensor of {ndim} axes; use an integer in "
                         f"[-{ndim}, {ndim})")
    return int(axis) % ndim - ndim


def _cols(params):
    """Does this call act on columns (axis -1, the paper's [X|Y]) rather than rows?"""
    return params.get("axis", -1) == -1


def _key_text(key):
    key = key if isinstance(key, tuple) else (key,)
    def one(k):
        if k is Ellipsis:
            return "..."
        if isinstance(k, slice):
            return ":".join("" if v is None else str(v) for v in (k.start, k.stop)) + (f":{k.step}" if k.step else "")
        return str(k)
    return "[" + ", ".join(one(k) for k in key) + "]"


def _along(axis, start, stop):
    """An index selecting ``start:stop`` along negative ``axis``, whatever the leading axes."""
    return (Ellipsis, slice(start, stop)) + (slice(None),) * (-axis - 1)


# -- slice: C = A[key] (basic indexing) -------------------------------------------------------------
@register("slice", ref="C = A[key] (basic slicing);  Abar = zeros with Abar[key] = Cbar")
class slice_op:
    symbols = "A -> C"
    equation = staticmethod(lambda p: "{C} = {A}" + _key_text(p["key"]))
    adjoints = staticmethod(lambda p: ("{C_} placed at " + _key_text(p["key"]),))

    def forward(ctx, A, key):
        key = key if isinstance(key, tuple) else (key,)
        if not any(k is Ellipsis for k in key):
            key = key + (Ellipsis,)     # explicit "and the rest" (the array API asks for it)
        for k in key:
            if not (k is Ellipsis or isinstance(k, (slice, numbers.Integral))):
                raise MatdiffError(f"indexing a Tensor takes ints, slices and ... only (basic slicing), got "
                                   f"{type(k).__name__}; reorder with md.permute or cut with md.split")
        try:
            C = A[key]
        except IndexError as e:
            raise ShapeError(f"index {key} does not fit shape {A.shape}: {e}; use indices within the shape "
                             "(negative ones count from the end)") from None
        ctx.key, ctx.in_shape, ctx.out_ndim, ctx.dtype = key, A.shape, C.ndim, A.dtype
        return C

    def vjp(ctx, Cbar):
        lead = Cbar.ndim - ctx.out_ndim
        b = ctx.b
        dtype = b.result_type(Cbar.dtype, ctx.dtype)
        return (b.setitem_copy(Cbar.shape[:lead] + ctx.in_shape, dtype, (slice(None),) * lead + ctx.key, Cbar),)

    def jvp(ctx, dA):
        return dA[ctx.key]


# -- split: X, Y = A[..., :p], A[..., p:] -------------------------------------------------------------
@register("split", ref="[X|Y] = A (split at points along an axis);  Abar = [Xbar|Ybar]  (Figure 2)")
class split_op:
    symbols = "A -> X, Y"
    equation = staticmethod(lambda p: "[{X}|{Y}] = {A}" if _cols(p) else "[{X}; {Y}] = {A}")
    adjoints = staticmethod(lambda p: ("[{X_}|{Y_}]",) if _cols(p) else ("[{X_}; {Y_}]",))

    def forward(ctx, A, indices, axis=-1):
        axis = _neg_axis("split", axis, A.ndim)
        n = A.shape[axis]
        if isinstance(indices, numbers.Integral):
            if indices <= 0 or n % indices:
                raise ShapeError(f"split: {n} entries along axis {axis} cannot be cut into {indices} equal parts; "
                                 "give the split points as a list instead, e.g. [2]")
            points = [n // indices * i for i in range(1, indices)]
        elif isinstance(indices, (list, tuple)) and all(isinstance(p, numbers.Integral) and not isinstance(p, bool)
                                                        for p in indices):
            points = [int(p) for p in indices]
        else:
            raise ShapeError(f"split: indices must be a list of integer split points (as np.split), e.g. [2], or a "
                             f"number of equal parts; got {indices!r}")
        if any(p < 0 or p > n for p in points) or points != sorted(points):
            raise ShapeError(f"split points {list(points)} must be increasing and within [0, {n}] "
                             f"(axis {axis} has {n} entries)")
        edges = [0] + points + [n]
        ctx.axis, ctx.edges = axis, list(zip(edges[:-1], edges[1:]))
        return tuple(A[_along(axis, s, e)] for s, e in ctx.edges)

    def vjp(ctx, *cots):
        return (ctx.b.concat(cots, axis=ctx.axis),)

    def jvp(ctx, dA):
        return tuple(dA[_along(ctx.axis, s, e)] for s, e in ctx.edges)


# -- concat: R = [U|V] --------------------------------------------------------------------------------
@register("concat", ref="R = [U|V] (concatenate along an axis);  [Ubar|Vbar] = Rbar  (Figure 2)")
class concat_op:
    symbols = "U, V -> R"
    equation = staticmethod(lambda p: "{R} = [{U}|{V}]" if _cols(p) else "{R} = [{U}; {V}]")
    adjoints = ("the {U} block of {R_}", "the {V} block of {R_}")

    def forward(ctx, *parts, axis=-1):
        nd = parts[0].ndim
        for p in parts:
            if p.ndim != nd:
                raise ShapeError(f"concat: all parts need {nd} axes, got shapes {[q.shape for q in parts]}; give every "
                                 "part the same number of axes (add one with x[None] or drop one with x[0])")
        axis = _neg_axis("concat", axis, nd)
        ref = list(parts[0].shape)
        for p in parts:
            other = list(p.shape)
            other[axis] = ref[axis] = 0
            if other != ref:
                raise ShapeError(f"concat along axis {axis}: shapes {[q.shape for q in parts]} differ off that "
                                 "axis; the parts must agree in all but the joining axis")
        b = ctx.b
        dtype = b.result_type(*[p.dtype for p in parts])
        sizes = list(itertools.accumulate([p.shape[axis] for p in parts], initial=0))
        ctx.axis, ctx.edges = axis, list(zip(sizes[:-1], sizes[1:]))
        return b.concat([b.astype(p, dtype) for p in parts], axis=axis)

    def vjp(ctx, Rbar):
        return tuple(Rbar[_along(ctx.axis, s, e)] for s, e in ctx.edges)

    def jvp(ctx, *dparts):
        b = ctx.b
        sample = next(d for d in dparts if d is not None)
        full = []
        for d, (s, e) in zip(dparts, ctx.edges):
            if d is None:
                shape = list(sample.shape)
                shape[ctx.axis] = e - s
                d = b.zeros(tuple(shape), sample.dtype)
            full.append(d)
        dtype = b.result_type(*[d.dtype for d in full])
        return b.concat([b.astype(d, dtype) for d in full], axis=ctx.axis)


# -- permute: B = A P (columns) or P A (rows) -------------------------------------------------------
def _check_perm(b, perm, n, batch):
    host = np.asarray(b.to_host(perm) if not isinstance(perm, (list, tuple, np.ndarray)) else perm)
    if host.dtype.kind not in "iu" or host.shape[-1:] != (n,) or host.ndim < 1:
        raise ShapeError(f"permute: perm must be integers of shape (..., {n}), got dtype {host.dtype} shape "
                         f"{host.shape}")
    try:
        np.broadcast_shapes(host.shape[:-1], batch)
    except ValueError:
        raise ShapeError(f"permute: perm's batch shape {host.shape[:-1]} does not broadcast with {batch}") from None
    if not (np.sort(host, axis=-1) == np.arange(n)).all():
        raise ShapeError(f"permute: {host.tolist() if host.size <= 20 else 'perm'} is not a permutation of "
                         f"0..{n - 1} (each index exactly once)")
    return b.from_host(host) if isinstance(perm, (list, tuple, np.ndarray)) else perm


@register("permute", ref="B = A P (columns, axis=-1) or P A (rows, axis=-2);  Abar = Bbar P^T  (Section 3)")
class permute_op:
    symbols = "A -> B"
    equation = staticmethod(lambda p: "{B} = {A} P" if _cols(p) else "{B} = P {A}")
    adjoints = staticmethod(lambda p: ("{B_} Pᵀ",) if _cols(p) else ("Pᵀ {B_}",))

    def forward(ctx, A, perm, axis=-1):
        if A.ndim < 2 or axis not in (-1, -2, A.ndim - 1, A.ndim - 2):
            raise ShapeError(f"permute reorders rows (axis=-2) or columns (axis=-1) of matrices; got axis={axis} "
                             f"for shape {A.shape}")
        axis = -1 if axis in (-1, A.ndim - 1) else -2
        b = ctx.b
        perm = _check_perm(b, perm, A.shape[axis], A.shape[:-2])
        ctx.axis, ctx.perm = axis, perm
        return b.permute(A, perm, axis)

    def vjp(ctx, Bbar):
        b = ctx.b
        return (b.permute(Bbar, b.argsort(ctx.perm, axis=-1), ctx.axis),)

    def jvp(ctx, dA):
        return ctx.b.permute(dA, ctx.perm, ctx.axis)
