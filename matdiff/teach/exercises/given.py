"""What the exercises give the learner: the forwards (gauged so that diag(R), diag(L) are real and >= 0, as the
paper assumes in Section 4.3) and, where an exercise builds on an earlier one, that earlier rule.

``start`` copies these functions' source into each template, so a learner's file runs without matdiff's
internals; the grader uses the same functions, so what the learner is given is what is graded.
"""
import numpy as np

from ...ops.paper import P_L


def mH(X):
    """The adjoint ``X^H`` (conjugate transpose of the last two axes; works on a batch)."""
    return np.conj(np.swapaxes(X, -1, -2))


def qr(A):
    """Reduced QR ``A = Q R`` with R's diagonal real and >= 0 (any batch of square/deep matrices)."""
    Q, R = np.linalg.qr(A)
    d = np.diagonal(R, axis1=-2, axis2=-1)
    D = d / np.abs(d)                         # the phases of diag(R) (the test matrices have no zero there)
    return Q * D[..., None, :], R * np.conj(D)[..., :, None]


def lq(A):
    """Reduced LQ ``A = L Q`` (L lower triangular, diagonal real and >= 0) from the QR of ``A^H``."""
    Q, R = qr(mH(A))
    return mH(R), mH(Q)


def solve_right(X, T):
    """``X T^{-1}`` for square ``T`` without forming the inverse (works on a batch)."""
    return mH(np.linalg.solve(mH(T), mH(X)))


def qr_vjp(Q, R, Qbar, Rbar):
    """Eq 3 / Eq 21 (the ``qr`` exercise's answer): ``Abar = [Qbar + Q hcopyltu(M)] R^{-H}``."""
    M = R @ mH(Rbar) - mH(Qbar) @ Q
    low = np.tril(M, -1)
    S = low + mH(low) + np.real(np.diagonal(M, axis1=-2, axis2=-1))[..., None] * np.eye(M.shape[-1])
    return solve_right(Qbar + Q @ S, mH(R))


def eq8_uncorrected(Q, R, Qbar, Rbar):
    """Eq 8 with every ^T read as ^H and *no* correction: right for real input, wrong for complex (Section 4.4)."""
    M = R @ mH(Rbar) - mH(Qbar) @ Q
    inner = P_L(M.shape[-1]) * (M - mH(M))
    return Q @ Rbar + solve_right(Q @ inner + Qbar - Q @ (mH(Q) @ Qbar), mH(R))


def lq_vjp(L, Q, Lbar, Qbar):
    """Eq 17 (the ``lq`` exercise's answer): ``Abar = L^{-H} [Qbar + hcopyltu(M) Q]``, ``M = L^H Lbar - Qbar Q^H``."""
    M = mH(L) @ Lbar - Qbar @ mH(Q)
    low = np.tril(M, -1)
    S = low + mH(low) + np.real(np.diagonal(M, axis1=-2, axis2=-1))[..., None] * np.eye(M.shape[-1])
    return np.linalg.solve(mH(L), Qbar + S @ Q)
