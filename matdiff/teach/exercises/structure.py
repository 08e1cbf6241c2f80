"""Localisation by structure for the QR/LQ rules: undo the triangular factor and look *inside the bracket*.

Every square/deep QR adjoint has the shape ``Ā = [Q̄ + Q S] R⁻ᴴ`` with ``S = hcopyltu(M)`` Hermitian (Eq 3 / 21),
every square/wide LQ adjoint ``Ā = L⁻ᴴ [Q̄ + S Q]`` (Eq 17). So from the learner's Ā we recover their
``S = Qᴴ(Ā Rᴴ − Q̄)`` (LQ: ``(Lᴴ Ā − Q̄) Qᴴ``) and the residual outside span(Q), and say where it differs from the
true one: the strict lower triangle, the diagonal (real and imaginary parts), the strict upper triangle.
"""
import numpy as np

from ._linalg import mH, relerr
from .grader import TOL

REGIONS = ("strict lower triangle", "diagonal (real part)", "diagonal (imaginary part)", "strict upper triangle")


def bracket(side, T, Q, Qbar, Abar):
    """``(S, outside)``: the learner's Hermitian middle and what lies outside span(Q) (zero when right)."""
    if side == "qr":
        X = Abar @ mH(T) - Qbar
        S = mH(Q) @ X
        return S, X - Q @ S
    X = mH(T) @ Abar - Qbar
    S = X @ mH(Q)
    return S, X - S @ Q


def regions(S, S_true):
    """Relative error of ``S`` in each region of :data:`REGIONS`."""
    D = S - S_true
    scale = max(np.max(np.abs(S_true), initial=0.0), 1e-12)
    d = np.diagonal(D, axis1=-2, axis2=-1)
    parts = (np.tril(D, -1), d.real, d.imag, np.triu(D, 1))
    return {r: float(np.max(np.abs(p), initial=0.0) / scale) for r, p in zip(REGIONS, parts)}


def describe(side, T, Q, Qbar, yours, true, name="hcopyltu(M)", inner=None):
    """One sentence: where in the bracket the learner's Ā is wrong (``inner`` names the recovered matrix)."""
    S, out = bracket(side, T, Q, Qbar, yours)
    S_true, out_true = bracket(side, T, Q, Qbar, true)
    wrong = [r for r, e in regions(S, S_true).items() if e > TOL]
    scale = max(np.max(np.abs(S_true), initial=0.0), np.max(np.abs(Qbar), initial=0.0), 1e-12)
    inner = inner or ("Qᴴ(Ā Rᴴ − Q̄)" if side == "qr" else "(Lᴴ Ā − Q̄) Qᴴ")
    text = []
    if np.max(np.abs(out - out_true), initial=0.0) > TOL * scale:
        text.append("part of your Ā lies outside span(Q) where the rule has only Q̄ (the deep/wide part)")
    if wrong:
        text.append(f"{inner} should be {name}; yours differs in the {', '.join(wrong)}")
    elif not text:
        text.append(f"{inner} is right: the error is in how the bracket is finished (the factor or Q̄)")
    return "; ".join(text)


def factor_wrong(side, T, yours, true):
    """Did the learner use ``T⁻¹``, ``T⁻ᵀ`` or ``conj(T)⁻¹`` where the rule has ``T⁻ᴴ``? (QR: on the right of the
    bracket, LQ: on the left.) True when undoing one of those instead gives the true bracket."""
    X_true = true @ mH(T) if side == "qr" else mH(T) @ true
    for F in (T, np.swapaxes(T, -1, -2), np.conj(T)):
        if np.allclose(F, mH(T)):
            continue
        X = yours @ F if side == "qr" else F @ yours
        if relerr(X, X_true) < TOL:
            return True
    return False


def imag_diagonal(side, T, Q, Qbar, yours, true):
    """True when the bracket's diagonal is wrong in a way only complex input shows: its imaginary part alone
    (copyltu for hcopyltu; Eq 8 without the correction of Section 4.4), or the diagonal alone (a wrong correction)."""
    S, _ = bracket(side, T, Q, Qbar, yours)
    S_true, _ = bracket(side, T, Q, Qbar, true)
    e = regions(S, S_true)
    imag_only = e["diagonal (imaginary part)"] > TOL and e["diagonal (real part)"] < TOL
    off = max(e["strict lower triangle"], e["strict upper triangle"])
    return imag_only or (off < TOL and e["diagonal (real part)"] + e["diagonal (imaginary part)"] > TOL)
