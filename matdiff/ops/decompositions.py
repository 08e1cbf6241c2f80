"""QR and LQ nodes exactly as Roberts & Roberts derive them, for every shape, real or complex.

===============  ====================  ===========================================  ======================
node             shape                 backward (vjp)                               forward mode (jvp)
===============  ====================  ===========================================  ======================
``qr``           square/deep, m >= n   Eq 3 (real), Eq 21 (complex); or Eq 8 [27]   Lemma 1 / Eq 36
``qr_wide``      wide (fused), m < n   Eq 9-10 (real), Eq 26 (complex)              Lemma 2
``lq``           square/wide, m <= n   Eq 17 (complex: hcopyltu)                    Lemma 1, transposed
``lq_deep``      deep (fused), m > n   Proposition 3                                proof of Prop. 3
===============  ====================  ===========================================  ======================

``md.qr`` of a wide matrix is not a node but a *graph* -- Figure 2: ``X, Y = split(A)``, ``Q, U = qr(X)``,
``V = Q^H Y``, ``R = [U|V]``; the engine's accumulation into Q's adjoint then is ``Qbar' = Qbar + Y Vbar^H``.
Deep LQ mirrors it along rows. Pivoting adds a ``permute`` node in front (Section 3: ``Abar = Bbar P^T``).

Gauge: every forward returns R (and L) with a real, non-negative diagonal, whatever LAPACK/cuSOLVER gave
(``Q <- Q D, R <- D^H R``). The formulas assume a real diagonal (Section 4.3); a backend whose phases vary
with A would otherwise make the backward wrong -- this is the bug of frameworks that skip the rotation.
"""
from __future__ import annotations

from collections import namedtuple

from ..engine.registry import register
from ..engine.tape import grad_enabled
from ..engine.tensor import Tensor, tensor
from ..errors import DTypeError, MatdiffError, NonFiniteError, ShapeError
from .elementary import adjoint, matmul
from .qr_rules import _check_rank, _gauge, _lq_forward, lq_backward, lq_variations, qr_backward, qr_variations
from .structural import concat, permute, split


def _result(name, fields):
    """A named tuple of factors whose ``backward`` says how to seed them (a tuple is not a tensor to sweep from)."""
    def backward(self, *args, **kwargs):
        factors = [f for f in fields.split() if f != "perm"]
        T = "R" if "R" in factors else "L"                           # the triangular factor
        raise MatdiffError(f"{name} is the tuple ({', '.join(fields.split())}), not a tensor: backward starts from "
                           f"tensors. Seed the factors -- md.backward([{', '.join(factors)}], "
                           f"[{', '.join(f + 'bar' for f in factors)}]) -- or make a real scalar of them first: "
                           f"md.sum(md.real({T} * {T}.conj())).backward()")
    return type(name, (namedtuple(name, fields),), {"__slots__": (), "backward": backward, "__module__": __name__,
                                                     "__doc__": f"{name}({', '.join(fields.split())})"})


QRResult = _result("QRResult", "Q R")
QRPivotedResult = _result("QRPivotedResult", "Q R perm")
LQResult = _result("LQResult", "L Q")
LQPivotedResult = _result("LQPivotedResult", "L Q perm")

FORMULAS = {
    "eq3": "Eq 3 / Eq 21: Abar = [Qbar + Q hcopyltu(M)] R^{-H}, M = R Rbar^H - Qbar^H Q",
    "eq8": "Eq 8 (Walter & Lehmann) with the complex correction C = i Im(diag M) of Section 4.4",
    "eq8-uncorrected": "Eq 8 with ^T read as ^H and no correction -- wrong for complex input (Section 4.4)",
}


# -- the nodes -------------------------------------------------------------------------------------
def _node_shape(ctx, name, A, ok, public):
    """Refuse at the call a shape this raw node does not handle; set the context its rank check reports from."""
    if A.ndim < 2 or not ok(*A.shape[-2:]):
        raise ShapeError(f"the raw {name!r} node handles {public[0]} matrices, got shape {A.shape}; call {public[1]} "
                         "-- it picks the node (or the partition graph) for every shape")
    ctx.kind, ctx.shape, ctx.hint = name[:2].upper(), tuple(A.shape), ""
    ctx.source = A          # not saved for the rules: only a float32 rank error reads it (would float64 pass?)


