"""matdiff's QR and LQ inside PyTorch: ``matdiff.torch.qr`` and ``matdiff.torch.lq`` on torch tensors.

    import matdiff.torch as mt
    Q, R = mt.qr(A)                        # any shape, float32/64, complex64/128, batched, CPU or CUDA
    Q, R, perm = mt.qr(A, pivoting=True)   # A[..., :, perm] == Q @ R
    L, Q = mt.lq(A)                        # A == L @ Q (L, Q, perm with pivoting: A[..., perm, :] == L @ Q)

The square/deep QR (and square/wide LQ) is one ``torch.autograd.Function`` whose backward is **matdiff's own
rule** (Eq 3 / Eq 21; Eq 17), run on torch tensors through :class:`matdiff.backend.torch_backend.TorchBackend` --
so torch records it and double backward, ``torch.func.grad/jacrev/jacfwd/vmap`` work. Forward mode runs the jvp
rules (Lemma 1). A wide QR is the paper's Figure 2 in torch ops (``A = [X|Y]``, ``V = Q^H Y``, ``R = [U|V]``), a
deep LQ Proposition 3's row partition; pivoting is a column (row) gather by pivots that LAPACK geqp3 picks on the
host (matdiff's backend ``pivots``: SciPy's binding; a CUDA tensor is copied to the host once for it).
R (L) always has a real, non-negative diagonal. Rank: see ``check_rank`` below and docs/bridges.md.
"""
import inspect
from collections import namedtuple

import numpy as np
import torch

from .backend.bridge import HINT, check_input, check_options, tolerance, verdict
from .backend.torch_backend import has_values, host_array, torch_backend
from .errors import MatdiffError
from .ops.factorization import gauge, gauged_qr
from .ops.lq import lq_forward, lq_jvp, lq_vjp
from .ops.qr import qr_jvp, qr_vjp

__all__ = ["qr", "lq", "QRResult", "QRPivotedResult", "LQResult", "LQPivotedResult"]

QRResult = namedtuple("QRResult", "Q R")
QRPivotedResult = namedtuple("QRPivotedResult", "Q R perm")
LQResult = namedtuple("LQResult", "L Q")
LQPivotedResult = namedtuple("LQPivotedResult", "L Q perm")
#: what a node's rank check reports: the factorisation, the user's shape, what to do, the policy
_Info = namedtuple("_Info", "kind shape hint check_rank")


def _rank_mask(b, T, info, mode):
    """None if the triangular factor ``T`` passes (or check_rank='off'); else a boolean mask (batch...) of the
    matrices whose gradient must be NaN. Concrete values: the verdict raises (or warns) on the host."""
    if info.check_rank == "off":
        return None
    d = torch.diagonal(T, dim1=-2, dim2=-1)
    tol, eps = tolerance(b, T, info.shape)
    if _clear(d, max(tol, eps ** 0.5)):
        return None
    host = host_array(d)
    if host is not None:
        verdict(host, info.shape, info.kind, info.hint, mode, info.check_rank, tol, eps)
        if info.check_rank == "raise":
            return None                                     # it passed (else it raised)
    d = d.abs()
    return ~(d.amin(-1) > tol * d.amax(-1))                 # traced, or 'warn': NaN where singular (NaN too)


def _clear(d, limit):
    """Whether every matrix of the concrete diagonals ``d`` (batch..., k) has ``min |d| > limit * max |d|`` --
    neither the error nor the ill-conditioning warning of ``verdict`` can apply --; False otherwise (a NaN, a traced
    value), and the full verdict runs. A CPU tensor's diagonal is read in place by NumPy (a view; ~10 us for the
    test, the batch's extremes first); on a device one reduction there and one scalar read (``host_array``). The
    host verdict cost ~0.2 ms of the 1.5 ms backward of a 256x32x16 stack, the torch reductions ~0.1 ms of a 500x200
    backward (2026-12-03)."""
    if d.device.type == "cpu":
        h = host_array(d)
        if h is None:
            return False
        a = np.abs(h)
        if a.min() > limit * a.max():       # the whole batch at once implies it for every matrix: 8 against 52 us
            return True                     # for 256 x 16 (NumPy's per-row reductions of 16 entries cost 17 us each)
        return bool((a.min(-1) > limit * a.max(-1)).all())
    a = d.abs()
    ok = host_array((a.amin(-1) > limit * a.amax(-1)).all())
    return ok is not None and bool(ok)


def _fresh(X):
    """``X`` row-major and not a view: the outputs of a Function must not be views (LQ's transposes are)."""
    X = X.resolve_conj()
    return X if X.is_contiguous() and X._base is None else torch.clone(X, memory_format=torch.contiguous_format)


def _laid_out_as(t, primal):
    """The tangent ``t`` with its primal's strides, as torch's forward mode wants: QR's factors keep LAPACK's
    column-major layout (the gauge's products inherit it), so the forward copies nothing -- a clone to row-major
    cost 0.5 ms of a 4.8 ms forward at 500x200 (measured 2026-12-02) -- and only a tangent pays for a layout."""
    t = t.resolve_conj()
    if primal.is_contiguous():
        return t.contiguous()
    return t.mT.contiguous().mT         # LAPACK's layout, out of place (a vmap refuses copy_ into a new tensor)


