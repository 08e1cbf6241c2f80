"""QR exactly as Roberts & Roberts derive it, for every shape, real or complex: the rules, the nodes, ``md.qr``.

===============  ====================  ===========================================  ======================
node             shape                 backward (vjp)                               forward mode (jvp)
===============  ====================  ===========================================  ======================
``qr``           square/deep, m >= n   ``EQ3``: Eq 3 (real), Eq 21 (complex);       Lemma 1 / Eq 36
                                       or ``EQ8`` (Walter & Lehmann) [27]
``qr_wide``      wide (fused), m < n   ``EQ9_10``: Eq 9-10 (real), Eq 26 (complex)  Lemma 2
===============  ====================  ===========================================  ======================

``md.qr`` of a wide matrix is not a node but a *graph* -- Figure 2: ``X, Y = split(A)``, ``Q, U = qr(X)``,
``V = Q^H Y``, ``R = [U|V]``; the engine's accumulation into Q's adjoint then is ``Qbar' = Qbar + Y Vbar^H``.
Pivoting adds a ``permute`` node in front (Section 3: ``Abar = Bbar P^T``). The gauge, the rank check and the
validation are shared with LQ (:mod:`matdiff.ops.factorization`).

The rules (``qr_vjp``, ``qr_jvp``, ``qr_wide_vjp``, ``qr_wide_jvp``) take a backend ``b`` (the contract of
:mod:`matdiff.backend.contract`) and arrays -- or Tensors under create_graph=True -- and read as the equations.
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

EQ3 = Equation("Eq 3 / Eq 21", "Abar = [Qbar + Q hcopyltu(M)] R^{-H}, M = R Rbar^H - Qbar^H Q",
               notation=("[{Q_} + {Q} hcopyltu(M)] {R}⁻ᴴ with M = {R} {R_}ᴴ − {Q_}ᴴ {Q}",),
               note="m >= n; hcopyltu is copyltu for real input")
EQ8 = Equation("Eq 8", "Abar = Q (Rbar + P_L ∘ (M - M^H) R^{-H}) + (Qbar - Q Q^H Qbar) R^{-H}, M = R Rbar^H - Qbar^H Q",
               note="Walter & Lehmann, with the complex correction C = i Im(diag M) of Section 4.4")
EQ8_UNCORRECTED = Equation("Eq 8", EQ8.text, note="^T read as ^H and no correction: wrong for complex input, "
                                                 "Section 4.4")
EQ9_10 = Equation(
    "Eq 9-10 / Eq 26 (fused)", "Xbar = [Qbar' + Q hcopyltu(M)] U^{-H}, Ybar = Q Vbar, Qbar' = Qbar + Y Vbar^H",
    notation=("[ [{Q_}′ + {Q} hcopyltu(M)] U⁻ᴴ | {Q} V̄ ] with [U|V] = {R}, {Q_}′ = {Q_} + Y V̄ᴴ",))

#: md.FORMULAS: the backward formulas md.qr(A, formula=...) offers
FORMULAS = {"eq3": EQ3.ref, "eq8": EQ8.ref, "eq8-uncorrected": EQ8_UNCORRECTED.ref}

QRResult = result_type("QRResult", "Q R")
QRPivotedResult = result_type("QRPivotedResult", "Q R perm")


# -- the rules --------------------------------------------------------------------------------------------
def qr_vjp(b, Q, R, Qbar, Rbar, formula="eq3"):
    """Square/deep QR backward: ``EQ3`` (Eq 3, complex Eq 21), or ``EQ8`` with ``formula="eq8"``.

    Qbar or Rbar may be None (that output was not used): its adjoint is zero, and so are its terms."""
    if formula != "eq3":
        return _eq8(b, Q, R, *zeros_if_none(b, Q, Qbar, R, Rbar), correct=formula == "eq8")
    if Qbar is None:        # Eq 3 with Qbar = 0: M = R Rbar^H, Abar = Q hcopyltu(M) R^{-H}
        return b.solve_right_adjoint(R, Q @ b.hcopyltu(b.tril_matmul(R, b.mH(Rbar), upper_a=True)))
    if Rbar is None:        # Eq 3 with Rbar = 0: M = -Qbar^H Q, Abar = [Qbar - Q hcopyltu(Qbar^H Q)] R^{-H}
        return b.solve_right_adjoint(R, Qbar - Q @ b.hcopyltu(b.tril_matmul(b.mH(Qbar), Q)))
    # Eq 3: M = R Rbar^H - Qbar^H Q -- only its lower triangle, all hcopyltu reads (R is upper triangular)
    M = b.tril_matmul(R, b.mH(Rbar), upper_a=True) - b.tril_matmul(b.mH(Qbar), Q)
    return b.solve_right_adjoint(R, Qbar + Q @ b.hcopyltu(M))        # Abar = [Qbar + Q hcopyltu(M)] R^{-H}


def _eq8(b, Q, R, Qbar, Rbar, correct):
    """Eq 8: ``Q (Rbar + P_L ∘ (M - M^H) R^{-H}) + (Qbar - Q Q^H Qbar) R^{-H}``; complex: + ``i Im(diag M)``."""
    M = R @ b.mH(Rbar) - b.mH(Qbar) @ Q
    inner = paper.P_L(R.shape[-1], b, b.real_dtype(R.dtype)) * (M - b.mH(M))
    if correct and b.is_complex(M.dtype):
        inner = inner + b.diag_embed(b.imag(b.diagonal(M)) * 1j)      # C = i Im(diag(M)), Section 4.4
    return Q @ Rbar + b.solve_right_adjoint(R, Q @ inner + Qbar - Q @ (b.mH(Q) @ Qbar))


def qr_jvp(b, Q, R, dA):
    """Lemma 1 (Eq 27 / Eq 36): ``C = Q^H dA R^{-1}``, ``dR = (symh(C) ∘ E^T) R``, ``dQ = (dA - Q dR) R^{-1}``.

    ``R^{-1}`` is applied once, to ``W = dA R^{-1}``: then ``C = Q^H W``, and since ``dR R^{-1} = S = symh(C) ∘ E^T``,
    ``dQ = W - Q S``: three products and one triangular solve, where the equations as written take a second (k x k)
    solve -- ``jit(grad)`` of ``matdiff.jax.qr`` (JAX transposes this rule) at 1000 x 1000 took 0.86x the time of
    the two-solve form (in one process, interleaved, 2026-12-03)."""
    W = b.solve_triangular(R, dA, lower=False, side="right")                          # dA R^{-1}
    S = paper.symh(b.mH(Q) @ W, b) * b.mT(paper.E(R.shape[-1], b, b.real_dtype(R.dtype)))   # symh(C) ∘ E^T
    return W - Q @ S, S @ R                                                           # dQ, dR


def qr_wide_vjp(b, A, Q, R, Qbar, Rbar, formula="eq3"):
    """Wide QR backward, fused (``EQ9_10``): ``A = [X|Y]``, ``R = [U|V]``; Eq 9 is Eq 3 for ``X = Q U`` with
    ``Qbar' = Qbar + Y Vbar^H``, Eq 10 is ``Ybar = Q Vbar``. Qbar or Rbar may be None."""
    Qbar, Rbar = zeros_if_none(b, Q, Qbar, R, Rbar)
    m = A.shape[-2]
    U, Y, Ubar, Vbar = R[..., :m], A[..., m:], Rbar[..., :m], Rbar[..., m:]
    Xbar = qr_vjp(b, Q, U, Qbar + Y @ b.mH(Vbar), Ubar, formula)      # Eq 9 / Eq 26
    Ybar = Q @ Vbar                                                    # Eq 10
    return b.concat([Xbar, Ybar], axis=-1)


