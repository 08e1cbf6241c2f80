"""The tape: a Wengert list of nodes, and the two sweeps over it.

Every application of a registered op to tensors that require grad records one :class:`Node` --
``(op, inputs, outputs, ctx)`` with ``ctx`` holding what the forward saved. Nodes get increasing
sequence numbers, so sorting the nodes that lead to an output by number recovers the Wengert list in
execution order. ``backward_sweep`` walks that list in reverse (a plain loop: no recursion, so a chain of
10,000 nodes is fine), asks each op's ``vjp`` for its inputs' adjoints and accumulates them: a tensor used
twice receives the sum, an output nobody used gets a zero adjoint. ``forward_sweep`` walks a recorded list
forwards through the ops' ``jvp``.

This layer knows tensors only by duck type (``.node``, ``.data``, ``.grad``, ``.requires_grad``).
"""
import itertools
import math
import threading
from contextlib import contextmanager

from .errors import GraphError
from .notation import Names

_seq = itertools.count()
_TAPES = []                       # the Tapes being recorded into (``with md.Tape()``), innermost last


class _GradMode(threading.local):
    """Grad mode is per thread, as in PyTorch (gradcheck evaluates in threads); ``off`` under ``no_grad``."""

    off = False


_local = _GradMode()


class Context:
    """What a node keeps for its rules: the backend ``b``, saved arrays, and whatever the forward stores."""

    saved = ()

    def __init__(self, b, needs_grad):
        self.b = b
        self.needs_grad = needs_grad   # per input: does it want an adjoint?

    def save(self, *arrays):
        self.saved = arrays


class Node:
    """One op application on the tape."""

    __slots__ = ("op", "inputs", "outputs", "ctx", "params", "seq", "freed", "origin")

    def __init__(self, op, inputs, outputs, ctx, params):
        self.op, self.inputs, self.outputs, self.ctx = op, inputs, outputs, ctx
        self.params = params              # the call's keyword arguments (axis=, perm=...): to re-run the node alone
        self.seq = next(_seq)
        self.freed = False
        self.origin = None                # "backward" for a node recorded by a create_graph sweep
        if _TAPES:
            for tape in _TAPES:
                tape.nodes.append(self)

    def free(self):
        """Drop the saved values (what backward needed); the node stays in the graph, marked freed."""
        self.ctx = None
        self.freed = True

    def __repr__(self):
        ins = ", ".join(_label(t) for t in self.inputs)
        outs = ", ".join(_label(t) for t in self.outputs)
        ref = getattr(self.op, "ref", "")
        return f"#{self.seq} {self.op.name}({ins}) -> {outs}" + (f"   [{ref}]" if ref else "")


def _label(t):
    shape = "x".join(map(str, t.shape)) or "scalar"
    return f"{t.name or '_'}:{shape}"


class Tape:
    """Context manager that records every node created inside it, in execution order, for a learner.

    >>> with md.Tape() as tape:
    ...     Q, R = md.qr(A)
    >>> print(tape)          # one line per node: op, inputs, outputs, the paper's equation
    """

    def __init__(self):
        self.nodes = []

    def __enter__(self):
        _TAPES.append(self)
        return self

    def __exit__(self, *exc):
        _TAPES.remove(self)
        return False

    def __len__(self):
        return len(self.nodes)

    def __iter__(self):
        return iter(self.nodes)

    def __str__(self):
        """One line per node, numbered from #1 in this tape, in the paper's notation with the graph's names."""
        names = Names(self.nodes)
        return "\n".join(names.line(k + 1, n) for k, n in enumerate(self.nodes)) or "(empty tape)"

    __repr__ = __str__


class _Checks(threading.local):
    """The checks a sweep defers (per thread): None outside a sweep, else a list of (backend, values, callback)."""

    pending = None


_checks = _Checks()


def check_later(b, values, callback):
    """Run ``callback(host copy of values)`` -- now, or, on a backend whose host copies synchronise a device
    (``b.defers_checks``: CuPy) and inside a sweep, at the sweep's end together with every other pending check,
    in one device-to-host copy and before any ``.grad`` is written. Rules use it for checks that raise (rank)."""
    if _checks.pending is None or not b.defers_checks:
        callback(b.to_host(values))
    else:
        _checks.pending.append((b, values, callback))


@contextmanager
def _deferred_checks():
    """The window of one sweep: checks requested inside it are settled when it closes (if nothing else failed)."""
    outer, _checks.pending = _checks.pending, []
    try:
        yield
        pending = _checks.pending
    finally:
        _checks.pending = outer
    if pending:
        b = pending[0][0]
        flat = b.concat([b.reshape(b.astype(v, b.xp.float64), (-1,)) for _, v, _ in pending], axis=0)
        host, start = b.to_host(flat), 0                    # the one synchronisation of the sweep
        for _, v, callback in pending:
            size = math.prod(v.shape)
            callback(host[start:start + size].reshape(tuple(v.shape)))
            start += size


@contextmanager
def no_grad():
    """Within this block ops record nothing (outputs do not require grad), as ``torch.no_grad``; per thread."""
    old = _local.off
    _local.off = True
    try:
        yield
    finally:
        _local.off = old


