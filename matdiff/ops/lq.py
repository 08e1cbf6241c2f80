"""LQ exactly as Roberts & Roberts derive it, for every shape, real or complex: the rules, the nodes, ``md.lq``.

===============  ====================  ===========================================  ======================
node             shape                 backward (vjp)                               forward mode (jvp)
===============  ====================  ===========================================  ======================
``lq``           square/wide, m <= n   ``EQ17``: Eq 17 (complex: hcopyltu)          Lemma 1, transposed
``lq_deep``      deep (fused), m > n   ``PROP3``: Proposition 3                     proof of Prop. 3
===============  ====================  ===========================================  ======================

``md.lq`` of a deep matrix is not a node but a *graph* -- Proposition 3's row partition, Figure 2 transposed:
``X, Y = split(A)`` (rows), ``U, Q = lq(X)``, ``V = Y Q^H``, ``L = [U; V]``; the engine's accumulation into Q's
adjoint then is ``Qbar' = Qbar + Vbar^H Y``. The forward is the QR of ``A^H``, gauged: ``A^H = Q' R'``,
``L = R'^H``, ``Q = Q'^H``. Gauge, rank check and validation are shared with QR (:mod:`matdiff.ops.factorization`).
"""
from __future__ import annotations

from ..engine.registry import register
from ..engine.tensor import Tensor, tensor
from . import paper
from .elementary import adjoint_op, matmul_op
from .factorization import (
    HINT,
    Equation,
    complete_differs,
    gauge,
    gauged_qr,
    name_outputs,
    node_shape,
    pivot,
    rank_checked,
    recorded,
    result_type,
    validate,
    zeros_if_none,
)
from .structural import concat_op, split_op

EQ17 = Equation("Eq 17", "Abar = L^{-H} [Qbar + hcopyltu(M) Q], M = L^H Lbar - Qbar Q^H",
                notation=("{L}⁻ᴴ [{Q_} + hcopyltu(M) {Q}] with M = {L}ᴴ {L_} − {Q_} {Q}ᴴ",), note="m <= n")
PROP3 = Equation("Prop 3 (fused)", "Xbar = U^{-H} [Qbar' + hcopyltu(M) Q], Ybar = Vbar Q, Qbar' = Qbar + Vbar^H Y",
                 notation=("[ U⁻ᴴ [{Q_}′ + hcopyltu(M) {Q}] ; V̄ {Q} ] with [U; V] = {L}, {Q_}′ = {Q_} + V̄ᴴ Y",))

LQResult = result_type("LQResult", "L Q")
LQPivotedResult = result_type("LQPivotedResult", "L Q perm")


# -- the rules --------------------------------------------------------------------------------------------
def lq_forward(b, A):
    """``A = L Q`` from the gauged QR of ``A^H = Q' R'``: ``L = R'^H`` (diagonal real, >= 0), ``Q = Q'^H``."""
    Qr, Rr = gauged_qr(b, b.mH(A))
    return b.mH(Rr), b.mH(Qr)


def lq_vjp(b, L, Q, Lbar, Qbar):
    """Square/wide LQ backward, ``EQ17``. Lbar or Qbar may be None (that output was not used): its adjoint is zero,
    and so are its terms."""
    if Qbar is None:        # Eq 17 with Qbar = 0: M = L^H Lbar, Abar = L^{-H} hcopyltu(M) Q
        return b.solve_left_adjoint(L, b.hcopyltu(b.tril_matmul(b.mH(L), Lbar, upper_a=True)) @ Q)
    if Lbar is None:        # Eq 17 with Lbar = 0: M = -Qbar Q^H, Abar = L^{-H} [Qbar - hcopyltu(Qbar Q^H) Q]
        return b.solve_left_adjoint(L, Qbar - b.hcopyltu(b.tril_matmul(Qbar, b.mH(Q))) @ Q)
    # Eq 17: M = L^H Lbar - Qbar Q^H -- only its lower triangle, all hcopyltu reads (L^H is upper triangular)
    M = b.tril_matmul(b.mH(L), Lbar, upper_a=True) - b.tril_matmul(Qbar, b.mH(Q))
    return b.solve_left_adjoint(L, Qbar + b.hcopyltu(M) @ Q)         # Abar = L^{-H} [Qbar + hcopyltu(M) Q]


