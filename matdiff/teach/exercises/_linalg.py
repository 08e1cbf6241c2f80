"""NumPy pieces every exercise shares: the gauged forwards, seeded test matrices, the real inner product of
Eq 2 / Eq 19, relative errors and the central differences that give the *true* derivative to grade against.

Nothing here calls the learner's code; :mod:`matdiff.teach.exercises.grader` does that.
"""
import numpy as np

from ...backend import get

EPS = 1e-6          # the central-difference step (float64)
B = get("numpy")    # the backend the reference rules run on


def mH(X):
    """The adjoint (conjugate transpose) of the last two axes."""
    return np.conj(np.swapaxes(X, -1, -2))


def gauge(Q, R):
    """``Q <- Q D``, ``R <- D^H R`` with ``D`` the phases of diag(R): R gets a real, non-negative diagonal."""
    d = np.diagonal(R, axis1=-2, axis2=-1)
    D = np.where(d == 0, 1, d / np.where(d == 0, 1, np.abs(d)))
    return Q * D[..., None, :], R * np.conj(D)[..., :, None]


def qr(A):
    """Reduced QR with diag(R) real and >= 0 (the forward of every QR exercise): ``A = Q R``."""
    return gauge(*np.linalg.qr(A))


def lq(A):
    """Reduced LQ with diag(L) real and >= 0: ``A = L Q`` from the QR of ``A^H``."""
    Q, R = qr(mH(A))
    return mH(R), mH(Q)


def inner(X, Y):
    """``<X, Y> = Re Tr(X^H Y) = Re sum(conj(X) * Y)``: the pairing of Eq 2 (and Eq 19, halved)."""
    return float(np.real(np.vdot(np.asarray(X).ravel(), np.asarray(Y).ravel())))


def relerr(yours, true):
    """``max |yours - true| / max |true|`` (an absolute floor of 1e-12 for an all-zero ``true``)."""
    return float(np.max(np.abs(yours - true), initial=0.0) / max(np.max(np.abs(true), initial=0.0), 1e-12))


def matrix(rng, shape, cplx):
    """A seeded, well-conditioned test matrix (``shape`` may lead with batch axes)."""
    A = rng.standard_normal(shape)
    if cplx:
        A = A + 1j * rng.standard_normal(shape)
    k = min(shape[-2:])
    A[..., :k, :k] += 2 * np.eye(k)        # the leading k x k block stays far from singular (wide/deep exercises)
    return A


def jacobian(forward, primals, eps=EPS):
    """Central differences of ``forward`` for every real coordinate of every primal, in one batched call each.

    Returns, per primal, the list of output columns ``dOut`` with a leading axis over coordinates (the real parts
    first, then the imaginary parts of a complex primal).
    """
    cols = []
    for i, p in enumerate(primals):
        eye = np.eye(p.size).reshape((p.size,) + p.shape)
        D = np.concatenate([eye, 1j * eye]) if np.iscomplexobj(p) else eye
        args = lambda s: [p[None] + s * eps * D if j == i else q[None] for j, q in enumerate(primals)]  # noqa: E731
        plus, minus = _tuple(forward(*args(1))), _tuple(forward(*args(-1)))
        cols.append([(a - b) / (2 * eps) for a, b in zip(plus, minus)])
    return cols


def numeric_grads(primals, cols, cots):
    """The true adjoints of the primals for the cotangents ``cots``, from :func:`jacobian`'s columns (PyTorch's
    convention for complex input: ``dL/dRe + i dL/dIm`` of ``L = sum_i <cot_i, out_i>``)."""
    grads = []
    for p, col in zip(primals, cols):
        g = 0
        for c, J in zip(cots, col):
            g = g + np.real(np.sum(np.conj(c)[None] * J, axis=tuple(range(1, J.ndim))))
        if np.iscomplexobj(p):
            g = g[:p.size] + 1j * g[p.size:]
        grads.append(np.reshape(g, p.shape))
    return grads


def directional(forward, primals, tangents, eps=EPS):
    """``(f(x + eps t) - f(x - eps t)) / 2 eps``: the variations of the outputs along the tangents (Step 1)."""
    plus = _tuple(forward(*[p + eps * t for p, t in zip(primals, tangents)]))
    minus = _tuple(forward(*[p - eps * t for p, t in zip(primals, tangents)]))
    return [(a - b) / (2 * eps) for a, b in zip(plus, minus)]


def _tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)
