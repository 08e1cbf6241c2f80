"""The PyTorch adapter of ``checks/frameworks.py``: a torch function's forward, vjp and jvp on host arrays, and the
calls it makes, recorded for blame.

* vjp: ``torch.autograd.grad`` (``is_grads_batched`` for the checker's stack of seeds, a loop where the function's
  ops or Functions have no batching rule). PyTorch's adjoint of a complex input is ``dL/dRe + i dL/dIm`` -- matdiff's.
* jvp: forward-mode duals (``torch.autograd.forward_ad``); a custom Function without a ``jvp`` has none.
* blame: while ``f`` runs once, a ``TorchFunctionMode`` notes every torch op it calls and ``Function.apply`` is
  wrapped for that run, so each custom ``autograd.Function`` is noted as one call under its class name (the ops
  inside its forward are its own business, not noted). Each noted call with a differentiable input is a Piece.
  The wrap is process-wide for the duration of that one run.
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager

import numpy as np
import torch
import torch.autograd.forward_ad as fwAD
from torch.overrides import TorchFunctionMode, resolve_name

from ..errors import MatdiffError
from .framework_common import Piece, caller_ref, name_of, ref_of
from .framework_common import outputs as common_outputs

__all__ = ["Piece", "name_of", "ref_of"]


def _float(x):
    return isinstance(x, torch.Tensor) and (x.is_floating_point() or x.is_complex())


def differentiated(xs):
    """Positions checked: the tensors with ``requires_grad``, else every float tensor."""
    marked = [i for i, x in enumerate(xs) if _float(x) and x.requires_grad]
    return marked or [i for i, x in enumerate(xs) if _float(x)]


def host(x):
    if isinstance(x, torch.Tensor):
        return x.detach().resolve_conj().resolve_neg().cpu().numpy().copy()
    return np.asarray(x)


def native(a, like):
    """Host array ``a`` as a tensor of ``like``'s dtype and device (a copy: matdiff's arrays may be read-only)."""
    t = torch.from_numpy(np.array(a))
    return t.to(device=like.device, dtype=like.dtype) if isinstance(like, torch.Tensor) else t


def outputs(out, keep_structure=False):
    """``f``'s result as a list of tensors (``keep_structure``: a tuple if ``f`` returned one, else the tensor)."""
    return common_outputs(out, torch.Tensor, "torch", keep_structure)


def reshape(v, shape):
    return v.reshape(shape)


