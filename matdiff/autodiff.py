"""The user-facing sweeps: ``backward``, ``grad`` (reverse mode) and ``jvp`` (forward mode).

Seeds and gradients follow PyTorch's complex convention: for a real loss ``L`` the adjoint of a complex
``z`` is ``dL/dRe z + i dL/dIm z``; a seed ``G`` for output ``Y`` means ``L = Re <G, Y> = Re sum(conj(G) * Y)``.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from . import backend as _backend
from .engine import show
from .engine.notation import Names, bar, cite
from .engine.sweeps import backward_sweep, forward_sweep
from .engine.tape import Tape, graph_nodes
from .engine.tensor import (
    Tensor,
    as_array,
    as_complex,
    as_float,
    as_int,
    equals,
    length,
    no_abs,
    no_power,
    not_equals,
    refuses,
    rows,
    tensor,
)
from .errors import DeviceError, DTypeError, GraphError, MatdiffError, NonFiniteError, ShapeError
from .ops import elementary as _e
from .ops import reshape_method, rmul, rtruediv, truediv
from .ops import structural as _s
from .ops.interop import array_function, array_ufunc
from .ops.on_tensors import graph_sweep


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _seed_array(out, seed, lead=0, what="seed"):
    """Check a seed against its output (shape, dtype, device) and return it as an array of the output's backend."""
    b, data = out._b, out._data
    if type(seed) is b.array_type and seed.shape == data.shape and seed.dtype == data.dtype:
        return seed                                   # the common case: an array that fits
    if isinstance(seed, Tensor):
        if seed.backend is not b:
            raise DeviceError(f"a seed on {seed.device} cannot seed an output on {out.device}")
        seed = seed.data
    else:
        sb = _backend.owner(seed)
        if sb is None:         # a scalar or a list
            seed, sb = b.from_host(np.asarray(seed)), b
        if sb is not b:
            raise DeviceError(f"a seed on {sb.device} ({sb.name}) cannot seed an output on {out.device} ({b.name})")
    want = tuple(seed.shape[:lead]) + out.shape
    if tuple(seed.shape) != want:
        if what == "tangent":
            raise ShapeError(f"tangent of shape {tuple(seed.shape)} for an input of shape {out.shape}; a tangent must "
                             "have its input's shape")
        raise ShapeError(f"seed of shape {tuple(seed.shape)} for an output of shape {out.shape}; "
                         "a seed must have its output's shape")
    if b.is_complex(seed.dtype) and not b.is_complex(out.dtype):
        raise DTypeError(f"complex seed for a real output ({b.dtype_name(out.dtype)}); a real output's adjoint is real")
    return b.astype(seed, out.dtype)        # a gradient has its tensor's dtype: a float64 seed of a float32 output too


def prepare(outputs: Any, seeds: Any, lead: int = 0, finite: bool = False) -> tuple:
    """``(outputs, seeds)`` as lists, each seed checked against its output (shape, dtype, device, finite) and made an
    array of its backend; without seeds, unit seeds of real scalar outputs. What every sweep (and the stepper)
    starts from. ``finite=True``: the caller built the seeds finite (gradcheck's unit seeds), so they are not
    scanned -- the scan was 3 % of gradcheck of a complex128 64x32 QR (measured)."""
    outputs = _as_list(outputs)
    if seeds is None:
        return outputs, _unit_seeds(outputs)
    seeds = _as_list(seeds)
    if len(seeds) != len(outputs):
        raise MatdiffError(f"{len(outputs)} outputs but {len(seeds)} seeds; give one seed per output")
    fitted = []
    for o, s in zip(outputs, seeds):
        _check_output(o)
        fitted.append(_seed_array(o, s, lead))
    if not finite and not outputs[0]._b.isfinite_all(*fitted):       # one host copy for all seeds
        k = next(k for k, s in enumerate(fitted) if not outputs[k].backend.isfinite_all(s))
        raise NonFiniteError(f"seed {k} (for the output of shape {outputs[k].shape}) contains NaN or inf; "
                             "every gradient would be NaN -- check how the seed was computed")
    return outputs, fitted


def _check_output(o):
    if not isinstance(o, Tensor):
        raise MatdiffError(f"backward needs Tensors as outputs, got {type(o).__name__}")
    if not o.requires_grad:
        raise GraphError("an output does not require grad: no input it depends on has requires_grad=True "
                         "(or it was computed under md.no_grad())")


def _unit_seeds(outputs):
    """backward() without seeds: each output must be a real scalar, seeded with 1."""
    for o in outputs:
        _check_output(o)
        if int(np.prod(o.shape)) != 1 or o.backend.is_complex(o.dtype):
            raise GraphError(f"backward() without seeds needs a real scalar output, got shape {o.shape} dtype "
                             f"{o.backend.dtype_name(o.dtype)}; reduce it to a real scalar loss (md.sum, .real) "
                             "or pass seeds: md.backward([Y], [Ybar])")
    return [o.backend.astype(o.backend.from_host(np.ones(o.shape)), o.dtype) for o in outputs]


