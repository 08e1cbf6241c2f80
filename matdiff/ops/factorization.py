"""What QR (:mod:`matdiff.ops.qr`) and LQ (:mod:`matdiff.ops.lq`) share: the equations as constants, the gauge,
the rank check applied to every rule, the argument validation, pivoting and the named result tuples.

* :class:`Equation` -- one equation of the paper, written once; the registry's ``ref``, the printed tape's notation,
  ``md.FORMULAS`` and the docs all read the same object.
* :func:`gauge` -- every forward returns R (and L) with a real, non-negative diagonal, whatever LAPACK/cuSOLVER gave
  (``Q <- Q D, R <- D^H R``). The formulas assume a real diagonal (Section 4.3); a backend whose phases vary with A
  would otherwise make the backward wrong -- the bug of frameworks that skip the rotation.
* :func:`rank_checked` -- a node's vjp and jvp refuse a singular triangular factor (:func:`check_rank`) before any
  formula divides by it: declared once on the node class, not called by hand in each rule.
"""
import math
from collections import namedtuple

import numpy as np

from ..backend.bridge import HINT as BRIDGE_HINT
from ..backend.bridge import ill_conditioned, rank_tolerance, singular_message, worst_ratio
from ..engine.tape import check_later, grad_enabled
from ..engine.tensor import Tensor, tensor
from ..errors import (
    DTypeError,
    MatdiffError,
    NonFiniteError,
    RankDeficientError,
    ShapeError,
)
from .structural import permute_op


class Equation:
    """One equation of Roberts & Roberts, written once. ``label`` ("Eq 3 / Eq 21"), ``text`` (ASCII, the paper's
    names), ``note`` (where it applies), ``notation`` (per input, the adjoint a printed tape fills in with the
    tensors' names: ``{Q_}`` is Q's adjoint). ``ref`` -- ``"label: text (note)"`` -- is the one string the registry,
    ``md.FORMULAS`` and the docs show."""

    __slots__ = ("label", "text", "note", "notation", "ref")

    def __init__(self, label, text, notation=(), note=""):
        self.label, self.text, self.note, self.notation = label, text, note, tuple(notation)
        self.ref = f"{label}: {text}" + (f" ({note})" if note else "")

    def __str__(self):
        return self.ref

    def __repr__(self):
        return f"Equation({self.ref!r})"


# -- the gauge and the zero adjoint of an unused output ------------------------------------------------
def gauge(b, Q, R):
    """Rotate phases so that diag(R) is real and >= 0: ``Q <- Q D``, ``R <- D^H R`` (D diagonal, |d_kk| = 1).

    In place: Q and R are ``b.qr``'s new arrays (a library without in-place updates, JAX, makes new ones) -- a
    256x32x16 stack's forward and backward through matdiff.torch took 0.94-0.98x the time of the copying form (2
    threads, 2026-12-03). LQ uses it too, on the QR of ``A^H``. ``mode="complete"``: Q's columns beyond k keep
    their phase."""
    d = b.diagonal(R)
    extra = Q.shape[-1] - d.shape[-1]
    if not extra and b.positive_real(d):     # in the gauge already (CholeskyQR's R): nothing to rotate or copy
        return Q, R
    D = b.phase(d)
    if extra:
        D = b.concat([D, b.ones(D.shape[:-1] + (extra,), D.dtype)], axis=-1)
    Q *= D[..., None, :]
    R *= b.conj(D)[..., :, None]
    return Q, R


def gauged_qr(b, A):
    """``b.qr`` of each matrix of A, gauged: diag(R) real and >= 0 (a rule per matrix, for ``b.each_matrix``)."""
    return gauge(b, *b.qr(A))


def zeros_if_none(b, F, Fbar, G, Gbar):
    """The adjoints of factors F and G, an unused one (None) as zeros: its terms of the formula then vanish.
    Zeros take the batch axes of the other adjoint (a stack of seeds)."""
    lead = (Fbar if Fbar is not None else Gbar if Gbar is not None else F).shape[:-2]
    return (Fbar if Fbar is not None else b.zeros(lead + F.shape[-2:], F.dtype),
            Gbar if Gbar is not None else b.zeros(lead + G.shape[-2:], G.dtype))


