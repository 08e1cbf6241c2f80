"""What ``matdiff.torch`` and ``matdiff.jax`` share: the input checks and the rank verdict, on contract primitives --
and the rank rule itself (tolerance, worst matrix, message, hint), which matdiff's own QR/LQ nodes use too
(ops/factorization.py), so the three decide rank by one definition.

Both bridges refuse bad input with matdiff's own errors, at the call, before any library traceback; both decide
rank the way matdiff's nodes do (``|diag T|`` smallest over largest against ``10 max(k, m, n) eps``, the tolerance of
``numpy.linalg.matrix_rank`` times ten). Where the values are concrete the verdict runs on the host and raises;
under a trace (vmap, jit, compile) the bridge applies :func:`poison` instead -- see docs/bridges.md.
"""
import numpy as np

from ..errors import (
    DTypeError,
    IllConditionedWarning,
    MatdiffError,
    NonFiniteError,
    RankDeficientError,
    ShapeError,
    warn,
)

POLICIES = ("raise", "warn", "off")
HINT = {"QR": " For a wide matrix the leading {k}x{k} block must be non-singular: call {lib}.qr(A, pivoting=True) "
              "to move independent columns to the front.",
        "LQ": " For a deep matrix the top {k}x{k} block must be non-singular: call {lib}.lq(A, pivoting=True) to "
              "move independent rows to the top."}


def check_options(name, mode, pivoting, check_rank):
    """The keyword arguments of ``qr``/``lq``: clear errors for a typo."""
    if mode not in ("reduced", "complete"):
        raise MatdiffError(f"{name}: unknown mode {mode!r}; use mode='reduced' (or 'complete')")
    if not isinstance(pivoting, bool):
        raise MatdiffError(f"{name}: pivoting must be True or False, got {pivoting!r}")
    if check_rank not in POLICIES:
        raise MatdiffError(f"{name}: check_rank must be one of {POLICIES}, got {check_rank!r}")


def check_input(b, A, name, lib, concrete):
    """Shape, dtype and (where the values are concrete) finiteness of the input ``A`` of ``lib.name``."""
    shape = tuple(A.shape)
    if len(shape) < 2:
        raise ShapeError(f"{lib}.{name} needs a matrix (or a stack of them) with at least 2 axes, got shape {shape}; "
                         "make a vector a column with x[:, None] (or a row with x[None, :])")
    if not shape[-2] or not shape[-1]:
        raise ShapeError(f"{lib}.{name} of an empty {shape[-2]}x{shape[-1]} matrix: matdiff requires m, n >= 1 (an "
                         "empty factorisation has nothing to differentiate); an empty batch (0, m, n) is fine")
    if not b.is_float(A.dtype):
        raise DTypeError(f"{lib}.{name} needs float32/64 or complex64/128 input, got {str(A.dtype)}; convert it "
                         "first (e.g. A.double() in torch, A.astype(jnp.float64) in JAX)")
    if concrete and not b.isfinite_all(A):
        raise NonFiniteError(f"{lib}.{name}: the input contains NaN or inf; a decomposition of it (and its gradient) "
                             "would be meaningless -- clean the data first")


def rank_tolerance(k, shape, eps):
    """``10 max(k, m, n) eps`` -- ``numpy.linalg.matrix_rank``'s tolerance times ten -- for the ratio smallest/largest
    ``|diag T|`` of a triangular factor with k diagonal entries of an input of ``shape`` (..., m, n)."""
    return 10 * max(k, *shape[-2:]) * eps


def tolerance(b, T, shape):
    """The rank tolerance of a triangular factor ``T`` of an input of ``shape`` (:func:`rank_tolerance`), and eps."""
    eps = b.eps(T.dtype)
    return rank_tolerance(T.shape[-1], shape, eps), eps


def worst_ratio(d):
    """``(r, dmin, dmax, worst)`` for host diagonals ``d`` (batch..., k): the smallest ratio min|d| / max|d| over the
    batch (0 for an all-zero diagonal, -1 for one with a NaN: both singular), that matrix's extremes, its index."""
    d = np.abs(np.asarray(d))
    dmax, dmin = d.max(axis=-1), d.min(axis=-1)
    ratio = np.where(dmax > 0, dmin / np.where(dmax > 0, dmax, 1.0), 0.0)
    ratio = np.where(np.isnan(dmin) | np.isnan(dmax), -1.0, ratio)
    worst = np.unravel_index(np.argmin(ratio), ratio.shape)
    return float(ratio[worst]), float(dmin[worst]), float(dmax[worst]), worst


def singular_message(kind, mode, shape, worst, dmin, dmax):
    """The first sentence of every rank refusal: which factor, which matrix of a batch, its diagonal's extremes."""
    where = f" (matrix {tuple(int(i) for i in worst)} of the batch)" if worst else ""
    return (f"{kind} {mode}: the triangular factor of the {'x'.join(map(str, shape[-2:]))} input{where} is singular "
            f"to working precision: smallest |diagonal| = {dmin:.3g}, largest = {dmax:.3g}. The gradient of a "
            "rank-deficient decomposition is undefined.")


def ill_conditioned(kind, mode, r):
    """The warning for a factor that passes the rank test but is worse conditioned than sqrt(eps)."""
    warn(f"{kind} {mode}: the triangular factor is ill-conditioned (estimated condition number {1 / r:.3g} from "
         "its diagonal); the derivatives are amplified accordingly", IllConditionedWarning)


def verdict(d, shape, kind, hint, mode, policy, tol, eps):
    """The rank check on host values ``d = |diag T|`` (batch..., k): raise (or warn), else warn if ill-conditioned."""
    if policy == "off" or np.size(d) == 0:
        return
    r, lo, hi, worst = worst_ratio(d)
    if r <= tol:
        msg = singular_message(kind, mode, shape, worst, lo, hi) + f"{hint} (check_rank='off' skips this check.)"
        if policy == "raise":
            raise RankDeficientError(msg)
        warn(msg + " The gradient returned is NaN for that matrix.", IllConditionedWarning)
    elif r < eps ** 0.5:
        ill_conditioned(kind, mode, r)