@register("qr", ref="Eq 3 / Eq 21: Abar = [Qbar + Q hcopyltu(M)] R^{-H}, M = R Rbar^H - Qbar^H Q (m >= n; "
                      "hcopyltu is copyltu for real input)")
class qr_node:
    takes_none = True     # an unused Q or R: its adjoint is None and its terms are skipped
    symbols, equation = "A -> Q, R", "{A} = {Q} {R}"
    adjoints = ("[{Q_} + {Q} hcopyltu(M)] {R}⁻ᴴ with M = {R} {R_}ᴴ − {Q_}ᴴ {Q}",)

    def forward(ctx, A, formula="eq3"):
        _node_shape(ctx, "qr", A, lambda m, n: m >= n, ("square or deep (m >= n)", "md.qr(A)"))
        Q, R = _gauge(ctx.b, *ctx.b.qr(A))
        ctx.save(Q, R)
        ctx.formula = formula
        return Q, R

    def vjp(ctx, Qbar, Rbar):
        Q, R = ctx.saved
        _check_rank(ctx, R)
        return (qr_backward(ctx.b, Q, R, Qbar, Rbar, ctx.formula),)

    def jvp(ctx, dA):
        Q, R = ctx.saved
        _check_rank(ctx, R, "forward mode")
        return qr_variations(ctx.b, Q, R, dA)


_HINT = {"QR": " For a wide matrix the leading {k}x{k} block must be non-singular: call md.qr(A, pivoting=True) to "
               "move independent columns to the front.",
         "LQ": " For a deep matrix the top {k}x{k} block must be non-singular: call md.lq(A, pivoting=True) to "
               "move independent rows to the top."}


@register("qr_wide", ref="Eq 9-10 / Eq 26 (fused): Xbar = [Qbar' + Q hcopyltu(M)] U^{-H}, Ybar = Q Vbar")
class qr_wide_node:
    takes_none = True
    symbols, equation = "A -> Q, R", "{A} = {Q} {R}"
    adjoints = ("[ [{Q_}′ + {Q} hcopyltu(M)] U⁻ᴴ | {Q} V̄ ] with [U|V] = {R}, {Q_}′ = {Q_} + Y V̄ᴴ",)

    def forward(ctx, A, formula="eq3"):
        _node_shape(ctx, "qr_wide", A, lambda m, n: m < n, ("wide (m < n)", "md.qr(A, fused=True)"))
        ctx.hint = _HINT["QR"].format(k=A.shape[-2])
        Q, R = _gauge(ctx.b, *ctx.b.qr(A))
        ctx.save(Q, R, A)
        ctx.formula = formula
        return Q, R

    def vjp(ctx, Qbar, Rbar):
        b = ctx.b
        Q, R, A = ctx.saved
        m = A.shape[-2]
        if Rbar is None:                                                 # R unused: Vbar = 0 feeds Ybar
            Rbar = b.zeros(Qbar.shape[:-2] + R.shape[-2:], R.dtype)
        U, Y, Ubar, Vbar = R[..., :m], A[..., m:], Rbar[..., :m], Rbar[..., m:]
        _check_rank(ctx, U)
        Qbar_prime = Y @ b.mH(Vbar) if Qbar is None else Qbar + Y @ b.mH(Vbar)     # Qbar' = Qbar + Y Vbar^H
        Xbar = qr_backward(b, Q, U, Qbar_prime, Ubar, ctx.formula)      # Eq 9 / Eq 26
        Ybar = Q @ Vbar                                                  # Eq 10
        return (b.concat([Xbar, Ybar], axis=-1),)

    def jvp(ctx, dA):
        b = ctx.b
        Q, R, A = ctx.saved
        m = A.shape[-2]
        U, V = R[..., :m], R[..., m:]
        _check_rank(ctx, U, "forward mode")
        dQ, dU = qr_variations(b, Q, U, dA[..., :m])                     # Lemma 2, Eq 11 and 13
        dV = b.mH(Q) @ (dA[..., m:] - dQ @ V)                            # Eq 12
        return dQ, b.concat([dU, dV], axis=-1)


