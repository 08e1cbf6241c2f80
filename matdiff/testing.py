"""Random test matrices with a chosen condition number -- for property tests, the conditioning sweep, tutorials.

``conditioned((2,), 3, 7, cond=1e6, dtype=np.complex128, seed=0)`` is a stack of two 3x7 matrices ``A = [X | Y]``
whose leading 3x3 block ``X = U diag(s) V^H`` has singular values ``s`` log-spaced from 1 down to ``1/cond``
(U, V Haar-random) and whose trailing block ``Y`` is random with spectral norm at most 0.9. So

* ``cond(X) = cond`` exactly, and ``cond(A) <= sqrt(1 + 0.81) cond`` (``A A^H = X X^H + Y Y^H``);
* the partition of Figure 2 (wide QR) is as well conditioned as ``A`` itself, never worse.

A deep request (m > n) returns the conjugate transpose of the wide construction, so the *top* block is the
well-conditioned one -- the partition of Proposition 3 (deep LQ).

``svd_conditioned(batch, m, n, cond)`` is the generic kind: ``A = U diag(s) V^H`` with orthonormal random U, V and
the same log-spaced ``s``, so ``cond(A) = cond`` exactly, while the leading/top block is whatever the random
factors make it (usually a few times worse -- the case where wide QR and deep LQ need ``pivoting=True``).
"""
import numpy as np


def haar(rng, k, complex_, batch=()):
    """Haar-random k x k orthogonal (unitary) matrices: Q of a Gaussian matrix, with R's diagonal phases removed."""
    Z = rng.standard_normal(batch + (k, k))
    if complex_:
        Z = Z + 1j * rng.standard_normal(batch + (k, k))
    Q, R = np.linalg.qr(Z)
    d = np.diagonal(R, axis1=-2, axis2=-1)
    return Q * (d / np.abs(d))[..., None, :]


def conditioned(batch, m, n, cond=1.0, dtype=np.float64, seed=0):
    """A (batch..., m, n) NumPy array whose leading (wide) / top (deep) k x k block has condition number ``cond``."""
    batch = tuple(batch)
    if m > n:
        return np.conj(np.swapaxes(conditioned(batch, n, m, cond, dtype, seed), -1, -2))
    rng = np.random.default_rng(seed)
    cplx = np.dtype(dtype).kind == "c"
    s = np.logspace(0, -np.log10(cond), m)
    X = (haar(rng, m, cplx, batch) * s) @ haar(rng, m, cplx, batch)
    Y = rng.standard_normal(batch + (m, n - m))
    if cplx:
        Y = Y + 1j * rng.standard_normal(batch + (m, n - m))
    if n > m:
        Y = 0.9 * Y / np.linalg.norm(Y, 2, axis=(-2, -1))[..., None, None]
    return np.concatenate([X, Y], axis=-1).astype(dtype)


def svd_conditioned(batch, m, n, cond=1.0, dtype=np.float64, seed=0):
    """A (batch..., m, n) NumPy array ``U diag(s) V^H`` with ``cond(A) = cond`` exactly (s log-spaced, 1 .. 1/cond)."""
    batch = tuple(batch)
    rng = np.random.default_rng(seed)
    cplx = np.dtype(dtype).kind == "c"
    k = min(m, n)
    s = np.logspace(0, -np.log10(cond), k)
    U = haar(rng, m, cplx, batch)[..., :, :k]
    V = haar(rng, n, cplx, batch)[..., :, :k]
    return ((U * s) @ np.conj(np.swapaxes(V, -1, -2))).astype(dtype)