def _real_diagonal(T):
    """Drop the roundoff imaginary part (~1e-17) the gauge's ``r_kk conj(r_kk / |r_kk|)`` leaves on a fresh ``T``."""
    if T.is_complex():
        torch.diagonal(T, dim1=-2, dim2=-1).imag.zero_()
    return T


def _poison(G, bad):
    return G if bad is None else torch.where(bad[..., None, None], torch.full_like(G, float("nan")), G)


class _QR(torch.autograd.Function):
    """Square/deep QR: forward the backend's QR (``torch.linalg.qr``; CholeskyQR2 for a concrete tall float64 CPU
    matrix) + gauge; backward Eq 3 / Eq 21 (``qr_vjp``) on torch tensors."""

    generate_vmap_rule = True

    @staticmethod
    def forward(A, info):
        b = torch_backend(A.device)
        Q, R = gauged_qr(b, A)       # new tensors (CholeskyQR2's already in the gauge: nothing to rotate)
        return Q, _real_diagonal(R)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.info = inputs[1]
        ctx.set_materialize_grads(False)                    # an unused Q or R: None, its terms are skipped
        ctx.save_for_backward(*output)
        ctx.save_for_forward(*output)

    @staticmethod
    def backward(ctx, Qbar, Rbar):
        if Qbar is None and Rbar is None:
            return None, None
        Q, R = ctx.saved_tensors
        b = torch_backend(Q.device)
        bad = _rank_mask(b, R, ctx.info, "backward")
        return _poison(qr_vjp(b, Q, R, Qbar, Rbar), bad), None


class _QRForward(_QR):
    """``_QR`` with forward mode (Lemma 1, ``qr_jvp``). A separate class: a Function defining ``jvp`` breaks
    ``torch.compile``, so compiled code gets ``_QR``."""

    @staticmethod
    def jvp(ctx, dA, _):
        Q, R = ctx.saved_tensors
        b = torch_backend(Q.device)
        bad = _rank_mask(b, R, ctx.info, "forward mode")
        return tuple(_laid_out_as(_poison(t, bad), p) for t, p in zip(qr_jvp(b, Q, R, dA), (Q, R)))