@register("lq", ref="Eq 17: Abar = L^{-H} [Qbar + hcopyltu(M) Q], M = L^H Lbar - Qbar Q^H (m <= n)")
class lq_node:
    takes_none = True
    symbols, equation = "A -> L, Q", "{A} = {L} {Q}"
    adjoints = ("{L}⁻ᴴ [{Q_} + hcopyltu(M) {Q}] with M = {L}ᴴ {L_} − {Q_} {Q}ᴴ",)

    def forward(ctx, A):
        _node_shape(ctx, "lq", A, lambda m, n: m <= n, ("square or wide (m <= n)", "md.lq(A)"))
        L, Q = _lq_forward(ctx.b, A)
        ctx.save(L, Q)
        return L, Q

    def vjp(ctx, Lbar, Qbar):
        L, Q = ctx.saved
        _check_rank(ctx, L)
        return (lq_backward(ctx.b, L, Q, Lbar, Qbar),)

    def jvp(ctx, dA):
        L, Q = ctx.saved
        _check_rank(ctx, L, "forward mode")
        return lq_variations(ctx.b, L, Q, dA)


@register("lq_deep", ref="Prop 3 (fused): Xbar = U^{-H} [Qbar' + hcopyltu(M) Q], Ybar = Vbar Q, "
                         "Qbar' = Qbar + Vbar^H Y")
class lq_deep_node:
    takes_none = True
    symbols, equation = "A -> L, Q", "{A} = {L} {Q}"
    adjoints = ("[ U⁻ᴴ [{Q_}′ + hcopyltu(M) {Q}] ; V̄ {Q} ] with [U; V] = {L}, {Q_}′ = {Q_} + V̄ᴴ Y",)

    def forward(ctx, A):
        _node_shape(ctx, "lq_deep", A, lambda m, n: m > n, ("deep (m > n)", "md.lq(A, fused=True)"))
        ctx.hint = _HINT["LQ"].format(k=A.shape[-1])
        L, Q = _lq_forward(ctx.b, A)
        ctx.save(L, Q, A)
        return L, Q

    def vjp(ctx, Lbar, Qbar):
        b = ctx.b
        L, Q, A = ctx.saved
        n = A.shape[-1]
        if Lbar is None:                                                 # L unused: Vbar = 0 feeds Ybar
            Lbar = b.zeros(Qbar.shape[:-2] + L.shape[-2:], L.dtype)
        U, Y, Ubar, Vbar = L[..., :n, :], A[..., n:, :], Lbar[..., :n, :], Lbar[..., n:, :]
        _check_rank(ctx, U)
        Qbar_prime = b.mH(Vbar) @ Y if Qbar is None else Qbar + b.mH(Vbar) @ Y     # Qbar' = Qbar + Vbar^H Y
        Xbar = lq_backward(b, U, Q, Ubar, Qbar_prime)
        return (b.concat([Xbar, Vbar @ Q], axis=-2),)                    # Ybar = Vbar Q

    def jvp(ctx, dA):
        b = ctx.b
        L, Q, A = ctx.saved
        n = A.shape[-1]
        U, V = L[..., :n, :], L[..., n:, :]
        _check_rank(ctx, U, "forward mode")
        dU, dQ = lq_variations(b, U, Q, dA[..., :n, :])                  # dU = U (symh(C) ∘ E), dQ = U^{-1}(dX - dU Q)
        dV = (dA[..., n:, :] - V @ dQ) @ b.mH(Q)                         # dV = (dY - V dQ) Q^H
        return b.concat([dU, dV], axis=-2), dQ