@contextmanager
def enable_grad():
    """Record again inside a ``no_grad`` block (as ``torch.enable_grad``); per thread."""
    old = _local.off
    _local.off = False
    try:
        yield
    finally:
        _local.off = old


def grad_enabled():
    return not _local.off


def graph_nodes(outputs):
    """All nodes that lead to ``outputs``, sorted in execution order (the Wengert list), found by a loop."""
    seen, stack, nodes = set(), [t.node for t in outputs if t.node is not None], []
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        nodes.append(node)
        for t in node.inputs:
            n = t.node
            if n is not None and n not in seen:
                stack.append(n)
    nodes.sort(key=_seq_of)
    return nodes


def _seq_of(node):
    return node.seq


def fit(b, g, shape, dtype, lead=0):
    """Bring adjoint ``g`` back to an input's ``shape`` and ``dtype``.

    Axes that broadcasting added or stretched are summed; a real input takes the real part of a
    complex adjoint (PyTorch's convention ``dL/dRe``). ``lead`` leading axes of ``g`` are a batch of
    independent seeds (used by gradcheck) and are kept.
    """
    if g.shape == shape and g.dtype == dtype:    # the common case, first
        return g
    target = g.shape[:lead] + tuple(shape)
    if g.shape != target:
        extra = g.ndim - len(target)
        if extra > 0:
            g = b.sum(g, axis=tuple(range(lead, lead + extra)))
        axes = tuple(i for i in range(lead, g.ndim) if target[i] == 1 and g.shape[i] != 1) \
            if g.ndim == len(target) else ()
        if axes:
            g = b.sum(g, axis=axes, keepdims=True)
        if g.shape != target:   # a tangent of a broadcast input (forward mode): stretch it
            g = b.broadcast_to(g, target)
    if not b.is_complex(dtype) and b.is_complex(g.dtype):
        g = b.real(g)
    return b.astype(g, dtype)


def backward_sweep(outputs, seeds, *, retain_graph=False, capture=None, set_grads=True, lead=0, trace=None,
                   context=None):
    """Reverse sweep from ``outputs`` seeded with ``seeds`` (arrays fitted to the outputs already).

    Leaves (and, since this is a teaching engine, every intermediate that requires grad) get ``.grad`` when
    ``set_grads``; leaves accumulate over calls, intermediates hold the last adjoint. ``capture`` lists tensors whose
    total adjoints are returned (None where nothing flowed). ``lead`` leading axes of the seeds are a batch of
    independent seeds (gradcheck's rows). Nodes are freed afterwards unless ``retain_graph``. All or nothing: if a
    rule raises (a rank-deficient QR, say), no ``.grad`` is written and no node is freed. ``context(node)``, if given,
    is the context the rules receive instead of ``node.ctx`` (create_graph=True hands them Tensors: graph.py).
    """
    adj = _Adjoints(outputs, seeds)
    visited = []
    with _deferred_checks():                         # a GPU's checks reach the host once, here, before any write
        for node in reversed(graph_nodes(outputs)):
            cots = adj.pop(node.outputs)             # None for an output nobody used
            if cots is None:
                continue                             # nothing flows through this node
            grads = _vjp(node, cots, lead, context)  # one adjoint per input, checked
            if trace is not None:
                trace(node, cots, grads)
            adj.add(node.inputs, grads, node.ctx.needs_grad)
            visited.append((node, cots))
    return _commit(visited, adj, capture, set_grads, retain_graph)


class _Adjoints:
    """The running sums: ``id(tensor) -> [tensor, adjoint]``; a tensor used twice receives the sum."""

    def __init__(self, outputs, seeds):
        self.sums = {}
        self.add(outputs, seeds, None)

    def add(self, tensors, grads, needs):
        sums = self.sums
        for k, (t, g) in enumerate(zip(tensors, grads)):
            if g is None or (needs is not None and not needs[k]):
                continue
            entry = sums.get(id(t))
            if entry is None:
                sums[id(t)] = [t, g]
            else:
                entry[1] = entry[1] + g

    def pop(self, outputs):
        sums = self.sums
        if len(outputs) == 1:
            entry = sums.pop(id(outputs[0]), None)
            return None if entry is None else [entry[1]]
        cots = [sums.pop(id(o), (None, None))[1] for o in outputs]
        return None if all(c is None for c in cots) else cots


