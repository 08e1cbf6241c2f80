"""The tape: nodes, the Wengert list, grad mode, and the checks a sweep defers.

Every application of a registered op to tensors that require grad records one :class:`Node` --
``(op, inputs, outputs, ctx)`` with ``ctx`` holding what the forward saved. Nodes get increasing
sequence numbers, so sorting the nodes that lead to an output by number recovers the Wengert list in
execution order (``graph_nodes``); ``md.Tape()`` also records them as they are made, for a learner to print.
The sweeps over that list live in ``sweeps.py``.

**Saved values that change after the forward** are never used silently (a backward or jvp raises a GraphError
naming the tensor, the node and the fix), by the cheapest check for each way a value can change:

* ``T.data = X`` (and ``T.data *= 2``, which ends in the setter) notes the write's sequence number (``note_write``);
  a sweep compares it with its nodes' numbers only if some write came after its first node -- one comparison per
  sweep otherwise;
* an op's output array is made read-only the first time it is handed out (``T.data``, ``T.numpy()``,
  ``np.asarray(T)``: ``exposed``), so ``Q.data[:] = 0`` fails at the write with NumPy's "assignment destination is
  read-only" -- a flag set once, nothing per node;
* a leaf's array is the user's (``md.tensor`` does not copy, and freezing a user's own array would surprise), so
  each node that takes a leaf keeps a stamp of it (``Node.stamps``: a copy of its bytes up to 4 KiB -- cheaper than
  a CRC call --, else their CRC-32) and the sweep compares it at that node: ``A.data[0, 0] += 5``, or a write to
  the NumPy array the leaf was made from, is caught there. (A change to a large leaf escapes only if it keeps the
  CRC, odds 2^-32; on GPU and array_api_strict arrays only ``.data =`` writes are seen.)

This layer knows tensors only by duck type (``.node``, ``._data``, ``.grad``, ``.requires_grad``).
"""
import itertools
import math
import threading
import weakref
import zlib
from contextlib import contextmanager
from operator import attrgetter

import numpy as np

from ..errors import GraphError
from .notation import Names

_seq = itertools.count()


class _PerThread(threading.local):
    """What is per thread, as in PyTorch (gradcheck evaluates in threads): grad mode (``off`` under ``no_grad``)
    and the Tapes recording (``with md.Tape()``, innermost last) -- a Tape sees the nodes of the thread that
    entered it, from its ``with`` to its end, never another thread's."""

    off = False
    tapes = ()
    known = None                  # inside a create_graph sweep: the user's leaf arrays it met (see user_leaves)


per_thread = _PerThread()
_OPEN = []                        # every Tape open now, in any thread: Node reads this first, as it costs less
_SWEEPS = []                      # every create_graph sweep open now, in any thread: stamp reads this first


class Context:
    """What a node keeps for its rules: the backend ``b``, ``needs_grad`` (per input: does it want an adjoint?),
    saved arrays, and whatever the forward stores. The call path (op.py) sets ``b`` and ``needs_grad``."""

    saved = ()

    def save(self, *arrays):
        self.saved = arrays


class Node:
    """One op application on the tape."""

    __slots__ = ("op", "inputs", "outputs", "ctx", "params", "seq", "origin", "stamps")

    def __init__(self, op, inputs, outputs, ctx, params, stamps=None):
        self.op = op
        self.inputs = inputs
        self.outputs = outputs
        self.ctx = ctx
        self.params = params              # the call's keyword arguments (axis=, perm=...): to re-run the node alone
        self.seq = next(_seq)
        self.origin = None                # "backward" for a node recorded by a create_graph sweep
        self.stamps = stamps              # ``stamp(inputs)``: (leaf, array, its bytes or CRC) per leaf input
        if _OPEN:                         # a Tape is open in some thread (a global test: cheap when none is)
            for tape in per_thread.tapes:
                tape.nodes.append(self)

    freed = property(lambda self: self.ctx is None, doc="Were the saved values dropped (by a backward)?")

    @property
    def needs_grad(self):
        """Per input: does it want an adjoint? (The context's; once freed, the inputs' ``requires_grad``.)"""
        return self.ctx.needs_grad if self.ctx is not None else tuple(t.requires_grad for t in self.inputs)

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
        per_thread.tapes += (self,)
        _OPEN.append(self)
        return self

    def __exit__(self, *exc):
        per_thread.tapes = tuple(t for t in per_thread.tapes if t is not self)
        _OPEN.remove(self)
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
    flat = b.concat([b.reshape(b.astype(v, b.float64), (-1,)) for _, v, _ in pending], axis=0)
    host, start = b.to_host(flat), 0
    for _, v, callback in pending:
        size = math.prod(v.shape)
        callback(host[start:start + size].reshape(tuple(v.shape)))
        start += size