def backward(outputs: Tensor | Sequence[Tensor], seeds: Any = None, *, retain_graph: bool | None = None,
             create_graph: bool = False, trace: bool = False) -> None:
    """Reverse sweep from several outputs at once; leaves (and intermediates) receive ``.grad``.

    ``seeds`` are the outputs' adjoints (arrays or Tensors); without them each output must be a real scalar.
    ``retain_graph=True`` keeps the saved values for another sweep (default: ``create_graph``).
    ``create_graph=True`` records the backward pass itself as nodes: ``.grad`` then holds Tensors that can be
    differentiated again (a Hessian-vector product is a backward of a gradient; see :mod:`matdiff.ops.on_tensors`).
    ``trace=True`` prints each node as the sweep visits it -- numbered from #1 in execution order, its rule in
    the graph's names and its equation, the adjoints coming in and going out (values for small matrices).
    """
    given = _as_list(seeds) if create_graph and seeds is not None else None
    outputs, seeds = prepare(outputs, seeds)
    trace = _Trace(outputs) if trace else None
    if create_graph:
        graph_sweep(outputs, _keep_tensors(given, seeds), retain_graph=retain_graph is not False, trace=trace)
    else:
        backward_sweep(outputs, seeds, retain_graph=bool(retain_graph), trace=trace)


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor], seeds: Any = None, *,
         retain_graph: bool | None = None, create_graph: bool = False) -> list:
    """Adjoints of ``inputs`` without touching ``.grad``: arrays (zeros where nothing flowed), or, with
    ``create_graph=True``, Tensors whose own graph records the backward pass, so they can be differentiated again
    (``md.grad(md.grad(L, [A], create_graph=True)[0] ..., [A], [V])`` is a Hessian-vector product)."""
    if create_graph:
        given = _as_list(seeds) if seeds is not None else None
        outputs, arrays = prepare(outputs, seeds)
        inputs = _as_list(inputs)
        got = graph_sweep(outputs, _keep_tensors(given, arrays), capture=inputs, set_grads=False,
                          retain_graph=retain_graph is not False)
        return [g if g is not None else Tensor(t.backend.zeros(t.shape, t.dtype), t.backend)
                for g, t in zip(got, inputs)]
    return _grad(outputs, inputs, seeds, bool(retain_graph), 0)


def _keep_tensors(given, arrays):
    """The seeds for a recorded sweep: a Tensor seed stays a Tensor (one may differentiate with respect to it)."""
    if given is None:
        return arrays
    return [g if isinstance(g, Tensor) and g.dtype == a.dtype else a for g, a in zip(given, arrays)]


def grad_batched(outputs, inputs, seeds, lead):
    """:func:`grad` for seeds with ``lead`` extra leading axes, each slice an independent seed (gradcheck's rows,
    finite by construction: not scanned); the graph is kept."""
    return _grad(outputs, inputs, seeds, True, lead, finite=True)


def _grad(outputs, inputs, seeds, retain_graph, lead, finite=False):
    outputs, seeds = prepare(outputs, seeds, lead, finite)
    inputs = _as_list(inputs)
    got = backward_sweep(outputs, seeds, retain_graph=retain_graph, capture=inputs, set_grads=False, lead=lead)
    lead_shape = tuple(seeds[0].shape[:lead])
    return [g if g is not None else t.backend.zeros(lead_shape + t.shape, t.dtype) for g, t in zip(got, inputs)]


def jvp(f: Callable[..., Any], primals: Any, tangents: Any) -> tuple:
    """Forward mode: ``(f(*primals), J tangents)`` from the ops' jvp rules.

    ``f`` maps Tensors to a Tensor or a tuple of Tensors; ``tangents`` has one array per primal (same
    shape). Returns ``(outputs, output_tangents)`` with the same structure as ``f``'s result.
    """
    primals, tangents = _as_list(primals), _as_list(tangents)
    if len(primals) != len(tangents):
        raise MatdiffError(f"{len(primals)} primals but {len(tangents)} tangents; give one tangent per primal")
    leaves = [tensor(p.data if isinstance(p, Tensor) else p, requires_grad=True) for p in primals]
    tmap = {}
    for leaf, d in zip(leaves, tangents):
        d = _seed_array(leaf, d, what="tangent")
        tmap[id(leaf)] = d
    with Tape() as tape:
        out = f(*leaves)
    forward_sweep(tape.nodes, tmap)
    outs = out if isinstance(out, tuple) else (out,)
    dots = []
    for o in outs:
        if isinstance(o, Tensor) and o.backend.is_float(o.dtype):
            dots.append(tmap.get(id(o), o.backend.zeros(o.shape, o.dtype)))
        else:
            dots.append(None)
    return out, (tuple(dots) if isinstance(out, tuple) else dots[0])