def _vjp(node, cots, lead, context):
    """The node's vjp on its output adjoints (zeros for unused outputs unless the op takes None), checked."""
    if node.freed:
        raise GraphError(
            f"backward reached node #{node.seq} ({node.op.name}) whose saved values were freed by an earlier "
            "backward; pass retain_graph=True to the first backward() to differentiate the same graph twice")
    ctx = node.ctx if context is None else context(node)
    if len(cots) > 1 and not node.op.takes_none:
        cots = [c if c is not None else ctx.b.zeros(_zero_shape(cots, o, lead), o.dtype)
                for c, o in zip(cots, node.outputs)]
    grads = node.op.vjp(ctx, *cots)
    if type(grads) is not tuple:
        grads = tuple(grads) if isinstance(grads, list) else (grads,)
    if len(grads) != len(node.inputs):
        raise GraphError(f"op {node.op.name!r}: its vjp returned {len(grads)} adjoint(s) for {len(node.inputs)} "
                         "input(s); a vjp returns one adjoint per input, in order (None where none is needed)")
    at, fixed = ctx.b.array_type, None
    for k, (inp, g, need) in enumerate(zip(node.inputs, grads, ctx.needs_grad)):
        if g is None or not need:
            continue
        d = inp.data
        if type(g) is not at or g.shape != d.shape or g.dtype != d.dtype:
            fixed = fixed or list(grads)
            fixed[k] = fit(ctx.b, _conforming(node, ctx.b, "vjp", "adjoint", grads, g, d.shape, lead, reduce=True),
                           d.shape, d.dtype, lead)
    return grads if fixed is None else fixed


def _zero_shape(cots, o, lead):
    """Shape of a zero adjoint for output ``o``: its shape, behind the seed-batch axes of a sibling."""
    if lead:
        sib = next(c for c in cots if c is not None)
        return sib.shape[:lead] + tuple(o.shape)
    return tuple(o.shape)


def _commit(visited, adj, capture, set_grads, retain_graph):
    """The sweep went through: write ``.grad`` (intermediates, then leaves), free the nodes, return the captured."""
    want = {id(t) for t in capture} if capture is not None else ()
    captured = {}
    for node, cots in visited:
        for o, c in zip(node.outputs, cots):
            if id(o) in want:
                captured[id(o)] = c
            if set_grads and o.requires_grad:
                o.grad = c if c is not None else node.ctx.b.zeros(tuple(o.shape), o.dtype)
    if not retain_graph:
        for node, _ in visited:
            node.free()
    for key, (t, g) in adj.sums.items():             # what is left belongs to leaves
        if key in want:
            captured[key] = g
        if set_grads and t.requires_grad:
            t.grad = g if t.grad is None else t.grad + g
    if capture is None:
        return None
    return [captured.get(id(t)) for t in capture]


def _conforming(node, b, rule, what, returned, g, shape, lead, reduce):
    """``g`` (one of what the rule ``returned``) if it is an array of the node's backend whose shape fits ``shape``,
    else a GraphError naming the op and which of its results is wrong.

    Fits: equal, or (``reduce``, for adjoints) extra leading axes / size-1 axes that broadcasting stretched and
    the engine sums away; for tangents, a broadcastable shape. Anything else is a bug in the op's rule.
    """
    given = g
    which = lambda: next(i for i, x in enumerate(returned) if x is given)  # noqa: E731  (only for the message)
    g = b.own(g)
    if g is None:
        raise GraphError(f"op {node.op.name!r}: its {rule} returned a {type(given).__name__} as {what} {which()}; "
                         f"rules work on arrays of the backend ({b.name}), never on Tensors or lists")
    got, want = tuple(g.shape[lead:]), tuple(shape)
    if reduce:
        ok = len(got) >= len(want) and all(w in (gd, 1) for gd, w in zip(got[len(got) - len(want):], want))
    else:
        ok = len(got) <= len(want) and all(gd in (w, 1) for gd, w in zip(got, want[len(want) - len(got):]))
    if not ok:
        side = "input" if reduce else "output"
        raise GraphError(f"op {node.op.name!r}: its {rule} returned {what} {which()} of shape {tuple(g.shape)} for "
                         f"an {side} of shape {want}; a {rule} must return, for each {side}, an array of that "
                         f"{side}'s shape")
    return g


def forward_sweep(nodes, tangents):
    """Push tangents through ``nodes`` (a recorded list, in order) with each op's ``jvp``.

    ``tangents`` maps ``id(tensor)`` to its tangent array (inputs that carry none are treated as zero,
    i.e. passed as None). Returns the updated map, with a tangent for every output that a tangent reached; a node
    none of whose inputs carries a tangent is skipped, and its outputs get none (callers read them as zero).
    """
    with _deferred_checks():
        _push_tangents(nodes, tangents)
    return tangents


def _push_tangents(nodes, tangents):
    for node in nodes:
        if node.freed:
            raise GraphError(f"node #{node.seq} ({node.op.name}) was freed; forward mode needs its saved values")
        ins = [tangents.get(id(t)) for t in node.inputs]
        if all(d is None for d in ins):
            continue
        outs = node.op.jvp(node.ctx, *ins)
        if not isinstance(outs, (tuple, list)):
            outs = (outs,)
        if len(outs) != len(node.outputs):
            raise GraphError(f"op {node.op.name!r}: its jvp returned {len(outs)} tangent(s) for {len(node.outputs)} "
                             "output(s); a jvp returns one tangent per output, in order")
        b = node.ctx.b
        for o, d in zip(node.outputs, outs):
            if d is not None:
                tangents[id(o)] = fit(b, _conforming(node, b, "jvp", "tangent", outs, d, o.shape, 0, reduce=False),
                                      o.shape, o.dtype)