@contextmanager
def _grad_mode(off):
    """Grad mode ``off`` (True: record nothing) for the block, then back to what it was; per thread."""
    old, per_thread.off = per_thread.off, off
    try:
        yield
    finally:
        per_thread.off = old


def no_grad():
    """Within this block ops record nothing (outputs do not require grad), as ``torch.no_grad``; per thread."""
    return _grad_mode(True)


def enable_grad():
    """Record again inside a ``no_grad`` block (as ``torch.enable_grad``); per thread."""
    return _grad_mode(False)


def grad_enabled():
    return not per_thread.off


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


# -- saved values changed after the forward (see the module docstring) ------------------------------------------
class _Writes:
    """``last``: the sequence number of the latest ``T.data = ...`` anywhere (an instance attribute: faster to read)."""


_writes = _Writes()
_writes.last = -1
_WRITTEN = weakref.WeakKeyDictionary()      # tensor -> sequence number of its latest ``.data =``


def note_write(t):
    """``T.data = X`` happened now (the setter of Tensor.data; ``T.data *= 2`` ends there too)."""
    _writes.last = _WRITTEN[t] = next(_seq)


def exposed(t):
    """``t._data`` about to be handed out by ``t.data``: an op output's NumPy array becomes read-only (once), as the
    nodes that saved it need it unchanged. Not when it *is* a leaf's own array (an identity forward, ``real`` of a
    real input): that stays the user's, and the leaf's stamp catches a write to it."""
    d = t._data
    if d.__class__ is np.ndarray and d.flags.writeable and not _leaf_array(t, d):
        d.flags.writeable = False
    return d


def _leaf_array(t, d):
    for x in t.node.inputs:
        if x._data is d:
            return x.node is None or _leaf_array(x, d)
    return False


_ndarray = np.ndarray
_SMALL = 4096                     # bytes: a leaf this small is stamped with its bytes, a larger one with a CRC


def fingerprint(a):
    """What a leaf's NumPy array is stamped with: its bytes (up to 4 KiB: exact, and cheaper than a CRC call), else
    their CRC-32. None for other arrays (a GPU's memory is not read back for a check)."""
    if a.__class__ is not np.ndarray:
        return None
    if a.nbytes <= _SMALL:
        return a.tobytes()
    try:
        return zlib.crc32(a)
    except ValueError:                            # not C-contiguous: the CRC of a contiguous copy
        return zlib.crc32(np.ascontiguousarray(a))


def stamp(inputs):
    """``(tensor, array, fingerprint)`` for each NumPy leaf among a new node's ``inputs``, or None: what
    ``check_stamps`` compares at backward. (Inside a create_graph sweep: ``_stamp_in_sweep``.)"""
    if len(inputs) == 1:                          # unary nodes, inline
        t = inputs[0]
        d = t._data
        if t.node is None and d.__class__ is _ndarray:
            if _SWEEPS and per_thread.known is not None:
                return _stamp_in_sweep(inputs, per_thread.known)
            return ((t, d, d.tobytes() if d.nbytes <= _SMALL else fingerprint(d)),)
        return None
    out = ()
    for t in inputs:
        if t.node is None:
            d = t._data
            if d.__class__ is _ndarray:
                if _SWEEPS and per_thread.known is not None:
                    return _stamp_in_sweep(inputs, per_thread.known)
                out += ((t, d, d.tobytes() if d.nbytes <= _SMALL else fingerprint(d)),)
    return out or None


