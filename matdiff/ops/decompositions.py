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
from collections import namedtuple

from ..errors import DTypeError, MatdiffError, NonFiniteError, ShapeError
from ..registry import REGISTRY, register
from ..tape import grad_enabled
from ..tensor import Tensor, tensor
from .qr_rules import _check_rank, _gauge, _lq_forward, lq_backward, lq_variations, qr_backward, qr_variations

QRResult = namedtuple("QRResult", "Q R")
QRPivotedResult = namedtuple("QRPivotedResult", "Q R perm")
LQResult = namedtuple("LQResult", "L Q")
LQPivotedResult = namedtuple("LQPivotedResult", "L Q perm")

FORMULAS = {
    "eq3": "Eq 3 / Eq 21: Abar = [Qbar + Q hcopyltu(M)] R^{-H}, M = R Rbar^H - Qbar^H Q",
    "eq8": "Eq 8 (Walter & Lehmann) with the complex correction C = i Im(diag M) of Section 4.4",
    "eq8-uncorrected": "Eq 8 with ^T read as ^H and no correction -- wrong for complex input (Section 4.4)",
}


# -- the nodes -------------------------------------------------------------------------------------
@register("qr", ref="Eq 3 / Eq 21: Abar = [Qbar + Q copyltu(M)] R^{-H}, M = R Rbar^H - Qbar^H Q (m >= n)")
class qr_node:
    def forward(ctx, A, formula="eq3", context=None):
        Q, R = _gauge(ctx.b, *ctx.b.qr(A))
        ctx.save(Q, R)
        ctx.formula, ctx.context = formula, context or ("QR", A.shape, "")
        return Q, R

    def vjp(ctx, Qbar, Rbar):
        Q, R = ctx.saved
        _check_rank(ctx.b, R, ctx.context)
        return (qr_backward(ctx.b, Q, R, Qbar, Rbar, ctx.formula),)

    def jvp(ctx, dA):
        Q, R = ctx.saved
        _check_rank(ctx.b, R, ctx.context)
        return qr_variations(ctx.b, Q, R, dA)


_WIDE_HINT = (" For a wide matrix the leading {m}x{m} block must be non-singular: call md.qr(A, pivoting=True) to "
              "move independent columns to the front.")
_DEEP_LQ_HINT = (" For a deep matrix the top {n}x{n} block must be non-singular: call md.lq(A, pivoting=True) to "
                 "move independent rows to the top.")


@register("qr_wide", ref="Eq 9-10 / Eq 26 (fused): Xbar = [Qbar' + Q copyltu(M)] U^{-H}, Ybar = Q Vbar")
class qr_wide_node:
    def forward(ctx, A, formula="eq3"):
        b = ctx.b
        Q, R = _gauge(b, *b.qr(A))
        ctx.save(Q, R, A)
        ctx.formula = formula
        return Q, R

    def vjp(ctx, Qbar, Rbar):
        b = ctx.b
        Q, R, A = ctx.saved
        m = A.shape[-2]
        U, Y, Ubar, Vbar = R[..., :m], A[..., m:], Rbar[..., :m], Rbar[..., m:]
        _check_rank(b, U, ("QR", A.shape, _WIDE_HINT.format(m=m)))
        Qbar_prime = Qbar + Y @ b.mH(Vbar)                               # Qbar' = Qbar + Y Vbar^H
        Xbar = qr_backward(b, Q, U, Qbar_prime, Ubar, ctx.formula)      # Eq 9 / Eq 26
        Ybar = Q @ Vbar                                                  # Eq 10
        return (b.concat([Xbar, Ybar], axis=-1),)

    def jvp(ctx, dA):
        b = ctx.b
        Q, R, A = ctx.saved
        m = A.shape[-2]
        U, V = R[..., :m], R[..., m:]
        _check_rank(b, U, ("QR", A.shape, _WIDE_HINT.format(m=m)))
        dQ, dU = qr_variations(b, Q, U, dA[..., :m])                     # Lemma 2, Eq 11 and 13
        dV = b.mH(Q) @ (dA[..., m:] - dQ @ V)                            # Eq 12
        return dQ, b.concat([dU, dV], axis=-1)