# -- the rank check, applied by the node machinery ------------------------------------------------------
def rank_checked(factor):
    """Class decorator for a QR/LQ node: its vjp and jvp first :func:`check_rank` the triangular factor
    ``ctx.saved[factor]`` (R or L; for a wide QR / deep LQ its diagonal is the leading block's, U's)."""
    def decorate(cls):
        vjp, jvp = cls.vjp, cls.jvp

        def checked_vjp(ctx, *bars):
            check_rank(ctx, ctx.saved[factor], "backward")
            return vjp(ctx, *bars)

        def checked_jvp(ctx, *tangents):
            check_rank(ctx, ctx.saved[factor], "forward mode")
            return jvp(ctx, *tangents)

        checked_vjp.__doc__, checked_jvp.__doc__ = vjp.__doc__, jvp.__doc__
        cls.vjp, cls.jvp = checked_vjp, checked_jvp
        return cls
    return decorate


def check_rank(ctx, T, mode="backward"):
    """Raise RankDeficientError if triangular ``T`` is singular to working precision; warn if ill-conditioned.

    ``ctx`` is the node's context: ``ctx.kind`` ("QR"/"LQ"), ``ctx.shape`` (the shape the user decomposed) and
    ``ctx.hint`` (what to do, e.g. ``pivoting=True`` for the partition block of a wide QR) -- set by the node's
    forward and refined by the graph that uses it. ``mode`` names the sweep ("backward" or "forward mode").
    The check reads numbers only (``b.values``): it is never differentiated, under create_graph=True neither.
    """
    b = ctx.b.arrays
    d = b.diagonal(ctx.b.values(T))
    eps = b.eps(d.dtype)
    # on a GPU (defers_checks) |d| reaches the host with every other check of the sweep, in one copy at its end
    check_later(b, b.abs(d) if b.defers_checks else d, lambda d: _verdict(ctx, d, eps, mode))


def _verdict(ctx, d, eps, mode):
    """The rank check on the host values ``d = diag(T)`` or ``|diag(T)|`` (per matrix): raise, warn, or pass -- by
    the bridges' rule (backend/bridge.py: tolerance, worst matrix, message), one matrix by plain floats (NumPy's
    reductions cost more than the whole check for k numbers)."""
    if d.size == 0:                          # a zero-size batch: nothing to check
        return
    shape, k = ctx.shape, d.shape[-1]
    if d.ndim == 1:
        v = list(map(abs, d.tolist()))
        worst, dmin, dmax = (), min(v), max(v)
        r = dmin / dmax if dmax > 0 else 0.0
        if any(map(math.isnan, v)):            # min and max may step over a NaN
            r = dmin = float("nan")
    else:
        r, dmin, dmax, worst = worst_ratio(d)
    if math.isnan(r) or r <= rank_tolerance(k, shape, eps):
        raise RankDeficientError(singular_message(ctx.kind, mode, shape, worst, dmin, dmax) + ctx.hint
                                 + _in_float64(ctx, k, eps))
    if r < eps ** 0.5:
        ill_conditioned(ctx.kind, mode, r)


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
    tol64 = rank_tolerance(k, ctx.shape, np.finfo(np.float64).eps)
    ratio = (d.min(axis=-1) / np.maximum(d.max(axis=-1), np.finfo(np.float64).tiny)).min() if d.size else 0.0
    if not ratio > tol64:
        return ""
    new = wide.__name__
    return (f" The test is relative to {b.dtype_name(A.dtype)}'s eps ({eps:.2g}); in {new} these values pass it "
            f"(smallest/largest |diagonal| {ratio:.2g} > {tol64:.2g}): make the input {new}, md.tensor(a, dtype=np."
            f"{new}, requires_grad=True) -- from the original data if it was {new} before (its own rank is then "
            "what is checked).")


HINT = {kind: text.replace("{lib}", "md") for kind, text in BRIDGE_HINT.items()}   # the bridges' words, for md.qr/lq


# -- argument validation (the public functions and the raw nodes) ---------------------------------------
def node_shape(ctx, name, A, ok, public):
    """Refuse at the call a shape this raw node does not handle; set the context its rank check reports from."""
    if A.ndim < 2 or not ok(*A.shape[-2:]):
        raise ShapeError(f"the raw {name!r} node handles {public[0]} matrices, got shape {A.shape}; call {public[1]} "
                         "-- it picks the node (or the partition graph) for every shape")
    ctx.kind, ctx.shape, ctx.hint = name[:2].upper(), tuple(A.shape), ""
    ctx.source = A          # not saved for the rules: only a float32 rank error reads it (would float64 pass?)


