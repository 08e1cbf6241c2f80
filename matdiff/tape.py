"""The tape: nodes, the Wengert list, grad mode, and the checks a sweep defers.

Every application of a registered op to tensors that require grad records one :class:`Node` --
``(op, inputs, outputs, ctx)`` with ``ctx`` holding what the forward saved. Nodes get increasing
sequence numbers, so sorting the nodes that lead to an output by number recovers the Wengert list in
execution order (``graph_nodes``); ``md.Tape()`` also records them as they are made, for a learner to print.
The sweeps over that list live in ``sweeps.py``.

This layer knows tensors only by duck type (``.node``, ``.data``, ``.grad``, ``.requires_grad``).
"""
import itertools
import math
import threading
from contextlib import contextmanager
from operator import attrgetter

from .notation import Names

_seq = itertools.count()
_TAPES = []                       # the Tapes being recorded into (``with md.Tape()``), innermost last


class _GradMode(threading.local):
    """Grad mode is per thread, as in PyTorch (gradcheck evaluates in threads); ``off`` under ``no_grad``."""

    off = False


_local = _GradMode()


class Context:
    """What a node keeps for its rules: the backend ``b``, ``needs_grad`` (per input: does it want an adjoint?),
    saved arrays, and whatever the forward stores. The call path (op.py) sets ``b`` and ``needs_grad``."""

    saved = ()

    def save(self, *arrays):
        self.saved = arrays


class Node:
    """One op application on the tape."""

    __slots__ = ("op", "inputs", "outputs", "ctx", "params", "seq", "origin")

    def __init__(self, op, inputs, outputs, ctx, params):
        self.op = op
        self.inputs = inputs
        self.outputs = outputs
        self.ctx = ctx
        self.params = params              # the call's keyword arguments (axis=, perm=...): to re-run the node alone
        self.seq = next(_seq)
        self.origin = None                # "backward" for a node recorded by a create_graph sweep
        if _TAPES:
            for tape in _TAPES:
                tape.nodes.append(self)

    freed = property(lambda self: self.ctx is None, doc="Were the saved values dropped (by a backward)?")

    def free(self):
        """Drop the saved values (what backward needed); the node stays in the graph, ``freed``."""
        self.ctx = None

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


class _deferred_checks:
    """The window of one sweep (``with _deferred_checks():``): checks requested inside it are settled when it
    closes, if nothing else failed. A class, not a generator: it opens on every sweep, so its cost counts."""

    __slots__ = ("outer",)

    def __enter__(self):
        self.outer, _checks.pending = _checks.pending, []

    def __exit__(self, exc_type, *_):
        pending, _checks.pending = _checks.pending, self.outer
        if exc_type is None and pending:
            _settle(pending)
        return False


def _settle(pending):
    """Run the pending checks on one host copy of all their values (the one synchronisation of the sweep)."""
    b = pending[0][0]
    flat = b.concat([b.reshape(b.astype(v, b.xp.float64), (-1,)) for _, v, _ in pending], axis=0)
    host, start = b.to_host(flat), 0
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
    seen, stack = {}, [t.node for t in outputs if t.node is not None]      # seen: an ordered set (a dict)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen[node] = None
        for t in node.inputs:
            n = t.node
            if n is not None and n not in seen:
                stack.append(n)
    return sorted(seen, key=_SEQ)


_SEQ = attrgetter("seq")
