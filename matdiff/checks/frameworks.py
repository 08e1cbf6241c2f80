"""Checking a PyTorch or JAX function: ``md.gradcheck(f, [A])`` with ``A`` a torch tensor or a JAX array.

The function becomes one matdiff node whose forward is ``f`` on the framework's own tensors and whose vjp and jvp
are the framework's (``torch.autograd.grad`` / forward-mode duals; ``jax.vjp`` / ``jax.jvp``). Every checker then
runs on it unchanged -- the full Jacobian by central differences, ``fast``, ``batched``, the trace identity, the
same Report (worst entry, rows, summary). The checker's stacked perturbations and seeds arrive as extra leading
axes; they are mapped with the framework's ``vmap`` (a slice at a time where ``f`` cannot be vmapped), so ``f``
need not broadcast.

The complex convention is translated: matdiff's adjoint of ``A`` is ``dL/dRe A + i dL/dIm A`` (PyTorch's
``.grad``); JAX's vjp is the conjugate of that, so its cotangents are conjugated going in and coming out.

Blame: when the check fails, the function's pieces are re-checked one at a time at the values one run gave them --
for JAX the equations of ``jax.make_jaxpr(f)`` (each ``custom_jvp``/``custom_vjp`` rule, each ``jit``-ted
function and each primitive is one equation, named); for PyTorch the calls ``f`` makes (each custom
``autograd.Function`` by its class name, each torch op), recorded while it runs once. The adapters are
``framework_torch.py`` and ``framework_jax.py``; each is imported only when a check meets its framework's tensors.
"""
from __future__ import annotations

import numpy as np

from ..engine.op import Op
from ..engine.tensor import tensor
from ..errors import MatdiffError
from .finite_differences import compare
from .report import NodeCheck, finish
from .trace_identity import compare_pairs

_FULL_LIMIT = 1 << 20        # Jacobian entries above which a piece is checked by random projections


def framework_of(inputs):
    """The adapter module for ``inputs`` (torch tensors or JAX arrays), or None for matdiff Tensors / arrays."""
    items = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    kinds = {_kind(x) for x in items} - {None}
    if not kinds:
        return None
    if len(kinds) > 1 or any(_kind(x) is None and hasattr(x, "shape") for x in items):
        raise MatdiffError(f"gradcheck: the inputs mix {' and '.join(sorted(kinds | {'other arrays'}))}; give all "
                           "of them as one framework's tensors (constants go in the function's closure)")
    if "torch" in kinds:
        from . import framework_torch as fw
    else:
        from . import framework_jax as fw
    return fw


def _kind(x):
    mod = type(x).__module__ or ""
    return "torch" if mod.startswith("torch") else "jax" if mod.startswith(("jax", "jaxlib")) else None


# -- the function as one node -------------------------------------------------------------------------------
def as_node(fw, f, xs, name=None):
    """``(g, tensors)``: ``g(*tensors)`` applies one matdiff node whose forward is ``f`` and whose rules are the
    framework's; ``tensors`` are ``xs`` as matdiff Tensors (the differentiated ones with requires_grad)."""
    xs = list(xs)
    diff = fw.differentiated(xs)
    if not diff:
        raise MatdiffError("gradcheck: no float input to differentiate; give float32/64 or complex64/128 tensors")
    run = _Runner(fw, f, xs, diff)
    op = Op(name or fw.name_of(f), run.forward, run.vjp, run.jvp, fw.ref_of(f))
    tensors = [tensor(fw.host(x), requires_grad=(i in diff)) for i, x in enumerate(xs)]
    return (lambda *ts: op(*ts)), tensors


class _Runner:
    """``f``'s forward, vjp and jvp as a node's rules on host arrays, by the framework's own calls.

    Both frameworks run eagerly. A ``jax.jit`` per check was measured and dropped: QR 5x3, gradcheck 3.4 s every
    time with jit against 0.10 s eagerly once JAX's per-primitive compilations are cached (6.9 s the first time
    in a process) -- those caches are shared by every later check, a jit of a fresh closure by none."""

    def __init__(self, fw, f, xs, diff):
        self.fw, self.f, self.like, self.diff = fw, f, xs, diff
        self.ndims = [fw.host(x).ndim for x in xs]
        self.many = isinstance(fw.outputs(f(*xs), keep_structure=True), tuple)     # f returns a tuple (or list)

    def _natives(self, arrays):
        return [self.fw.native(a, x) for a, x in zip(arrays, self.like)]

    def forward(self, ctx, *arrays):
        fw, f = self.fw, self.f
        ctx.save(*arrays)
        lead = max(a.ndim - n for a, n in zip(arrays, self.ndims))
        if lead == 0:
            def fn(*v):
                return tuple(fw.outputs(f(*v)))
        else:                                     # the checker's stack of perturbations: map f over it
            batch = next(a.shape[:lead] for a, n in zip(arrays, self.ndims) if a.ndim - n == lead)
            axes = tuple(0 if a.ndim > n else None for a, n in zip(arrays, self.ndims))
            fn = _mapped(fw, f, axes, batch, lead)
        outs = fn(*self._natives(arrays))
        ctx.shapes = [tuple(o.shape) for o in outs]
        hosted = tuple(fw.host(o) for o in outs)
        return hosted if self.many else hosted[0]

    def vjp(self, ctx, *cots):
        fw, f, diff = self.fw, self.f, self.diff
        lead = cots[0].ndim - len(ctx.shapes[0])
        adj = fw.vjp(f, self._natives(ctx.saved), diff, list(cots), lead)
        out = [None] * len(self.like)
        for i, a in zip(diff, adj):
            shape = tuple(cots[0].shape[:lead]) + tuple(ctx.saved[i].shape)
            out[i] = np.zeros(shape, ctx.saved[i].dtype) if a is None else fw.host(a).reshape(shape)
        return tuple(out)

    def jvp(self, ctx, *tangents):
        fw, f, diff = self.fw, self.f, self.diff
        ts = tuple(np.zeros_like(ctx.saved[i]) if tangents[i] is None else tangents[i] for i in diff)
        outs = [None if o is None else fw.host(o) for o in fw.jvp(f, self._natives(ctx.saved), diff, list(ts))]
        return tuple(outs) if len(outs) > 1 else outs[0]