def lq_jvp(b, L, Q, dA):
    """Lemma 1 transposed: ``C = L^{-1} dA Q^H``, ``dL = L (symh(C) ∘ E)``, ``dQ = L^{-1} (dA - dL Q)`` -- with
    ``L^{-1}`` applied once, as in :func:`matdiff.ops.qr.qr_jvp`: ``W = L^{-1} dA``, ``C = W Q^H``, and since
    ``L^{-1} dL = S = symh(C) ∘ E``, ``dQ = W - S Q``."""
    W = b.solve_triangular(L, dA, lower=True)                                          # L^{-1} dA
    S = paper.symh(W @ b.mH(Q), b) * paper.E(L.shape[-2], b, b.real_dtype(L.dtype))   # symh(C) ∘ E
    return L @ S, W - S @ Q                                                           # dL, dQ


def lq_deep_vjp(b, A, L, Q, Lbar, Qbar):
    """Deep LQ backward, fused (``PROP3``): ``A = [X; Y]``, ``L = [U; V]``; ``Xbar`` is Eq 17 for ``X = U Q`` with
    ``Qbar' = Qbar + Vbar^H Y``, and ``Ybar = Vbar Q``. Lbar or Qbar may be None."""
    Lbar, Qbar = zeros_if_none(b, L, Lbar, Q, Qbar)
    n = A.shape[-1]
    U, Y, Ubar, Vbar = L[..., :n, :], A[..., n:, :], Lbar[..., :n, :], Lbar[..., n:, :]
    Xbar = lq_vjp(b, U, Q, Ubar, Qbar + b.mH(Vbar) @ Y)
    Ybar = Vbar @ Q
    return b.concat([Xbar, Ybar], axis=-2)


def lq_deep_jvp(b, A, L, Q, dA):
    """The proof of Proposition 3: Lemma 1 transposed for ``X = U Q``, then ``dV = (dY - V dQ) Q^H``."""
    n = A.shape[-1]
    dU, dQ = lq_jvp(b, L[..., :n, :], Q, dA[..., :n, :])
    dV = (dA[..., n:, :] - L[..., n:, :] @ dQ) @ b.mH(Q)
    return b.concat([dU, dV], axis=-2), dQ


# -- the nodes --------------------------------------------------------------------------------------------
@register("lq", ref=EQ17.ref)
@rank_checked(factor=0)                  # L = ctx.saved[0]
class lq_op:
    takes_none = True     # an unused L or Q: its adjoint is None (the rule makes it zero)
    symbols, equation, adjoints = "A -> L, Q", "{A} = {L} {Q}", EQ17.notation

    def forward(ctx, A):
        node_shape(ctx, "lq", A, lambda m, n: m <= n, ("square or wide (m <= n)", "md.lq(A)"))
        L, Q = ctx.b.each_matrix(lq_forward, A)
        ctx.save(L, Q)
        return L, Q

    def vjp(ctx, Lbar, Qbar):
        L, Q = ctx.saved
        return (ctx.b.each_matrix(lq_vjp, L, Q, Lbar, Qbar),)

    def jvp(ctx, dA):
        L, Q = ctx.saved
        return ctx.b.each_matrix(lq_jvp, L, Q, dA)