# -- the public functions: nodes and graphs --------------------------------------------------------
def _validate(A, name, mode, formula, pivoting, fused):
    for flag, value in (("pivoting", pivoting), ("fused", fused)):
        if not isinstance(value, bool):
            raise MatdiffError(f"{name}: {flag} must be True or False, got {value!r}; pass {flag}=True or {flag}=False")
    if not isinstance(A, Tensor):
        A = tensor(A)
    b, shape = A._b, A._data.shape
    if len(shape) < 2:
        raise ShapeError(f"{name} needs a matrix (or a stack of them) with at least 2 axes, got shape {shape}; "
                         "make a vector a column with x[:, None] (or a row with x[None, :])")
    if not shape[-2] or not shape[-1]:
        raise ShapeError(f"{name} of an empty {shape[-2]}x{shape[-1]} matrix: matdiff requires m, n >= 1 "
                         "(an empty factorisation has nothing to differentiate); an empty batch (0, m, n) is fine")
    if not b.is_float(A._data.dtype):
        if A.requires_grad:
            raise DTypeError(f"{name} needs float32/64 or complex64/128 input, got {b.dtype_name(A.dtype)}")
        A = tensor(b.astype(A._data, b.float64))
    if mode != "reduced" and mode != "complete":
        raise MatdiffError(f"{name}: unknown mode {mode!r}; use mode='reduced' (or 'complete')")
    if formula not in FORMULAS:
        raise MatdiffError(f"{name}: unknown formula {formula!r}; choose one of {', '.join(FORMULAS)}")
    if not b.isfinite_all(A._data):
        raise NonFiniteError(f"{name}: the input contains NaN or inf; a decomposition of it (and its gradient) "
                             "would be meaningless -- clean the data first")
    return A


def _complete(A, name, rows_gt_cols):
    """mode='complete' equals 'reduced' unless the extra orthonormal vectors are arbitrary (not differentiable)."""
    if not rows_gt_cols:
        return None
    if A.requires_grad and grad_enabled():
        raise MatdiffError(
            f"{name}(mode='complete') of a {A.shape[-2]}x{A.shape[-1]} matrix is not differentiable: the extra "
            "orthonormal vectors completing Q are any basis of the orthogonal complement, so they have no "
            "derivative (PyTorch refuses the same). Use mode='reduced', or compute it under md.no_grad()")
    return True


# QR partitions columns, LQ rows: everything else about the two public functions is the same (Figure 2 and
# Proposition 3 are one construction, transposed). ``axis``: the axis of the partition; ``node``/``fused``: the
# square-or-X node and the fused one; ``names``: the outputs' names; ``permuted``: the pivoted input's name.
_KINDS = {"qr": dict(axis=-1, node=qr_node, fused=qr_wide_node, names=("Q", "R"), permuted="AP"),
          "lq": dict(axis=-2, node=lq_node, fused=lq_deep_node, names=("L", "Q"), permuted="PA")}


def _decompose(kind, A, mode, pivoting, fused, formula):
    spec = _KINDS[kind]
    A = _validate(A, kind, mode, formula, pivoting, fused)
    b, axis = A._b, spec["axis"]
    kw = {"formula": formula} if kind == "qr" else {}
    perm = None
    if pivoting:
        host = b.pivots(A._data, rows=kind == "lq")           # on the host (geqp3), checked there by permute
        A = permute(A, perm=host, axis=axis)
        A.name = A.name or spec["permuted"]
        perm = b.from_host(host)                               # the caller's copy, on the tensor's device
    m, n = A._data.shape[-2:]
    k, long = min(m, n), (n if axis == -1 else m)         # the partitioned axis is the long one when k < long
    if mode == "complete" and _complete(A, kind, (m > n) if kind == "qr" else (m < n)):
        outs = _complete_factors(b, A, kind)
    elif k == long:
        outs = spec["node"].apply(A, **kw)
    elif fused:
        outs = spec["fused"].apply(A, **kw)
    else:
        outs = _partition_graph(kind, A, k, axis, kw)
    for t, name in zip(outs, spec["names"]):
        t.name = t.name or name
    return _RESULT[kind, pivoting](*outs, *((perm,) if pivoting else ()))