class _LQ(torch.autograd.Function):
    """Square/wide LQ: ``A^H = Qr Rr`` gauged, ``L = Rr^H``, ``Q = Qr^H``; backward Eq 17 (``lq_vjp``)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(A, info):
        L, Q = lq_forward(torch_backend(A.device), A)
        return _real_diagonal(_fresh(L)), _fresh(Q)

    setup_context = _QR.setup_context

    @staticmethod
    def backward(ctx, Lbar, Qbar):
        if Lbar is None and Qbar is None:
            return None, None
        L, Q = ctx.saved_tensors
        b = torch_backend(L.device)
        bad = _rank_mask(b, L, ctx.info, "backward")
        return _poison(lq_vjp(b, L, Q, Lbar, Qbar), bad), None


class _LQForward(_LQ):
    """``_LQ`` with forward mode (Lemma 1 transposed, ``lq_jvp``); see ``_QRForward``."""

    @staticmethod
    def jvp(ctx, dA, _):
        L, Q = ctx.saved_tensors
        b = torch_backend(L.device)
        bad = _rank_mask(b, L, ctx.info, "forward mode")
        return tuple(_fresh(_poison(t, bad)) for t in lq_jvp(b, L, Q, dA))


# torch's Function.apply binds its arguments with ``inspect.signature(forward)`` on every call (because setup_context
# is defined); a precomputed ``__signature__`` turns that into a lookup: 8.6 against 1.4 us hot, ~0.1 ms of a cold
# 500x200 forward (2026-12-03). Both classes of each pair share the one forward function.
for _forward in (_QR.forward, _LQ.forward):
    _forward.__signature__ = inspect.signature(_forward)


def _node(kind):
    """The Function to apply: with forward mode, except while torch.compile traces (see ``_QRForward``)."""
    compiling = torch.compiler.is_compiling()
    return (_QR if compiling else _QRForward) if kind == "QR" else (_LQ if compiling else _LQForward)


@torch.compiler.disable
def _pivots(A, rows):
    """LAPACK geqp3's pivots of each matrix (matdiff's backend ``pivots``), on the host, as a long tensor on A's
    device. Needs concrete values: under vmap it cannot run (a clear error says what to do instead)."""
    b = torch_backend(A.device)
    if not has_values(A):
        raise MatdiffError("pivoting=True picks pivots on the host (LAPACK geqp3) and needs concrete values, not a "
                           "torch.func.vmap batch: pivot outside the transform (perm = matdiff.torch.qr(A, pivoting="
                           "True).perm), then factorise A[..., :, perm] (LQ: A[..., perm, :]) inside it")
    return b.from_host(b.pivots(A, rows=rows))


def _decompose(kind, A, mode, pivoting, check_rank):
    name = kind.lower()
    check_options(name, mode, pivoting, check_rank)
    if not isinstance(A, torch.Tensor):
        raise MatdiffError(f"matdiff.torch.{name} takes a torch.Tensor, got {type(A).__name__}; use md.{name} for "
                           "NumPy arrays, matdiff.jax for JAX arrays")
    b = torch_backend(A.device)
    check_input(b, A, name, "matdiff.torch", has_values(A) and A.numel() > 0)
    perm = None
    if pivoting:
        perm = _pivots(A, rows=kind == "LQ")
        A = b.permute(A, perm, axis=-1 if kind == "QR" else -2)
    m, n = A.shape[-2:]
    if mode == "complete" and (m > n if kind == "QR" else m < n):
        outs = _complete(b, A, kind)
    else:
        outs = _reduced(kind, A, tuple(A.shape), check_rank)
    Result = {("QR", False): QRResult, ("QR", True): QRPivotedResult,
              ("LQ", False): LQResult, ("LQ", True): LQPivotedResult}[kind, pivoting]
    return Result(*outs, *((perm,) if pivoting else ()))


def _reduced(kind, A, shape, check_rank):
    """One node for square/deep QR (square/wide LQ); else the paper's partition around the node on the k x k block:
    QR Figure 2 (``A = [X|Y]``, ``V = Q^H Y``, ``R = [U|V]``), LQ Proposition 3 (``A = [X; Y]``, ``V = Y Q^H``)."""
    m, n = A.shape[-2:]
    k, long = min(m, n), (n if kind == "QR" else m)
    info = _Info(kind, shape, HINT[kind].format(k=k, lib="matdiff.torch") if k < long else "", check_rank)
    if k == long:
        return _node(kind).apply(A, info)
    if kind == "QR":
        Q, U = _node(kind).apply(A[..., :, :k], info)
        return Q, torch.cat([U, _adjoint(Q) @ A[..., :, k:]], dim=-1)
    U, Q = _node(kind).apply(A[..., :k, :], info)
    return torch.cat([U, A[..., k:, :] @ _adjoint(Q)], dim=-2), Q


def _adjoint(Q):
    """``Q^H`` without a lazy-conjugate view: torch's batched forward mode trips over the conj view of a Function's
    output (an internal assert, torch 2.13); ``conj_physical`` is no view."""
    return torch.conj_physical(Q).mT if Q.is_complex() else Q.mT


def _complete(b, A, kind):
    """mode='complete' where it differs from reduced (deep QR, wide LQ): the extra columns have no derivative."""
    if A.requires_grad and torch.is_grad_enabled():
        raise MatdiffError(f"matdiff.torch.{kind.lower()}(mode='complete') of a {A.shape[-2]}x{A.shape[-1]} matrix is "
                           "not differentiable: the extra orthonormal vectors are any basis of the complement. Use "
                           "mode='reduced', or compute it under torch.no_grad()")
    if kind == "QR":
        return tuple(gauge(b, *b.qr_complete(A)))
    Qr, Rr = gauge(b, *b.qr_complete(A.mH))
    return Rr.mH, Qr.mH


def qr(A, mode="reduced", pivoting=False, check_rank="raise"):
    """QR of a torch tensor (..., m, n), any m and n: ``QRResult(Q, R)``, Q (..., m, k), R (..., k, n), k = min(m, n);
    ``pivoting=True``: ``QRPivotedResult(Q, R, perm)`` with ``A[..., :, perm] == Q @ R`` (perm not differentiable).

    Differentiable in every mode torch has (backward of any order, forward mode, ``torch.func``, vmap); the
    gradient is matdiff's Eq 3 / Eq 21 (wide: Figure 2's graph). ``check_rank`` -- what a singular R (for a wide A:
    its leading k x k block) does to the gradient: ``"raise"`` (default) a RankDeficientError where the values are
    concrete (eager, ``torch.func.grad``/``jacrev``/``jacfwd``), and under ``torch.func.vmap``/``torch.compile`` (no
    values to read) a NaN gradient for that matrix;
    ``"warn"``: an IllConditionedWarning (concrete values) and the NaN gradient; ``"off"``: no check (the gradient
    is then what the arithmetic gives: huge, inf or NaN). ``mode="complete"`` of a deep A: not differentiable."""
    return _decompose("QR", A, mode, pivoting, check_rank)


def lq(A, mode="reduced", pivoting=False, check_rank="raise"):
    """LQ of a torch tensor (..., m, n): ``LQResult(L, Q)``, ``A == L @ Q``, L (..., m, k) lower triangular with a
    real non-negative diagonal, Q (..., k, n); ``pivoting=True``: ``LQPivotedResult(L, Q, perm)`` with
    ``A[..., perm, :] == L @ Q``. Gradient Eq 17 (deep: Proposition 3's graph); ``check_rank`` as in :func:`qr`."""
    return _decompose("LQ", A, mode, pivoting, check_rank)
