"""matdiff's QR and LQ inside JAX: ``matdiff.jax.qr`` and ``matdiff.jax.lq`` on JAX arrays.

    import matdiff.jax as mj
    Q, R = mj.qr(A)                        # any shape, float32/64, complex64/128, batched; jit/vmap/grad/jvp
    Q, R, perm = mj.qr(A, pivoting=True)   # A[..., :, perm] == Q @ R (perm: geqp3 on the host, a pure_callback)
    L, Q = mj.lq(A)

The square/deep QR (square/wide LQ) is a ``jax.custom_jvp`` whose rule is **matdiff's own forward rule** --
Lemma 1 (``qr_jvp``), Lemma 1 transposed (``lq_jvp``) -- run on ``jax.numpy`` through
:class:`matdiff.backend.jax_backend.JaxBackend`. JAX transposes that linear rule for reverse mode and differentiates
it for any order, so ``grad``, ``vjp``, ``jvp``, ``jacfwd``, ``jacrev``, ``hessian``, ``jit`` and ``vmap`` all work.
A wide QR is Figure 2 in jnp ops (``A = [X|Y]``, ``V = Q^H Y``, ``R = [U|V]``), a deep LQ Proposition 3's rows.
Pivots come from LAPACK geqp3 (matdiff's NumPy backend ``pivots``) through ``jax.pure_callback``, so pivoting works
under ``jit`` and ``vmap`` too; the permutation is not differentiated (``stop_gradient``), the gather is.

Complex: JAX's gradient of a real loss is the *conjugate* of PyTorch's / matdiff's (``dL/dRe - i dL/dIm``).
Nothing here needs to translate it -- a custom_jvp rule is convention-free -- but compare with matdiff's
``A.grad`` as ``conj(jax.grad(loss)(A))`` (``md.gradcheck`` on a JAX function does so). Rank: see ``qr``.
"""
import functools
from collections import namedtuple

import jax
import jax.numpy as jnp
import numpy as np

from .backend import get as _get_backend
from .backend.bridge import HINT, check_input, check_options, tolerance, verdict
from .backend.jax_backend import jax_backend
from .errors import MatdiffError
from .ops.factorization import gauge, gauged_qr
from .ops.lq import lq_forward, lq_jvp
from .ops.qr import qr_jvp

__all__ = ["qr", "lq", "QRResult", "QRPivotedResult", "LQResult", "LQPivotedResult"]

QRResult = namedtuple("QRResult", "Q R")
QRPivotedResult = namedtuple("QRPivotedResult", "Q R perm")
LQResult = namedtuple("LQResult", "L Q")
LQPivotedResult = namedtuple("LQPivotedResult", "L Q perm")
_Info = namedtuple("_Info", "kind shape hint check_rank")      # hashable: a nondiff argument of the custom_jvp


def _concrete(x):
    return not isinstance(x, jax.core.Tracer)


def _real_diagonal(b, T):
    """``T`` with the roundoff imaginary part of its diagonal (the gauge's ``r conj(r/|r|)``) removed, exactly."""
    return b.add_diagonal(T, -1j * b.imag(b.diagonal(T))) if b.is_complex(T.dtype) else T


def _factor(kind, A):
    b = jax_backend()
    if kind == "QR":
        Q, R = gauged_qr(b, A)
        return Q, _real_diagonal(b, R)
    L, Q = lq_forward(b, A)
    return _real_diagonal(b, L), Q


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _node(info, A):
    """Square/deep QR or square/wide LQ: LAPACK + the gauge; its derivative is :func:`_node_jvp`."""
    return _factor(info.kind, A)


@_node.defjvp
def _node_jvp(info, primals, tangents):
    """Lemma 1 (QR: ``dQ, dR = qr_jvp``) or its transpose (LQ: ``dL, dQ = lq_jvp``), after the rank check."""
    (A,), (dA,) = primals, tangents
    F, G = _node(info, A)
    b = jax_backend()
    T = G if info.kind == "QR" else F
    d_F, d_G = (qr_jvp if info.kind == "QR" else lq_jvp)(b, F, G, dA)
    bad = _rank_mask(b, T, info)
    if bad is not None:
        d_F, d_G = (jnp.where(bad[..., None, None], jnp.nan, t) for t in (d_F, d_G))
    return (F, G), (d_F, d_G)


def _rank_mask(b, T, info):
    """None if ``T`` passes (or check_rank='off'); concrete values: the host verdict raises (or warns); traced
    (jit, vmap): a boolean mask of the matrices whose derivatives become NaN."""
    if info.check_rank == "off":
        return None
    d = jnp.abs(b.diagonal(T))
    tol, eps = tolerance(b, T, info.shape)
    if _concrete(d):
        verdict(np.asarray(d), info.shape, info.kind, info.hint, "derivative", info.check_rank, tol, eps)
        if info.check_rank == "raise":
            return None
    return ~(d.min(axis=-1) > tol * d.max(axis=-1))


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _finite_checked(name, A):
    """``A`` itself; its derivative checks A's values where they are concrete. Under an eager ``jax.grad``/``jvp``
    the input reaches ``_decompose`` as a tracer, but this rule sees the primal's values: a NaN or inf there gets
    the input check's NonFiniteError, where it would otherwise give NaN derivatives (or a rank error about a NaN
    diagonal). Under ``jit`` the primal is traced too and nothing is checked (the NaN policy of docs/bridges.md)."""
    return A


