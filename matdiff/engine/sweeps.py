"""The two sweeps over a recorded graph: reverse (``backward_sweep``, the vjp rules) and forward (``forward_sweep``,
the jvp rules), and ``fit``, which brings an adjoint or a tangent back to its tensor's shape and dtype.

``backward_sweep`` walks the Wengert list (``tape.graph_nodes``) in reverse in a plain loop -- no recursion, so a
chain of 10,000 nodes is fine --, asks each node's vjp for its inputs' adjoints and adds them into each tensor's
running sum (``_pull``, which checks what the rule returned; a tensor used twice receives the sum), and writes
``.grad`` only when the whole sweep went through (``_commit``). Like the tape, this layer knows tensors only by duck
type; the running sums are keyed by the tensors themselves (identity hashing: Tensor defines no ``__eq__``).
"""
from ..errors import GraphError
from .tape import _SMALL, _deferred_checks, _writes, check_stamps, check_writes, fingerprint, graph_nodes


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
    """Reverse sweep from ``outputs`` seeded with ``seeds`` (arrays fitted to the outputs already); all or nothing.

    ``set_grads``: write ``.grad`` (leaves accumulate, intermediates hold the last adjoint); ``capture``: tensors whose
    total adjoints are returned; ``lead``: leading seed axes that are a batch of seeds (gradcheck's rows);
    ``context(node)``: the context the rules get instead of ``node.ctx`` (create_graph=True: Tensors, graph.py)."""
    adj = {}                                         # tensor -> its adjoint: the sum over its uses, complete once
    for o, seed in zip(outputs, seeds):              # the sweep has passed the node that made it
        adj[o] = adj[o] + seed if o in adj else seed
    visited, nodes, seen = [], graph_nodes(outputs), None   # seen: the large leaves' fingerprints (made on need)
    if nodes and _writes.last > nodes[0].seq:        # a T.data = ... since the forward: were saved values replaced?
        check_writes(nodes)
    with _deferred_checks():                         # a GPU's checks reach the host once, here, before any write
        for node in reversed(nodes):
            outs = node.outputs
            cots = (adj.get(outs[0]),) if len(outs) == 1 else tuple([adj.get(o) for o in outs])
            if cots[0] is None and all(c is None for c in cots):
                continue                             # nothing flows through this node (None: an unused output)
            stamps = node.stamps                     # a leaf input written in place since the forward?
            if stamps is not None:
                for t, d, c in stamps:
                    if t._data is not d or (d.tobytes() if d.nbytes <= _SMALL
                                            else _once(d, seen := {} if seen is None else seen)) != c:
                        check_stamps(node, nodes)    # (which raises, saying what changed)
            grads = _pull(node, cots, adj, lead, context)    # its inputs' adjoints, checked and added into adj
            if trace is not None:
                trace(node, cots, grads)
            visited.append(node)
    return _commit(visited, adj, capture, set_grads, retain_graph)


def _once(d, seen):
    """``fingerprint(d)``, computed once per sweep (nothing writes to a leaf while a sweep runs): an HVP's second sweep
    meets the same leaf at many nodes."""
    hit = seen.get(id(d))
    if hit is None:
        hit = seen[id(d)] = (d, fingerprint(d))
    return hit[1]


def _pull(node, cots, adj, lead, context):
    """Run the node's vjp on its output adjoints (zeros for unused outputs unless the op takes None), check what it
    returned, add each input's adjoint into its running sum ``adj`` (a tensor used twice receives the sum), and
    return the adjoints."""
    ctx = node.ctx
    if ctx is None:                                  # freed: a backward dropped it
        raise GraphError(
            f"backward reached node #{node.seq} ({node.op.name}) whose saved values were freed by an earlier "
            "backward; pass retain_graph=True to the first backward() to differentiate the same graph twice")
    if context is not None:
        ctx = context(node)
    op, inputs = node.op, node.inputs
    if len(cots) > 1 and not op.takes_none:
        cots = [c if c is not None else ctx.b.zeros(_zero_shape(cots, o, lead), o.dtype)
                for c, o in zip(cots, node.outputs)]
    grads = op.vjp(ctx, cots[0]) if len(cots) == 1 else op.vjp(ctx, *cots)    # (a plain call: no C frame)
    if grads.__class__ is not tuple:
        grads = tuple(grads) if isinstance(grads, list) else (grads,)
    if len(grads) != len(inputs):
        raise GraphError(f"op {op.name!r}: its vjp returned {len(grads)} adjoint(s) for {len(inputs)} "
                         "input(s); a vjp returns one adjoint per input, in order (None where none is needed)")
    needs, at = ctx.needs_grad, ctx.b.array_type
    for k in range(len(inputs)):                    # (an index: no zip object per node for the GC to count)
        g = grads[k]
        if g is not None and needs[k]:
            t = inputs[k]
            d = t._data
            if g.__class__ is not at or g.shape != d.shape or (g.dtype is not d.dtype and g.dtype != d.dtype):
                g = fit(ctx.b, _conforming(node, ctx.b, "vjp", "adjoint", grads, g, d.shape, lead, reduce=True),
                        d.shape, d.dtype, lead)
                grads = grads[:k] + (g,) + grads[k + 1:]
            old = adj.get(t)
            adj[t] = g if old is None else old + g
    return grads


def _zero_shape(cots, o, lead):
    """Shape of a zero adjoint for output ``o``: its shape, behind the seed-batch axes of a sibling."""
    if lead:
        sib = next(c for c in cots if c is not None)
        return sib.shape[:lead] + tuple(o.shape)
    return tuple(o.shape)


def _commit(visited, adj, capture, set_grads, retain_graph):
    """The sweep went through: write ``.grad`` (an intermediate's is its adjoint, a leaf's accumulates; an output
    nobody used gets zeros), free the visited nodes, return the captured adjoints."""
    want = set(capture) if capture is not None else ()
    captured = {}
    for t, g in adj.items():
        if want and t in want:
            captured[t] = g
        if set_grads and t.requires_grad:
            t.grad = g if t.node is not None or t.grad is None else t.grad + g
    for node in visited:
        if set_grads and len(node.outputs) > 1:
            for o in node.outputs:
                if o.requires_grad and o not in adj:
                    o.grad = node.ctx.b.zeros(tuple(o.shape), o.dtype)
        if not retain_graph:
            node.ctx = None                          # freed: the saved values dropped (Node.freed)
    if capture is None:
        return None
    return [captured.get(t) for t in capture]


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
    check_writes(nodes)
    for node in nodes:
        if node.freed:
            raise GraphError(f"node #{node.seq} ({node.op.name}) was freed; forward mode needs its saved values")
        if node.stamps is not None:
            check_stamps(node, nodes)
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