def _mapped(fw, f, axes, batch, lead):
    """``f`` over the extra leading axes ``batch`` of the inputs marked 0 in ``axes`` (the checker's stack): the
    framework's vmap, else a loop."""
    count = int(np.prod(batch))

    def run(*natives):
        flat = [fw.reshape(v, (count,) + tuple(v.shape[lead:])) if ax == 0 else v for v, ax in zip(natives, axes)]
        outs = fw.over_axis0(lambda *v: tuple(fw.outputs(f(*v))), flat, axes, count)
        return tuple(fw.reshape(o, tuple(batch) + tuple(o.shape[1:])) for o in outs)
    return run


# -- the checkers on a framework function ----------------------------------------------------------------------
def gradcheck(fw, f, inputs, raise_on_fail=False, blame=True, **kw):
    """:func:`matdiff.gradcheck` of a framework function (its keywords)."""
    g, ts = as_node(fw, f, _listed(inputs))
    rep = compare(g, ts, **kw)
    if blame and not rep.ok:
        rep = _blamed(rep, fw, f, inputs, order=1, kw=kw)
    return finish(rep, raise_on_fail)


def gradgradcheck(fw, f, inputs, seeds=None, seed=0, raise_on_fail=False, blame=True, **kw):
    """:func:`matdiff.gradgradcheck` of a framework function: gradcheck of ``x -> J(x)^H v`` written in the
    framework (its own double backward is what is checked)."""
    xs = _listed(inputs)
    h = fw.first_derivatives(f, xs, seeds, seed)
    g, ts = as_node(fw, h, xs, name=f"vjp of {fw.name_of(f)}")
    rep = compare(g, ts, **kw)
    rep.kind = "gradgradcheck"
    if blame and not rep.ok:
        rep = _blamed(rep, fw, f, inputs, order=2, kw=kw)
    return finish(rep, raise_on_fail)


def check_adjoint(fw, f, inputs, raise_on_fail=False, blame=True, **kw):
    """:func:`matdiff.check_adjoint` of a framework function: its forward mode against its reverse mode."""
    g, ts = as_node(fw, f, _listed(inputs))
    rep = compare_pairs(g, ts, **kw)
    if blame and not rep.ok:
        rep = _blamed(rep, fw, f, inputs, order=0, kw={})
    return finish(rep, raise_on_fail)


def _listed(inputs):
    return list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]


def _blamed(rep, fw, f, inputs, order, kw):
    """``rep`` with ``node_checks``: every piece of one run of ``f`` re-checked alone (a failing piece that has inner
    pieces -- a ``jit`` -- opened, its pieces numbered ``#2.1``, ``#2.2`` ...); ``blame``: the failing pieces none
    of whose inner pieces fails (the most specific culprits)."""
    tol = {k: kw[k] for k in ("eps", "atol", "rtol") if kw.get(k) is not None}
    checks, culprits = [], []

    def visit(found, prefix):
        for k, piece in enumerate(found, start=1):
            number = f"{prefix}{k}"
            check = _check_piece(fw, number, piece, order, tol)
            checks.append(check)
            if not check.ok:
                before = len(culprits)
                if piece.inner is not None:
                    visit(piece.inner(), f"{number}.")
                if len(culprits) == before:
                    culprits.append(check)
    visit(fw.pieces(f, _listed(inputs)), "")
    rep.node_checks, rep.blame = checks, culprits
    return rep


def _check_piece(fw, number, piece, order, tol):
    """One piece (``fw.Piece``: name, ref, fn, args) checked alone: its vjp against central differences (its double
    backward for ``order=2``, its jvp against its vjp for ``order=0``)."""
    described = [f"{'x'.join(map(str, fw.host(a).shape)) or 'scalar'} {fw.host(a).dtype}" for a in piece.args]
    try:
        if order == 0:
            g, ts = as_node(fw, piece.fn, piece.args, name=piece.name)
            return NodeCheck(number, piece.name, piece.ref, described, jvp=compare_pairs(g, ts))
        h = piece.fn if order == 1 else fw.first_derivatives(piece.fn, piece.args, None, 0)
        g, ts = as_node(fw, h, piece.args, name=piece.name)
        size = sum(t.data.size for t in ts) * sum(fw.host(o).size for o in fw.outputs(h(*piece.args)))
        vjp = compare(g, ts, fast=size > _FULL_LIMIT, **tol)
    except MatdiffError as e:
        return NodeCheck(number, piece.name, piece.ref, described, error=str(e).split("\n")[0])
    except Exception as e:                      # the piece itself failed when run alone: say so, by name
        return NodeCheck(number, piece.name, piece.ref, described, error=f"{type(e).__name__}: {e}".split("\n")[0])
    return NodeCheck(number, piece.name, piece.ref, described, vjp=vjp, order=max(order, 1))