@register("lq", ref="Eq 17: Abar = L^{-H} [Qbar + copyltu(M) Q], M = L^H Lbar - Qbar Q^H (m <= n)")
class lq_node:
    def forward(ctx, A, context=None):
        L, Q = _lq_forward(ctx.b, A)
        ctx.save(L, Q)
        ctx.context = context or ("LQ", A.shape, "")
        return L, Q

    def vjp(ctx, Lbar, Qbar):
        L, Q = ctx.saved
        _check_rank(ctx.b, L, ctx.context)
        return (lq_backward(ctx.b, L, Q, Lbar, Qbar),)

    def jvp(ctx, dA):
        L, Q = ctx.saved
        _check_rank(ctx.b, L, ctx.context)
        return lq_variations(ctx.b, L, Q, dA)


@register("lq_deep", ref="Prop 3 (fused): Xbar = U^{-H} [Qbar' + copyltu(M) Q], Ybar = Vbar Q, Qbar' = Qbar + Vbar^H Y")
class lq_deep_node:
    def forward(ctx, A):
        L, Q = _lq_forward(ctx.b, A)
        ctx.save(L, Q, A)
        return L, Q

    def vjp(ctx, Lbar, Qbar):
        b = ctx.b
        L, Q, A = ctx.saved
        n = A.shape[-1]
        U, Y, Ubar, Vbar = L[..., :n, :], A[..., n:, :], Lbar[..., :n, :], Lbar[..., n:, :]
        _check_rank(b, U, ("LQ", A.shape, _DEEP_LQ_HINT.format(n=n)))
        Qbar_prime = Qbar + b.mH(Vbar) @ Y                               # Qbar' = Qbar + Vbar^H Y
        Xbar = lq_backward(b, U, Q, Ubar, Qbar_prime)
        return (b.concat([Xbar, Vbar @ Q], axis=-2),)                    # Ybar = Vbar Q

    def jvp(ctx, dA):
        b = ctx.b
        L, Q, A = ctx.saved
        n = A.shape[-1]
        U, V = L[..., :n, :], L[..., n:, :]
        _check_rank(b, U, ("LQ", A.shape, _DEEP_LQ_HINT.format(n=n)))
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
    b = A.backend
    if A.ndim < 2:
        raise ShapeError(f"{name} needs a matrix (or a stack of them) with at least 2 axes, got shape {A.shape}; "
                         "make a vector a column with x[:, None] (or a row with x[None, :])")
    if 0 in A.shape[-2:]:
        raise ShapeError(f"{name} of an empty {A.shape[-2]}x{A.shape[-1]} matrix: matdiff requires m, n >= 1 "
                         "(an empty factorisation has nothing to differentiate)")
    if not b.is_float(A.dtype):
        if A.requires_grad:
            raise DTypeError(f"{name} needs float32/64 or complex64/128 input, got {b.dtype_name(A.dtype)}")
        A = tensor(b.astype(A.data, b.xp.float64))
    if mode not in ("reduced", "complete"):
        raise MatdiffError(f"{name}: unknown mode {mode!r}; use mode='reduced' (or 'complete')")
    if formula not in FORMULAS:
        raise MatdiffError(f"{name}: unknown formula {formula!r}; choose one of {', '.join(FORMULAS)}")
    if not b.isfinite_all(A.data):
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


