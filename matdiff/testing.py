"""Test helpers: random matrices with a chosen condition number (property tests, the conditioning sweep,
tutorials), and the small makers the test-suite shares (``rand``, ``leaf``, ``mh``, ``factors``).

``conditioned((2,), 3, 7, cond=1e6, dtype=np.complex128, seed=0)`` is a stack of two 3x7 matrices ``A = [X | Y]``
whose leading 3x3 block ``X = U diag(s) V^H`` has singular values ``s`` log-spaced from 1 down to ``1/cond``
(U, V Haar-random) and whose trailing block ``Y`` is random with spectral norm at most 0.9. So

* ``cond(X) = cond`` exactly, and ``cond(A) <= sqrt(1 + 0.81) cond`` (``A A^H = X X^H + Y Y^H``: the largest
  singular value is at most sqrt(1.81), the smallest at least X's, 1/cond).
* ``cond`` bounds A from above only: Y can fill X's small singular directions, so A may be far better
  conditioned than X (``conditioned((), 3, 7, cond=1e8)`` has cond(A) ~ 6.5, cond(X) = 1e8). The error of the
  wide-QR graph (Figure 2, which inverts X's triangular factor U) scales with cond(X) -- so ``cond`` is the
  number the property tests bound their tolerances by, and it is never smaller than cond(A) / 1.35.

A deep request (m > n) returns the conjugate transpose of the wide construction, so the *top* block is the
well-conditioned one -- the partition of Proposition 3 (deep LQ).

``svd_conditioned(batch, m, n, cond)`` is the generic kind: ``A = U diag(s) V^H`` with orthonormal random U, V and
the same log-spaced ``s``, so ``cond(A) = cond`` exactly, while the leading/top block is whatever the random
factors make it (usually a few times worse -- the case where wide QR and deep LQ need ``pivoting=True``).
"""
import numpy as np

import matdiff as md


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


BACKENDS = ["numpy", "array_api_strict"]    # the CPU backends every op test runs on


# -- the small makers the test-suite shares -------------------------------------------------------------------
def rand(shape, dtype=np.float64, seed=0, backend="numpy"):
    """A random array (standard normal entries; complex: independent real/imag parts) of backend ``backend``."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        a = a + 1j * rng.standard_normal(shape)
    return md.backend.get(backend).from_host(a.astype(dtype))


def leaf(shape, dtype=np.float64, seed=0, backend="numpy", name=None):
    """``rand(...)`` as a leaf Tensor that requires grad."""
    return md.tensor(rand(shape, dtype, seed, backend), requires_grad=True, name=name)


def mh(a):
    """Conjugate transpose of the last two axes of a NumPy array."""
    return np.conj(np.swapaxes(a, -1, -2))


def factors(kind, fused=False, pivoting=False, formula="eq3"):
    """``A -> (Q, R)`` or ``(L, Q)`` through md.qr / md.lq in the chosen form (the permutation left out)."""
    def f(A):
        if kind == "qr":
            return tuple(md.qr(A, fused=fused, pivoting=pivoting, formula=formula)[:2])
        return tuple(md.lq(A, fused=fused, pivoting=pivoting)[:2])
    return f