def qr_wide_jvp(b, A, Q, R, dA):
    """Lemma 2: Lemma 1 for ``X = Q U`` (Eq 11, 13), then ``dV = Q^H (dY - dQ V)`` (Eq 12)."""
    m = A.shape[-2]
    dQ, dU = qr_jvp(b, Q, R[..., :m], dA[..., :m])
    dV = b.mH(Q) @ (dA[..., m:] - dQ @ R[..., m:])
    return dQ, b.concat([dU, dV], axis=-1)


# -- the nodes --------------------------------------------------------------------------------------------
@register("qr", ref=EQ3.ref)
@rank_checked(factor=1)                  # R = ctx.saved[1]
class qr_op:
    takes_none = True     # an unused Q or R: its adjoint is None (the rule makes it zero)
    symbols, equation, adjoints = "A -> Q, R", "{A} = {Q} {R}", EQ3.notation

    def forward(ctx, A, formula="eq3"):
        node_shape(ctx, "qr", A, lambda m, n: m >= n, ("square or deep (m >= n)", "md.qr(A)"))
        Q, R = ctx.b.each_matrix(gauged_qr, A)
        ctx.save(Q, R)
        ctx.formula = formula
        return Q, R

    def vjp(ctx, Qbar, Rbar):
        Q, R = ctx.saved
        return (ctx.b.each_matrix(qr_vjp, Q, R, Qbar, Rbar, formula=ctx.formula),)

    def jvp(ctx, dA):
        Q, R = ctx.saved
        return ctx.b.each_matrix(qr_jvp, Q, R, dA)