@_finite_checked.defjvp
def _finite_checked_jvp(name, primals, tangents):
    (A,), (dA,) = primals, tangents
    if _concrete(A):
        check_input(jax_backend(), A, name, "matdiff.jax", True)
    return A, dA


def _pivots(A, rows):
    """LAPACK geqp3's pivots per matrix, on the host, by ``pure_callback`` (works under jit and vmap)."""
    n = A.shape[-2] if rows else A.shape[-1]
    dtype = jax.dtypes.canonicalize_dtype(np.int64)
    out = jax.ShapeDtypeStruct(A.shape[:-2] + (n,), dtype)
    host = lambda a: _get_backend("numpy").pivots(np.asarray(a), rows=rows).astype(dtype)  # noqa: E731
    return jax.lax.stop_gradient(jax.pure_callback(host, out, jax.lax.stop_gradient(A), vmap_method="expand_dims"))


def _decompose(kind, A, mode, pivoting, check_rank):
    name = kind.lower()
    check_options(name, mode, pivoting, check_rank)
    if not isinstance(A, (jax.Array, np.ndarray)):
        raise MatdiffError(f"matdiff.jax.{name} takes a JAX array, got {type(A).__name__}; use md.{name} for "
                           "matdiff tensors, matdiff.torch for torch tensors")
    A = jnp.asarray(A)
    b = jax_backend()
    concrete = _concrete(A)
    check_input(b, A, name, "matdiff.jax", concrete and A.size > 0)
    if not concrete and A.size:         # a tracer: its values are checked where a derivative sees them
        A = _finite_checked(name, A)
    perm = None
    if pivoting:
        perm = _pivots(A, rows=kind == "LQ")
        A = b.permute(A, perm, axis=-1 if kind == "QR" else -2)
    m, n = A.shape[-2:]
    if mode == "complete" and (m > n if kind == "QR" else m < n):
        outs = _complete_node(kind, A)
    else:
        outs = _reduced(kind, A, check_rank)
    Result = {("QR", False): QRResult, ("QR", True): QRPivotedResult,
              ("LQ", False): LQResult, ("LQ", True): LQPivotedResult}[kind, pivoting]
    return Result(*outs, *((perm,) if pivoting else ()))


def _reduced(kind, A, check_rank):
    """One node for square/deep QR (square/wide LQ); else Figure 2 (QR) or Proposition 3 (LQ) around it."""
    m, n = A.shape[-2:]
    k, long = min(m, n), (n if kind == "QR" else m)
    info = _Info(kind, tuple(A.shape), HINT[kind].format(k=k, lib="matdiff.jax") if k < long else "", check_rank)
    if k == long:
        return _node(info, A)
    if kind == "QR":
        Q, U = _node(info, A[..., :, :k])
        return Q, jnp.concatenate([U, jnp.conj(jnp.swapaxes(Q, -1, -2)) @ A[..., :, k:]], axis=-1)
    U, Q = _node(info, A[..., :k, :])
    return jnp.concatenate([U, A[..., k:, :] @ jnp.conj(jnp.swapaxes(Q, -1, -2))], axis=-2), Q


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _complete_node(kind, A):
    """mode='complete' where it differs from reduced (deep QR, wide LQ): LAPACK's complete QR, gauged."""
    b = jax_backend()
    if kind == "QR":
        return gauge(b, *b.qr_complete(A))
    Qr, Rr = gauge(b, *b.qr_complete(b.mH(A)))
    return b.mH(Rr), b.mH(Qr)


@_complete_node.defjvp
def _complete_jvp(kind, primals, tangents):
    raise MatdiffError(f"matdiff.jax.{kind.lower()}(mode='complete') of a {primals[0].shape[-2]}x"
                       f"{primals[0].shape[-1]} matrix is not differentiable: the extra orthonormal vectors are any "
                       "basis of the complement. Use mode='reduced', or jax.lax.stop_gradient the input")


def qr(A, mode="reduced", pivoting=False, check_rank="raise"):
    """QR of a JAX array (..., m, n), any m and n: ``QRResult(Q, R)``, R (..., k, n) with a real non-negative
    diagonal; ``pivoting=True``: ``QRPivotedResult(Q, R, perm)``, ``A[..., :, perm] == Q @ R``.

    ``check_rank`` -- what a singular R (wide A: its leading k x k block) does to the derivatives: ``"raise"``
    (default) a RankDeficientError when the values are concrete (eager ``jax.grad``/``jax.jvp``), and under ``jit``
    or ``vmap`` (tracers, no values to read) NaN derivatives for that matrix; ``"warn"``: an IllConditionedWarning
    (concrete) and the NaN derivatives; ``"off"``: no check (what the arithmetic gives: huge, inf or NaN).
    To turn the NaN under ``jit`` into an error, wrap the function in ``jax.experimental.checkify`` with
    ``errors=checkify.nan_checks``."""
    return _decompose("QR", A, mode, pivoting, check_rank)


def lq(A, mode="reduced", pivoting=False, check_rank="raise"):
    """LQ of a JAX array (..., m, n): ``LQResult(L, Q)``, ``A == L @ Q``, L lower triangular with a real
    non-negative diagonal; ``pivoting=True``: ``LQPivotedResult(L, Q, perm)``, ``A[..., perm, :] == L @ Q``.
    ``check_rank`` as in :func:`qr`."""
    return _decompose("LQ", A, mode, pivoting, check_rank)