@register("lq_deep", ref=PROP3.ref)
@rank_checked(factor=0)                  # L = [U; V]: U's diagonal
class lq_deep_op:
    takes_none = True
    symbols, equation, adjoints = "A -> L, Q", "{A} = {L} {Q}", PROP3.notation

    def forward(ctx, A):
        node_shape(ctx, "lq_deep", A, lambda m, n: m > n, ("deep (m > n)", "md.lq(A, fused=True)"))
        ctx.hint = HINT["LQ"].format(k=A.shape[-1])
        L, Q = ctx.b.each_matrix(lq_forward, A)
        ctx.save(L, Q, A)
        return L, Q

    def vjp(ctx, Lbar, Qbar):
        L, Q, A = ctx.saved
        return (ctx.b.each_matrix(lq_deep_vjp, A, L, Q, Lbar, Qbar),)

    def jvp(ctx, dA):
        L, Q, A = ctx.saved
        return ctx.b.each_matrix(lq_deep_jvp, A, L, Q, dA)


# -- md.lq: a node, or Proposition 3's graph ------------------------------------------------------------
def proposition3(A):
    """Proposition 3's row partition, built from nodes: ``A = [X; Y]``, ``X = U Q``, ``V = Y Q^H``, ``L = [U; V]``;
    the engine's accumulation gives ``Qbar' = Qbar + Vbar^H Y``. Returns (L, Q)."""
    k = A.shape[-1]
    X, Y = split_op(A, indices=[k], axis=-2)
    U, Q = lq_op.apply(X)
    if Q.node is not None:                                       # the rank check reports the user's matrix
        Q.node.ctx.shape, Q.node.ctx.hint = tuple(A.shape), HINT["LQ"].format(k=k)
    Qh = adjoint_op(Q)
    V = matmul_op(Y, Qh)
    L = concat_op(U, V, axis=-2)
    name_outputs((X, Y, U, V, Qh), ("X", "Y", "U", "V", "Qᴴ"))
    return L, Q


def lq(A: Tensor, mode: str = "reduced", pivoting: bool = False,
       fused: bool = False) -> LQResult | LQPivotedResult:
    """Differentiable reduced LQ of ``A`` (..., m, n): ``A = L Q``, ``L`` (..., m, k) lower, ``Q`` (..., k, n).

    Returns ``LQResult(L, Q)``, or ``LQPivotedResult(L, Q, perm)`` with ``pivoting=True`` (named tuples).

    * ``m <= n``: one ``lq`` node (Eq 17, complex with hcopyltu).
    * ``m > n``: the row-partition graph of Proposition 3 -- ``split`` rows (A = [X; Y]) -> ``lq`` (X = U Q) ->
      ``adjoint`` (Q^H) -> ``matmul`` (V = Y Q^H) -> ``concat`` rows (L = [U; V]) -- or one ``lq_deep`` node if
      ``fused``, and whenever nothing is recorded (no_grad, A without requires_grad).
    * ``pivoting=True``: row pivots (geqp3 of ``A^H`` on the host), ``A[..., perm, :] == L @ Q``.
    * ``mode="complete"``: same as reduced for m >= n; for m < n only without grad.
    ``L`` always has a real, non-negative diagonal.
    """
    A = validate(A, "lq", mode, pivoting, fused)
    if pivoting:
        A, perm = pivot(A, rows=True, name="PA")
    m, n = A._data.shape[-2:]
    b = A._b
    if mode == "complete" and complete_differs(A, "lq", m < n):
        Qr, Rr = gauge(b, *b.qr_complete(b.mH(A._data)))                # no grad: LAPACK's complete QR of A^H
        L, Q = tensor(b.mH(Rr)), tensor(b.mH(Qr))
    elif m <= n:
        L, Q = lq_op.apply(A)
    elif fused or not recorded(A):             # nothing recorded: the graph's nodes would show nothing
        L, Q = lq_deep_op.apply(A)
    else:
        L, Q = proposition3(A)
    name_outputs((L, Q), ("L", "Q"))
    return LQPivotedResult(L, Q, perm) if pivoting else LQResult(L, Q)