def _partition_graph(kind, A, k, axis, kw):
    """Figure 2 (QR: ``A = [X|Y]``, ``V = Q^H Y``, ``R = [U|V]``) or Proposition 3 (LQ: ``A = [X; Y]``,
    ``V = Y Q^H``, ``L = [U; V]``), built from nodes; the engine's accumulation gives ``Qbar' = Qbar + ...``."""
    X, Y = split(A, indices=[k], axis=axis)
    F = _KINDS[kind]["node"](X, **kw)                            # QR: (Q, U); LQ: (U, Q)
    Q, U = (F[0], F[1]) if kind == "qr" else (F[1], F[0])
    if Q.node is not None:                                       # the rank check reports the user's matrix
        Q.node.ctx.shape, Q.node.ctx.hint = tuple(A.shape), _HINT[kind.upper()].format(k=k)
    Qh = adjoint(Q)
    V = matmul(Qh, Y) if kind == "qr" else matmul(Y, Qh)         # V = Q^H Y  /  V = Y Q^H
    T = concat(U, V, axis=axis)                                  # R = [U|V]  /  L = [U; V]
    for t, name in ((X, "X"), (Y, "Y"), (U, "U"), (V, "V"), (Qh, "Qᴴ")):
        t.name = t.name or name
    return (Q, T) if kind == "qr" else (T, Q)


def _complete_factors(b, A, kind):
    """mode='complete' where it differs from reduced (deep QR, wide LQ): no grad, LAPACK's complete QR, gauged."""
    if kind == "qr":
        return tuple(tensor(x) for x in _gauge(b, *b.qr_complete(A._data)))
    Qr, Rr = _gauge(b, *b.qr_complete(b.mH(A._data)))
    return tensor(b.mH(Rr)), tensor(b.mH(Qr))


_RESULT = {("qr", False): QRResult, ("qr", True): QRPivotedResult,
           ("lq", False): LQResult, ("lq", True): LQPivotedResult}


def qr(A: Tensor, mode: str = "reduced", pivoting: bool = False, fused: bool = False,
       formula: str = "eq3") -> QRResult | QRPivotedResult:
    """Differentiable reduced QR of ``A`` (..., m, n), any m and n: ``Q`` (..., m, k), ``R`` (..., k, n), k = min(m, n).

    Returns ``QRResult(Q, R)``, or ``QRPivotedResult(Q, R, perm)`` with ``pivoting=True`` (named tuples).

    * ``m >= n``: one ``qr`` node (Eq 3; complex Eq 21).
    * ``m < n``: the graph of Figure 2 -- ``split`` (A = [X|Y]) -> ``qr`` (X = Q U) -> ``adjoint`` (Q^H) ->
      ``matmul`` (V = Q^H Y) -> ``concat`` (R = [U|V]) -- or one ``qr_wide`` node if ``fused`` (Eq 9-10 / 26).
    * ``pivoting=True``: ``perm`` from LAPACK geqp3 (on the host; a GPU array is copied there once), then
      ``B = permute(A, perm)`` and QR of B: ``A[..., :, perm] == Q @ R``.
    * ``formula``: "eq3" (default), "eq8" (Walter-Lehmann + Section 4.4 correction) or "eq8-uncorrected".
    * ``mode="complete"``: same as reduced for m <= n; for m > n only without grad (not differentiable).
    ``R`` always has a real, non-negative diagonal. An empty matrix (m or n = 0) is an error; an empty batch is not.
    """
    return _decompose("qr", A, mode, pivoting, fused, formula)


def lq(A: Tensor, mode: str = "reduced", pivoting: bool = False,
       fused: bool = False) -> LQResult | LQPivotedResult:
    """Differentiable reduced LQ of ``A`` (..., m, n): ``A = L Q``, ``L`` (..., m, k) lower, ``Q`` (..., k, n).

    Returns ``LQResult(L, Q)``, or ``LQPivotedResult(L, Q, perm)`` with ``pivoting=True`` (named tuples).

    * ``m <= n``: one ``lq`` node (Eq 17, complex with hcopyltu).
    * ``m > n``: the row-partition graph of Proposition 3 -- ``split`` rows (A = [X; Y]) -> ``lq`` (X = U Q) ->
      ``adjoint`` (Q^H) -> ``matmul`` (V = Y Q^H) -> ``concat`` rows (L = [U; V]) -- or one ``lq_deep`` node if
      ``fused``.
    * ``pivoting=True``: row pivots (geqp3 of ``A^H`` on the host), ``A[..., perm, :] == L @ Q``.
    * ``mode="complete"``: same as reduced for m >= n; for m < n only without grad.
    ``L`` always has a real, non-negative diagonal.
    """
    return _decompose("lq", A, mode, pivoting, fused, "eq3")