@register("qr_wide", ref=EQ9_10.ref)
@rank_checked(factor=1)                  # R = [U|V]: U's diagonal
class qr_wide_op:
    takes_none = True
    symbols, equation, adjoints = "A -> Q, R", "{A} = {Q} {R}", EQ9_10.notation

    def forward(ctx, A, formula="eq3"):
        node_shape(ctx, "qr_wide", A, lambda m, n: m < n, ("wide (m < n)", "md.qr(A, fused=True)"))
        ctx.hint = HINT["QR"].format(k=A.shape[-2])
        Q, R = ctx.b.each_matrix(gauged_qr, A)
        ctx.save(Q, R, A)
        ctx.formula = formula
        return Q, R

    def vjp(ctx, Qbar, Rbar):
        Q, R, A = ctx.saved
        return (ctx.b.each_matrix(qr_wide_vjp, A, Q, R, Qbar, Rbar, formula=ctx.formula),)

    def jvp(ctx, dA):
        Q, R, A = ctx.saved
        return ctx.b.each_matrix(qr_wide_jvp, A, Q, R, dA)


# -- md.qr: a node, or the graph of Figure 2 ------------------------------------------------------------
def figure2(A, formula="eq3"):
    """Figure 2, built from nodes: ``A = [X|Y]``, ``X = Q U``, ``V = Q^H Y``, ``R = [U|V]``; the engine's
    accumulation gives ``Qbar' = Qbar + Y Vbar^H``. Returns (Q, R)."""
    k = A.shape[-2]
    X, Y = split_op(A, indices=[k], axis=-1)
    Q, U = qr_op.apply(X, formula=formula)
    if Q.node is not None:                                       # the rank check reports the user's matrix
        Q.node.ctx.shape, Q.node.ctx.hint = tuple(A.shape), HINT["QR"].format(k=k)
    Qh = adjoint_op(Q)
    V = matmul_op(Qh, Y)
    R = concat_op(U, V, axis=-1)
    name_outputs((X, Y, U, V, Qh), ("X", "Y", "U", "V", "Qᴴ"))
    return Q, R


def qr(A: Tensor, mode: str = "reduced", pivoting: bool = False, fused: bool = False,
       formula: str = "eq3") -> QRResult | QRPivotedResult:
    """Differentiable reduced QR of ``A`` (..., m, n), any m and n: ``Q`` (..., m, k), ``R`` (..., k, n), k = min(m, n).

    Returns ``QRResult(Q, R)``, or ``QRPivotedResult(Q, R, perm)`` with ``pivoting=True`` (named tuples).

    * ``m >= n``: one ``qr`` node (Eq 3; complex Eq 21).
    * ``m < n``: the graph of Figure 2 -- ``split`` (A = [X|Y]) -> ``qr`` (X = Q U) -> ``adjoint`` (Q^H) ->
      ``matmul`` (V = Q^H Y) -> ``concat`` (R = [U|V]) -- or one ``qr_wide`` node if ``fused`` (Eq 9-10 / 26), and
      whenever nothing is recorded (no_grad, A without requires_grad): the same partition, without five nodes.
    * ``pivoting=True``: ``perm`` from LAPACK geqp3 (on the host; a GPU array is copied there once), then
      ``B = permute(A, perm)`` and QR of B: ``A[..., :, perm] == Q @ R``.
    * ``formula``: "eq3" (default), "eq8" (Walter-Lehmann + Section 4.4 correction) or "eq8-uncorrected".
    * ``mode="complete"``: same as reduced for m <= n; for m > n only without grad (not differentiable).
    ``R`` always has a real, non-negative diagonal. An empty matrix (m or n = 0) is an error; an empty batch is not.
    """
    A = validate(A, "qr", mode, pivoting, fused, formula, FORMULAS)
    if pivoting:
        A, perm = pivot(A, rows=False, name="AP")
    m, n = A._data.shape[-2:]
    if mode == "complete" and complete_differs(A, "qr", m > n):
        Q, R = (tensor(x) for x in gauge(A._b, *A._b.qr_complete(A._data)))     # no grad: LAPACK's, gauged
    elif m >= n:
        Q, R = qr_op.apply(A, formula=formula)
    elif fused or not recorded(A):             # nothing recorded: the graph's nodes would show nothing
        Q, R = qr_wide_op.apply(A, formula=formula)
    else:
        Q, R = figure2(A, formula)
    name_outputs((Q, R), ("Q", "R"))
    return QRPivotedResult(Q, R, perm) if pivoting else QRResult(Q, R)