# -- the step-by-step trace -------------------------------------------------------------------------
def _describe(b, name, a):
    host = b.to_host(a)
    line = f"{name}: shape {tuple(host.shape)}, norm {show.norm(host):.4g}"
    if host.size <= show.SMALL:
        line += "\n" + _indent(show.text(host), 10)
    return line


def _indent(text, n):
    return "\n".join(" " * n + ln for ln in text.splitlines())


class _Trace:
    """Printed by ``backward(trace=True)``: one node at a time, in the graph's names (notation.Names)."""

    def __init__(self, outputs):
        nodes = graph_nodes(outputs)
        self.names, self.number = Names(nodes), {id(n): k + 1 for k, n in enumerate(nodes)}

    def __call__(self, node, cots, grads):
        b, names = node.ctx.b, self.names
        where = f"   [{cite(node)}]" if cite(node) else ""
        print(f"── node #{self.number[id(node)]} {node.op.name}: {names.rule(node)}{where}")
        for o, c in zip(node.outputs, cots):
            name = bar(names.name(o))
            print("   in  " + (_describe(b, name, c) if c is not None else f"{name}: 0 (this output was not used)"))
        for i, g, need in zip(node.inputs, grads, node.ctx.needs_grad):
            if g is not None and need:
                print("   out " + _describe(b, bar(names.name(i)) + " (this node's part)", g))


def tensor_backward(self: Tensor, seed: Any = None, *, retain_graph: bool | None = None, create_graph: bool = False,
             trace: bool = False) -> None:
    """Reverse sweep from this tensor; every leaf (and intermediate) that requires grad gets ``.grad``.

    Without ``seed`` the tensor must be a real scalar (as in PyTorch); ``seed`` is its adjoint otherwise.
    ``retain_graph=True`` keeps the saved values for a second backward. ``create_graph=True`` records the
    backward pass as nodes, so ``.grad`` holds Tensors that can be differentiated again. ``trace=True`` prints
    each node as the sweep visits it: its op, the equation, the adjoints coming in and going out (values for
    small matrices, shape and norm for large ones) -- backward, watched step by step.

    ``.grad`` of a leaf accumulates: each backward *adds* to it (as PyTorch), so a training loop resets it first,
    ``A.grad = None``; an intermediate's ``.grad`` is replaced by the latest backward.
    """
    backward([self], None if seed is None else [seed], retain_graph=retain_graph, create_graph=create_graph,
             trace=trace)


# -- Tensor's whole surface, in one table: each name a user calls on a Tensor -> what it runs. The operators are the
# ops' call paths themselves (``A @ B`` is ``matmul.apply``: a plain function binds as the method, one frame per
# node); the rest is defined where it belongs (engine/tensor.py, ops/__init__.py, this file).
SURFACE = {
    "__matmul__": _e.matmul_op.apply, "__rmatmul__": lambda A, B: _e.matmul_op.apply(B, A),
    "__add__": _e.add_op.apply, "__radd__": lambda A, B: _e.add_op.apply(B, A),
    "__sub__": _e.sub_op.apply, "__rsub__": lambda A, B: _e.sub_op.apply(B, A),
    "__mul__": _e.times, "__rmul__": rmul, "__truediv__": truediv, "__rtruediv__": rtruediv,
    "__neg__": _e.neg_op.apply, "__getitem__": lambda A, key: _s.slice_op.apply(A, key=key),
    "T": property(_e.transpose_op.apply, doc="Swap the last two axes (a transpose node)."),
    "mH": property(_e.adjoint_op.apply, doc="Conjugate transpose of the last two axes (an adjoint node)."),
    "real": property(_e.real_op.apply, doc="Real part (a real node)."),
    "conj": _e.conj_op.apply, "sum": lambda A, axis=None: _e.sum_op.apply(A, axis=axis), "reshape": reshape_method,
    "backward": tensor_backward,
    "__float__": as_float, "__complex__": as_complex, "__int__": as_int, "__bool__": refuses("bool(T) / `if T:`"),
    "__lt__": refuses("T < x"), "__le__": refuses("T <= x"), "__gt__": refuses("T > x"), "__ge__": refuses("T >= x"),
    "__eq__": equals, "__ne__": not_equals, "__len__": length, "__iter__": rows, "__abs__": no_abs,
    "__pow__": no_power, "__rpow__": no_power,
    "__array__": as_array, "__array_ufunc__": array_ufunc, "__array_function__": array_function,
}
for _name, _method in SURFACE.items():
    setattr(Tensor, _name, _method)
