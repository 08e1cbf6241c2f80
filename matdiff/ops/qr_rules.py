"""The formulas behind the QR and LQ nodes, on raw backend arrays (Roberts & Roberts).

``qr_backward`` is Eq 3 / Eq 21 (or Eq 8 with the Section 4.4 correction), ``qr_variations`` Lemma 1,
``lq_backward`` Eq 17, ``lq_variations`` Lemma 1 transposed. ``_gauge`` gives every factorisation a real,
non-negative diagonal; ``_check_rank`` refuses a singular triangular factor before any formula divides by it.
"""
import numpy as np

from ..engine.tape import check_later
from ..errors import IllConditionedWarning, RankDeficientError, warn
from . import paper


def _gauge(b, Q, R):
    """Rotate phases so that diag(R) is real and >= 0: ``Q <- Q D``, ``R <- D^H R`` (D diagonal, |d_kk| = 1)."""
    D = b.phase(b.diagonal(R))
    extra = Q.shape[-1] - D.shape[-1]          # mode="complete": columns beyond k keep their phase
    if extra:
        D = b.concat([D, b.ones(D.shape[:-1] + (extra,), D.dtype)], axis=-1)
    return Q * D[..., None, :], R * b.conj(D)[..., :, None]


def _check_rank(ctx, T, mode="backward"):
    """Raise RankDeficientError if triangular ``T`` is singular to working precision; warn if ill-conditioned.

    ``ctx`` is the node's context: ``ctx.kind`` ("QR"/"LQ"), ``ctx.shape`` (the shape the user decomposed) and
    ``ctx.hint`` (what to do, e.g. ``pivoting=True`` for the partition block of a wide QR) -- set by the node's
    forward and refined by the graph that uses it. ``mode`` names the sweep ("backward" or "forward mode").
    """
    b, T = ctx.b.arrays, ctx.b.values(T)     # numbers only: the check is never differentiated (create_graph too)
    eps, d = b.eps(T.dtype), b.diagonal(T)
    # k numbers per matrix: on a GPU (defers_checks) |d| reaches the host with every other check of the sweep, in one
    # copy of real numbers at its end; on the CPU _verdict takes |d| itself (Python's abs on k numbers is cheaper)
    check_later(b, b.abs(d) if b.defers_checks else d, lambda d: _verdict(ctx, d, eps, mode))


def _verdict(ctx, d, eps, mode):
    """The rank check on the host values ``d = diag(T)`` or ``|diag(T)|`` (per matrix): raise, warn, or pass."""
    if d.size == 0:                          # a zero-size batch: nothing to check
        return
    shape, k = ctx.shape, d.shape[-1]
    if d.ndim == 1:                          # one matrix: plain floats (NumPy's reductions cost more for k numbers)
        v = list(map(abs, d.tolist()))
        worst, dmin, dmax = (), min(v), max(v)
        r = dmin / dmax if dmax > 0 else 0.0
        if sum(v) != sum(v):                 # a NaN, which min and max may step over
            r = dmin = float("nan")
    else:
        d = np.abs(d)
        dmax, dmin = d.max(axis=-1), d.min(axis=-1)
        ratio = dmin / np.where(dmax > 0, dmax, 1.0) * (dmax > 0)      # 0 for an all-zero diagonal
        worst = np.unravel_index(np.argmin(ratio), ratio.shape)
        r, dmin, dmax = float(ratio[worst]), float(dmin[worst]), float(dmax[worst])
    if not r == r or r <= 10 * max(k, *shape[-2:]) * eps:      # NaN, or numpy's matrix_rank tolerance x10
        where = f" (matrix {tuple(int(i) for i in worst)} of the batch)" if worst else ""
        raise RankDeficientError(
            f"{ctx.kind} {mode}: the triangular factor of the {'x'.join(map(str, shape[-2:]))} input{where} is "
            f"singular to working precision: smallest |diagonal| = {dmin:.3g}, largest = "
            f"{dmax:.3g}. The gradient of a rank-deficient decomposition is undefined." + ctx.hint
            + _in_float64(ctx, k, eps))
    if r < eps ** 0.5:
        warn(f"{ctx.kind} {mode}: the triangular factor is ill-conditioned (estimated condition number {1 / r:.3g} "
             "from its diagonal); the derivatives are amplified accordingly", IllConditionedWarning)


def _in_float64(ctx, k, eps):
    """For float32/complex64 input, whether the rank test would pass in float64: the test is relative to the dtype's
    eps, so a matrix singular to float32's precision may be well inside float64's. Decided (on this error path only)
    by the same test on the diagonal of a float64 QR of the node's input block; "" when it is no help or unknown."""
    A = getattr(ctx, "source", None)
    if eps < 1e-10 or A is None:
        return ""
    b = ctx.b.arrays                         # the array backend (under create_graph=True too)
    a = np.asarray(b.to_host(A))
    a = a[..., :, :k] if ctx.kind == "QR" else np.conj(np.swapaxes(a[..., :k, :], -1, -2))
    wide = np.complex128 if np.iscomplexobj(a) else np.float64
    d = np.abs(np.diagonal(np.linalg.qr(a.astype(wide), mode="r"), axis1=-2, axis2=-1))
    tol64 = 10 * max(k, *ctx.shape[-2:]) * np.finfo(np.float64).eps
    ratio = (d.min(axis=-1) / np.maximum(d.max(axis=-1), np.finfo(np.float64).tiny)).min() if d.size else 0.0
    if not ratio > tol64:
        return ""
    new = wide.__name__
    return (f" The test is relative to {b.dtype_name(A.dtype)}'s eps ({eps:.2g}); in {new} these values pass it "
            f"(smallest/largest |diagonal| {ratio:.2g} > {tol64:.2g}): make the input {new}, md.tensor(a, dtype=np."
            f"{new}, requires_grad=True) -- from the original data if it was {new} before (its own rank is then "
            "what is checked).")