@contextmanager
def user_leaves(known):
    """The window of one create_graph sweep: ``known`` maps ``id(array)`` to ``(array, fingerprint or None)`` for
    the user's arrays it has met -- its seeds; the leaves of each node it sweeps, verified there; the arrays that
    node's forward stored as attributes (the sweep's context adds them) -- and ``stamp`` then stamps a leaf of a
    recorded node only if it is one of them or a view of one (``_stamp_in_sweep``)."""
    old, per_thread.known = per_thread.known, known
    _SWEEPS.append(known)
    try:
        yield known
    finally:
        _SWEEPS.remove(known)
        per_thread.known = old


def _stamp_in_sweep(inputs, known):
    """``stamp`` for a node recorded by a create_graph sweep. A user's leaf keeps the fingerprint the sweep has just
    verified (no second CRC); a view of one is stamped as usual. A leaf the sweep made itself -- an adjoint computed
    from constants, a mask -- is held by nobody outside, so it is not stamped but made read-only: a later write to
    it fails at the write, as for an op's output (``exposed``). These fingerprints were a fifth of an HVP's time."""
    out = ()
    for t in inputs:
        d = t._data
        if t.node is None and d.__class__ is _ndarray:
            x = root = d
            while x is not None:
                root = x
                hit = known.get(id(x))
                if hit is not None:               # the user's array, or a view of one
                    if x is not d:
                        out += ((t, d, fingerprint(d)),)
                    else:
                        if hit[1] is None:        # a seed or a ctx attribute, first met here
                            hit = known[id(d)] = (d, fingerprint(d))
                        out += ((t, d, hit[1]),)
                    break
                x = x.base
                if x is not None and x.__class__ is not _ndarray:   # memory from outside NumPy: stamp it
                    out += ((t, d, fingerprint(d)),)
                    break
            else:                                 # made by this sweep from constants (a view: and its base)
                d.flags.writeable = root.flags.writeable = False
    return out or None


def check_stamps(node, nodes):
    """Raise if a leaf input of ``node`` no longer holds the array it had at the forward, or that array changed.
    (Not for a freed node: the sweep then says it was freed, the first thing to fix.)"""
    if node.ctx is None:
        return
    for t, d, c in node.stamps:
        if t._data is not d:
            raise _changed(t, node, nodes, "its .data was assigned a new array")
        if (d.tobytes() if d.nbytes <= _SMALL else fingerprint(d)) != c:
            raise _changed(t, node, nodes, "its array was written in place (T.data[...] = ..., or a write to the "
                                           "NumPy array it was made from: md.tensor does not copy)")


def check_writes(nodes):
    """If some ``T.data = ...`` came after the first of ``nodes`` (in execution order), raise for the first node
    with an input or output written after it was recorded. One comparison when nothing was written since."""
    if not nodes or _writes.last < nodes[0].seq:       # (the sweeps test this inline before calling)
        return
    for node in nodes:
        if node.ctx is None:                      # freed: the sweep says so, the first thing to fix
            continue
        for t in (*node.inputs, *node.outputs):
            w = _WRITTEN.get(t)
            if w is not None and w > node.seq:
                raise _changed(t, node, nodes, "its .data was assigned (T.data = ..., or T.data *= ... which ends "
                                               "in an assignment)")


def _changed(t, node, nodes, how):
    """The GraphError for tensor ``t`` of ``node`` changed since the forward; nodes numbered as a printed tape
    of ``nodes`` numbers them (from #1, in execution order)."""
    number = {id(n): k + 1 for k, n in enumerate(nodes)}
    role = "input" if any(x is t for x in node.inputs) else "output"
    if t.node is None:
        made = f"a leaf, shape {tuple(t.shape)}"
    else:
        k = next(i for i, o in enumerate(t.node.outputs) if o is t)
        made = f"output {k} of node #{number.get(id(t.node), '?')} {t.node.op.name}, shape {tuple(t.shape)}"
    what = f"{t.name!r} ({made})" if t.name else f"({made})"
    return GraphError(
        f"node #{number[id(node)]} ({node.op.name}) saved values that changed after the forward: its {role} {what} "
        f"changed -- {how}. Its derivative would mix the old values with the new. Re-run the forward after changing "
        ".data, or write to a copy (X = T.numpy().copy()) to keep this graph")