def over_axis0(fn, flat, axes, count):
    """``fn`` over axis 0 of the inputs marked 0 in ``axes``: ``torch.func.vmap``, else one slice at a time."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return list(torch.func.vmap(fn, in_dims=tuple(axes))(*flat))
    except Exception:                       # no batching rule (an old-style Function, data-dependent code ...)
        per = [fn(*[v[j] if ax == 0 else v for v, ax in zip(flat, axes)]) for j in range(count)]
        return [torch.stack([p[k] for p in per]) for k in range(len(per[0]))]


def vjp(f, natives, diff, cots, lead):
    """Adjoints (tensors, None where none flows) of the inputs at ``diff`` for output adjoints ``cots`` (host arrays,
    with ``lead`` leading seed axes, flattened into one for ``is_grads_batched``)."""
    xs = [x.requires_grad_(True) if i in diff else x for i, x in enumerate(natives)]
    with torch.enable_grad():
        outs = outputs(f(*xs))
    pairs = [(o, c) for o, c in zip(outs, cots) if _float(o) and o.requires_grad]
    targets = [xs[i] for i in diff]
    if not pairs:
        return [None] * len(targets)
    flat = (-1,) if lead else ()
    cs = [native(np.reshape(c, flat + tuple(o.shape)), o) for o, c in pairs]
    return _grads([o for o, _ in pairs], targets, cs, lead)


def _grads(outs, targets, cs, lead):
    if not lead:
        return torch.autograd.grad(outs, targets, cs, allow_unused=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.autograd.grad(outs, targets, cs, allow_unused=True, retain_graph=True,
                                       is_grads_batched=True)
    except Exception:                       # no batching rule for some backward: one seed at a time
        per = [torch.autograd.grad(outs, targets, [c[j] for c in cs], allow_unused=True, retain_graph=True)
               for j in range(cs[0].shape[0])]
        return [None if per[0][k] is None else torch.stack([p[k] for p in per]) for k in range(len(targets))]


def jvp(f, natives, diff, tangents):
    """Output tangents (tensors, None where none flows) for input tangents at ``diff``, by forward-mode duals."""
    try:
        with fwAD.dual_level():
            xs = list(natives)
            for i, t in zip(diff, tangents):
                xs[i] = fwAD.make_dual(natives[i], native(t, natives[i]))
            outs = outputs(f(*xs))
            ts = [fwAD.unpack_dual(o).tangent for o in outs]
    except (RuntimeError, NotImplementedError) as e:
        raise MatdiffError(f"check_adjoint: {name_of(f)} has no forward mode in PyTorch ({str(e).splitlines()[0]}); "
                           "a custom autograd.Function needs a jvp staticmethod for it -- gradcheck needs only "
                           "its backward") from None
    return ts


def first_derivatives(f, xs, seeds, seed):
    """``h(*xs) = J(xs)^H v`` written in torch with ``create_graph=True``: gradgradcheck checks its derivatives."""
    diff = differentiated(xs)
    outs0 = [o for o in outputs(f(*xs)) if _float(o)]
    V = _seeds(outs0, seeds, seed)

    def h(*args):
        args = [a.requires_grad_(True) if i in diff and a.is_leaf and not a.requires_grad else a
                for i, a in enumerate(args)]
        with torch.enable_grad():
            outs = [o for o in outputs(f(*args)) if _float(o)]
            live = [(o, v) for o, v in zip(outs, V) if o.requires_grad]
            gs = torch.autograd.grad([o for o, _ in live], [args[i] for i in diff], [v for _, v in live],
                                     create_graph=True, allow_unused=True) if live else [None] * len(diff)
        # a linear f has a constant gradient: tie it to x with a zero coefficient, so it is compared like any other
        return tuple(args[i] * 0 if g is None else g + args[i] * 0 for g, i in zip(gs, diff))
    h.__qualname__ = f"vjp of {name_of(f)}"
    return h


def _seeds(outs, seeds, seed):
    if seeds is not None:
        given = seeds if isinstance(seeds, (list, tuple)) else [seeds]
        return [torch.as_tensor(np.asarray(host(s)), dtype=o.dtype, device=o.device) for s, o in zip(given, outs)]
    rng = np.random.default_rng(seed + 1)
    V = []
    for o in outs:
        v = rng.standard_normal(tuple(o.shape)) + (1j * rng.standard_normal(tuple(o.shape)) if o.is_complex() else 0)
        V.append(torch.as_tensor(v, dtype=o.dtype, device=o.device))
    return V


# -- blame: the calls f makes ---------------------------------------------------------------------------------
def pieces(f, xs):
    """Every custom ``autograd.Function`` and torch op ``f`` applies to a differentiable tensor, in call order."""
    with _recording() as rec, torch.enable_grad():
        f(*xs)
    return rec.calls


class _Recorder(TorchFunctionMode):
    """Notes each top-level torch call; ``inside`` > 0 while a custom Function runs (its inner ops are skipped)."""

    def __init__(self):
        super().__init__()
        self.calls, self.inside = [], 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if not self.inside:
            name = resolve_name(func) or getattr(func, "__name__", str(func))
            if not name.endswith("_") and "__set" not in name:        # in-place writes are not pieces
                self.note(name, func, args, kwargs or {}, out, caller_ref())
        return out

    def note(self, name, fn, args, kwargs, out, ref):
        leaves, rebuild = _flatten((args, kwargs))
        live = [k for k, v in enumerate(leaves) if _float(v) and v.requires_grad]
        outs = out if isinstance(out, (tuple, list)) else (out,)
        if not live or not any(_float(o) and o.grad_fn is not None for o in outs):
            return
        frozen = [v.detach().clone() if isinstance(v, torch.Tensor) else v for v in leaves]

        def alone(*ts):
            vals = list(frozen)
            for k, t in zip(live, ts):
                vals[k] = t
            a, kw = rebuild(vals)
            res = fn(*a, **kw)
            return res if isinstance(res, torch.Tensor) else tuple(r for r in res if isinstance(r, torch.Tensor))
        alone.__qualname__ = name
        self.calls.append(Piece(name, ref, alone, [frozen[k] for k in live]))


@contextmanager
def _recording():
    rec = _Recorder()
    Function = torch.autograd.Function
    owner = next(c for c in Function.__mro__ if "apply" in c.__dict__)
    original = owner.__dict__["apply"]       # a classmethod (torch 2.13) or a C classmethod_descriptor (2.14)

    def apply(cls, *args, **kwargs):
        rec.inside += 1
        try:
            out = original.__get__(None, cls)(*args, **kwargs)
        finally:
            rec.inside -= 1
        if not rec.inside:
            rec.note(cls.__name__, lambda *a, **k: original.__get__(None, cls)(*a, **k), args, kwargs, out,
                     f"autograd.Function {cls.__module__}.{cls.__qualname__}, {ref_of(cls)}; called at {caller_ref()}")
        return out
    Function.apply = classmethod(apply)
    try:
        with rec:
            yield rec
    finally:
        if owner is Function:
            Function.apply = original
        else:
            del Function.apply


def _flatten(tree):
    """The leaves of nested tuples/lists/dicts, and a function that rebuilds the tree from new leaves."""
    leaves = []

    def walk(t):
        if isinstance(t, (tuple, list)):
            parts = [walk(x) for x in t]
            make = type(t)._make if hasattr(type(t), "_make") else type(t)       # a namedtuple, or tuple/list
            return lambda it: make([p(it) for p in parts])
        if isinstance(t, dict):
            parts = {k: walk(v) for k, v in t.items()}
            return lambda it: {k: p(it) for k, p in parts.items()}
        leaves.append(t)
        return lambda it: next(it)
    build = walk(tree)
    return leaves, lambda vals: build(iter(vals))