def _E_T(b, k, dtype):
    return b.mT(paper.E(k, b, b.real_dtype(dtype)))


def _lower_M(b, first, second):
    """``first - second`` where either may be None (an unused output's adjoint is zero: its term is skipped)."""
    if second is None:
        return first
    if first is None:
        return -second
    first -= second
    return first


def qr_backward(b, Q, R, Qbar, Rbar, formula="eq3"):
    """Square/deep QR backward. ``eq3``: Eq 3 / Eq 21; ``eq8``: Eq 8 (+ Section 4.4's correction for complex).

    ``Qbar`` or ``Rbar`` may be None (that output was not used): its terms cost nothing."""
    if formula == "eq3":
        # M = R Rbar^H - Qbar^H Q; hcopyltu reads only its lower triangle, so only that is formed
        M = _lower_M(b, None if Rbar is None else b.tril_matmul(R, b.mH(Rbar), upper_a=True),
                     None if Qbar is None else b.tril_matmul(b.mH(Qbar), Q))
        X = Q @ b.hcopyltu(M)
        if Qbar is not None:
            X += Qbar                                                # Qbar + Q hcopyltu(M)
        return b.solve_triangular(R, X, lower=False, side="right", adjoint=True, overwrite=True)   # ... R^{-H}
    Qbar, Rbar = _zeros_for_none(b, Q, R, Qbar, Rbar)
    M = R @ b.mH(Rbar) - b.mH(Qbar) @ Q
    # Eq 8: Q (Rbar + P_L ∘ (R Rbar^H - Rbar R^H + Q^H Qbar - Qbar^H Q) R^{-H}) + (Qbar - Q Q^H Qbar) R^{-H}
    k = R.shape[-1]
    inner = paper.P_L(k, b, b.real_dtype(R.dtype)) * (M - b.mH(M))
    if formula == "eq8" and b.is_complex(M.dtype):
        inner = inner + b.diag_embed(b.imag(b.diagonal(M)) * 1j)      # C = i Im(diag(M)), Section 4.4
    QhQbar = b.mH(Q) @ Qbar
    return Q @ Rbar + b.solve_triangular(R, Q @ inner + Qbar - Q @ QhQbar, lower=False, side="right", adjoint=True)


def _zeros_for_none(b, Q, R, Qbar, Rbar):
    """Eq 8 is kept literal for teaching: an unused output gets an explicit zero adjoint."""
    lead = (Qbar if Qbar is not None else Rbar).shape[:-2]
    return (Qbar if Qbar is not None else b.zeros(lead + Q.shape[-2:], Q.dtype),
            Rbar if Rbar is not None else b.zeros(lead + R.shape[-2:], R.dtype))


def qr_variations(b, Q, R, dA):
    """Lemma 1 (Eq 27 / Eq 36): ``C = Q^H dA R^{-1}``, ``dR = (symh(C) ∘ E^T) R``, ``dQ = (dA - Q dR) R^{-1}``."""
    C = b.solve_triangular(R, b.mH(Q) @ dA, lower=False, side="right")
    dR = (paper.symh(C, b) * _E_T(b, R.shape[-1], R.dtype)) @ R
    dQ = b.solve_triangular(R, dA - Q @ dR, lower=False, side="right")
    return dQ, dR


def lq_backward(b, L, Q, Lbar, Qbar):
    """Eq 17 (complex: hcopyltu): ``Abar = L^{-H} [Qbar + hcopyltu(M) Q]``, ``M = L^H Lbar - Qbar Q^H``.

    ``Lbar`` or ``Qbar`` may be None (that output was not used): its terms cost nothing."""
    M = _lower_M(b, None if Lbar is None else b.tril_matmul(b.mH(L), Lbar, upper_a=True),   # only the lower
                 None if Qbar is None else b.tril_matmul(Qbar, b.mH(Q)))                     # triangle is read
    X = b.hcopyltu(M) @ Q
    if Qbar is not None:
        X += Qbar
    return b.solve_triangular(L, X, lower=True, side="left", adjoint=True, overwrite=True)


def lq_variations(b, L, Q, dA):
    """Transposed Lemma 1: ``C = L^{-1} dA Q^H``, ``dL = L (symh(C) ∘ E)``, ``dQ = L^{-1} (dA - dL Q)``."""
    C = b.solve_triangular(L, dA @ b.mH(Q), lower=True)
    dL = L @ (paper.symh(C, b) * paper.E(L.shape[-2], b, b.real_dtype(L.dtype)))
    dQ = b.solve_triangular(L, dA - dL @ Q, lower=True)
    return dL, dQ


def _lq_forward(b, A):
    Qr, Rr = _gauge(b, *b.qr(b.mH(A)))      # A^H = Qr Rr  =>  A = Rr^H Qr^H = L Q
    return b.mH(Rr), b.mH(Qr)