def qr(A, mode="reduced", pivoting=False, fused=False, formula="eq3"):
    """Differentiable reduced QR of ``A`` (..., m, n), any m and n: ``Q`` (..., m, k), ``R`` (..., k, n), k = min(m, n).

    * ``m >= n``: one ``qr`` node (Eq 3; complex Eq 21).
    * ``m < n``: the graph of Figure 2 (split -> qr -> matmul -> concat), or one ``qr_wide`` node if ``fused``.
    * ``pivoting=True``: ``perm`` from LAPACK geqp3 (on the host; a GPU array is copied there once), then
      ``B = permute(A, perm)`` and QR of B: ``A[..., :, perm] == Q @ R``. Returns ``(Q, R, perm)``.
    * ``formula``: "eq3" (default), "eq8" (Walter-Lehmann + Section 4.4 correction) or "eq8-uncorrected".
    * ``mode="complete"``: same as reduced for m <= n; for m > n only without grad (not differentiable).
    ``R`` always has a real, non-negative diagonal. An empty matrix (m or n = 0) is an error.
    """
    A = _validate(A, "qr", mode, formula, pivoting, fused)
    b = A.backend
    perm = None
    if pivoting:
        perm = b.pivots(A.data)
        A = REGISTRY["permute"](A, perm=perm, axis=-1)
        A.name = A.name or "AP"
    if mode == "complete" and _complete(A, "qr", A.shape[-2] > A.shape[-1]):
        Q, R = (tensor(x) for x in _gauge(b, *b.xp.linalg.qr(A.data, mode="complete")))
        return QRPivotedResult(Q, R, perm) if pivoting else QRResult(Q, R)
    m, n = A.shape[-2:]
    if m >= n:
        Q, R = REGISTRY["qr"](A, formula=formula)
    elif fused:
        Q, R = REGISTRY["qr_wide"](A, formula=formula)
    else:                                                       # Figure 2
        X, Y = REGISTRY["split"](A, indices=[m], axis=-1)       # A = [X|Y]
        Q, U = REGISTRY["qr"](X, formula=formula, context=("QR", A.shape, _WIDE_HINT.format(m=m)))
        Qh = REGISTRY["adjoint"](Q)
        V = REGISTRY["matmul"](Qh, Y)                           # V = Q^H Y
        R = REGISTRY["concat"](U, V, axis=-1)                   # R = [U|V]
        _names((X, "X"), (Y, "Y"), (U, "U"), (V, "V"), (Qh, "Qᴴ"))
    _names((Q, "Q"), (R, "R"))
    return QRPivotedResult(Q, R, perm) if pivoting else QRResult(Q, R)


def lq(A, mode="reduced", pivoting=False, fused=False):
    """Differentiable reduced LQ of ``A`` (..., m, n): ``A = L Q``, ``L`` (..., m, k) lower, ``Q`` (..., k, n).

    * ``m <= n``: one ``lq`` node (Eq 17, complex with hcopyltu).
    * ``m > n``: the row-partition graph of Proposition 3 (split rows -> lq -> matmul -> concat rows), or one
      ``lq_deep`` node if ``fused``.
    * ``pivoting=True``: row pivots (geqp3 of ``A^H`` on the host), ``A[..., perm, :] == L @ Q``.
    ``L`` always has a real, non-negative diagonal.
    """
    A = _validate(A, "lq", mode, "eq3", pivoting, fused)
    b = A.backend
    perm = None
    if pivoting:
        perm = b.pivots(A.data, rows=True)
        A = REGISTRY["permute"](A, perm=perm, axis=-2)
        A.name = A.name or "PA"
    if mode == "complete" and _complete(A, "lq", A.shape[-2] < A.shape[-1]):
        Qr, Rr = _gauge(b, *b.xp.linalg.qr(b.mH(A.data), mode="complete"))
        L, Q = tensor(b.mH(Rr)), tensor(b.mH(Qr))
        return LQPivotedResult(L, Q, perm) if pivoting else LQResult(L, Q)
    m, n = A.shape[-2:]
    if m <= n:
        L, Q = REGISTRY["lq"](A)
    elif fused:
        L, Q = REGISTRY["lq_deep"](A)
    else:                                                       # Proposition 3: partition along rows
        X, Y = REGISTRY["split"](A, indices=[n], axis=-2)       # A = [X; Y]
        U, Q = REGISTRY["lq"](X, context=("LQ", A.shape, _DEEP_LQ_HINT.format(n=n)))
        Qh = REGISTRY["adjoint"](Q)
        V = REGISTRY["matmul"](Y, Qh)                           # V = Y Q^H
        L = REGISTRY["concat"](U, V, axis=-2)                   # L = [U; V]
        _names((X, "X"), (Y, "Y"), (U, "U"), (V, "V"), (Qh, "Qᴴ"))
    _names((L, "L"), (Q, "Q"))
    return LQPivotedResult(L, Q, perm) if pivoting else LQResult(L, Q)


def _names(*pairs):
    for t, n in pairs:
        t.name = t.name or n