def validate(A, name, mode, pivoting, fused, formula="eq3", formulas=("eq3",)):
    """``A`` as a float Tensor of at least one m x n matrix (m, n >= 1), finite; the flags checked."""
    for flag, value in (("pivoting", pivoting), ("fused", fused)):
        if not isinstance(value, bool):
            raise MatdiffError(f"{name}: {flag} must be True or False, got {value!r}; pass {flag}=True or {flag}=False")
    if not isinstance(A, Tensor):
        A = tensor(A)
    b, shape = A._b, A._data.shape
    if len(shape) < 2:
        raise ShapeError(f"{name} needs a matrix (or a stack of them) with at least 2 axes, got shape {shape}; "
                         "make a vector a column with x[:, None] (or a row with x[None, :])")
    if not shape[-2] or not shape[-1]:
        raise ShapeError(f"{name} of an empty {shape[-2]}x{shape[-1]} matrix: matdiff requires m, n >= 1 "
                         "(an empty factorisation has nothing to differentiate); an empty batch (0, m, n) is fine")
    if not b.is_float(A._data.dtype):
        if A.requires_grad:
            raise DTypeError(f"{name} needs float32/64 or complex64/128 input, got {b.dtype_name(A.dtype)}")
        A = tensor(b.astype(A._data, b.float64))
    if mode != "reduced" and mode != "complete":
        raise MatdiffError(f"{name}: unknown mode {mode!r}; use mode='reduced' (or 'complete')")
    if formula not in formulas:
        raise MatdiffError(f"{name}: unknown formula {formula!r}; choose one of {', '.join(formulas)}")
    if not b.isfinite_all(A._data):
        raise NonFiniteError(f"{name}: the input contains NaN or inf; a decomposition of it (and its gradient) "
                             "would be meaningless -- clean the data first")
    return A


def pivot(A, rows, name):
    """Section 3's pivoting: ``B = permute(A, perm)`` (columns, or rows for LQ) with geqp3's pivots, chosen on the
    host; returns B and the caller's copy of ``perm`` on the tensor's device. The permute node's adjoint is
    ``Abar = Bbar P^T``."""
    b = A._b
    host = b.pivots(A._data, rows=rows)
    B = permute_op(A, perm=host, axis=-2 if rows else -1)
    B.name = B.name or name
    return B, b.from_host(host)


def recorded(A):
    """Whether an op on Tensor A is recorded (A requires grad, grad mode is on). When it is not, the partition
    graphs of Figure 2 and Proposition 3 would only cost their five nodes (64x32 LQ: 76 against 61 us): md.qr and
    md.lq then run the fused node, whose forward is the same partition."""
    return A.requires_grad and grad_enabled()


def complete_differs(A, name, differs):
    """mode='complete' equals 'reduced' unless the extra orthonormal vectors are arbitrary (not differentiable):
    False where they are the same (``differs`` False), True where they differ and no gradient is wanted, else an
    error."""
    if not differs:
        return False
    if A.requires_grad and grad_enabled():
        raise MatdiffError(
            f"{name}(mode='complete') of a {A.shape[-2]}x{A.shape[-1]} matrix is not differentiable: the extra "
            "orthonormal vectors completing Q are any basis of the orthogonal complement, so they have no "
            "derivative (PyTorch refuses the same). Use mode='reduced', or compute it under md.no_grad()")
    return True


def result_type(name, fields):
    """A named tuple of factors whose ``backward`` says how to seed them (a tuple is not a tensor to sweep from)."""
    def backward(self, *args, **kwargs):
        factors = [f for f in fields.split() if f != "perm"]
        T = "R" if "R" in factors else "L"                           # the triangular factor
        raise MatdiffError(f"{name} is the tuple ({', '.join(fields.split())}), not a tensor: backward starts from "
                           f"tensors. Seed the factors -- md.backward([{', '.join(factors)}], "
                           f"[{', '.join(f + 'bar' for f in factors)}]) -- or make a real scalar of them first: "
                           f"md.sum(md.real({T} * {T}.conj())).backward()")
    return type(name, (namedtuple(name, fields),), {"__slots__": (), "backward": backward, "__module__": "matdiff",
                                                     "__doc__": f"{name}({', '.join(fields.split())})"})


def name_outputs(outs, names):
    """Name the factors a user gets ("Q", "R"; "L", "Q") unless they have a name already."""
    for t, n in zip(outs, names):
        t.name = t.name or n
    return outs
