"""Watch backward happen: one self-contained HTML page, one frame per node of the backward sweep.

Which backward: the user's own. After ``loss.backward()`` every intermediate tensor holds its adjoint in ``.grad``
(sweeps.py ``_commit``), so each node's frame starts from the adjoints its outputs really received and the node's
vjp is run once more on them to show what it sends each input (a node that backward freed has its saved values
rebuilt by re-running its forward on its inputs). With ``seeds=`` the page steps through the sweep those seeds
start; a scalar output with neither is seeded with 1. Anything else is a MatdiffError saying what to pass.

The page is laid out once: one SVG (Graphviz), whose frames are CSS classes -- the current node highlighted, the
adjoint edges not yet computed faded, the ones it just sent bold -- so nothing moves between frames. The values
sit in a side panel (small matrices as tables shaded by sign and size, large ones by shape, norm and a corner),
never on an edge. Previous/Next and the arrow keys step; ``#N`` in the URL opens frame N, ``#last`` the final one;
the current node is scrolled into view. ``document.body.dataset.frame`` is the frame shown, ``.error`` any
JavaScript error (the browser test reads both). In Jupyter the returned :class:`Steps` shows the page inline.
"""
import html
import json
import shutil
from pathlib import Path

import numpy as np

from ..autodiff import prepare
from ..engine.notation import cite
from ..engine.op import promoted
from ..engine.show import norm, number, shape_text
from ..engine.sweeps import fit
from ..engine.tape import Context, graph_nodes
from ..engine.tensor import Tensor
from ..errors import MatdiffError
from .graphviz import graph_of, render, to_dot, value_key
from .stepper_page import fill


class Steps:
    """What ``md.draw(outputs, "page.html", steps=True)`` returns: the page's path (``files``), its frame count and
    the DOT of the drawing. In Jupyter (and nbconvert's HTML) it shows the page inline, in an iframe."""

    def __init__(self, path, page, frames, dot, source):
        self.files, self.page, self.frames, self.dot, self.source = [path], page, frames, dot, source

    def _repr_html_(self):
        return (f'<iframe srcdoc="{html.escape(self.page, quote=True)}" title="backward, step by step" '
                'style="width:100%; height:680px; border:1px solid #ccc"></iframe>')

    def __repr__(self):
        return f"<backward stepper: {self.frames} frames ({self.source}) in {self.files[0]}>"

    __str__ = __repr__


def write_steps(x, path, title, seeds):
    """The page for ``md.draw(outputs, path, steps=True, seeds=...)`` (see :func:`matdiff.draw`)."""
    if shutil.which("dot") is None:
        raise MatdiffError("draw(steps=True) lays the graph out with Graphviz's 'dot' program, which is not "
                           "installed: apt-get install graphviz (Debian/Ubuntu), brew install graphviz, or conda "
                           "install graphviz")
    outputs = list(x) if isinstance(x, (list, tuple)) else [x]
    if not all(hasattr(o, "node") and o.requires_grad for o in outputs):
        raise MatdiffError("draw(steps=True) steps through backward from tensors that require grad; pass the outputs "
                           "of the graph (e.g. [Q, R]), not a Tape")
    g = graph_of(outputs)
    frames, source = sweep_frames(g, outputs, seeds)
    title = title or "backward, step by step"
    svg = render(to_dot(g, None, True), "svg")
    svg = svg[svg.find("<svg"):]                      # drop the XML prologue: the SVG is inline
    panels = [_panel(g, k, node, values, frames) for k, (node, values) in enumerate(frames)]
    script = [_frame_state(g, node, values) for node, values in frames]
    page = fill(title=html.escape(title), source=html.escape(source), svg=svg, panels="\n".join(panels),
                frames=json.dumps(script))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return Steps(path, page, len(frames), to_dot(g, title), source)


def sweep_frames(g, outputs, seeds):
    """Per frame ``(node, values)``: the node the sweep visits (None for the first and last frame) and every adjoint
    known after it, as host arrays keyed like ``graphviz.value_key``. Returns ``(frames, source)``: which backward."""
    recorded = seeds is None and any(o.grad is not None for o in outputs)
    if seeds is not None:
        seeds, source = prepare(outputs, seeds)[1], "the seeds given"     # the same seed checks as md.backward
    elif not recorded:
        if not all(int(np.prod(o.shape)) == 1 and not o.backend.is_complex(o.dtype) for o in outputs):
            raise MatdiffError(
                "draw(steps=True) shows a backward sweep, but these outputs hold no adjoints yet and are not a real "
                "scalar: run your backward first (loss.backward(), then md.draw([Q, R], 'page.html', steps=True) "
                "shows it), draw the scalar loss itself (md.draw(loss, ..., steps=True)), or pass the output "
                "adjoints: seeds=[Qbar, Rbar]")
        b = outputs[0].backend
        seeds, source = [b.astype(b.from_host(np.ones(o.shape)), o.dtype) for o in outputs], "seed 1 of the scalar"
    else:
        source = "the adjoints your last backward left in .grad"
    return _frames(g, outputs, None if recorded else seeds), source


def _frames(g, outputs, seeds):
    """Walk the nodes in reverse; ``seeds`` None: each node's output adjoints are their ``.grad``."""
    adj, values = {}, {}
    if seeds is not None:
        for o, s in zip(outputs, seeds):
            adj[id(o)] = adj[id(o)] + s if id(o) in adj else s
            values[("loss", id(o))] = s
    frames = [(None, dict(values))]
    for node in reversed(graph_nodes(outputs)):
        cots = tuple(_recorded(o) if seeds is None else adj.get(id(o)) for o in node.outputs)
        if all(c is None for c in cots):
            continue                                  # nothing flowed through this node
        for o, c in zip(node.outputs, cots):
            if c is not None:
                values[id(o)] = c
        for k, (t, gr) in enumerate(zip(node.inputs, _vjp(node, cots))):
            if gr is not None:
                values[(id(node), k)] = gr
                adj[id(t)] = adj[id(t)] + gr if id(t) in adj else gr
        frames.append((node, dict(values)))
    if seeds is None:                                 # what reached each drawn output from beyond the drawing
        seen = {("loss", id(o)): _recorded(o) - adj[id(o)] if id(o) in adj else _recorded(o)
                for o in outputs if _recorded(o) is not None}
        for _, v in frames + [(None, values)]:
            v.update(seen)
    for t in g.tensors.values():                      # a leaf's total, once every contribution has arrived
        if t.node is None and id(t) in adj:
            values[id(t)] = adj[id(t)]
    frames.append((None, values))
    host = outputs[0].backend.to_host
    return [(n, {k: host(v) for k, v in vals.items()}) for n, vals in frames]


def _recorded(t):
    """The adjoint a backward left in ``t.grad`` (an array; a create_graph backward leaves a Tensor)."""
    return t.grad.data if isinstance(t.grad, Tensor) else t.grad


def _vjp(node, cots):
    """What ``node`` sends each input for output adjoints ``cots`` (None where an input needs none)."""
    ctx = node.ctx if node.ctx is not None else _rebuilt(node)
    b = ctx.b
    if len(cots) > 1 and not node.op.takes_none:
        cots = [c if c is not None else b.zeros(tuple(o.shape), o.dtype) for c, o in zip(cots, node.outputs)]
    grads = node.op.vjp(ctx, *cots)
    grads = tuple(grads) if isinstance(grads, (tuple, list)) else (grads,)
    return [fit(b, gr, tuple(t.shape), t.dtype) if gr is not None and need else None
            for t, gr, need in zip(node.inputs, grads, ctx.needs_grad)]


def _rebuilt(node):
    """A freed node's context, rebuilt by running its forward again on its inputs (what backward had saved). If
    the result differs from the recorded outputs, an input was changed after the forward: say so."""
    b = node.inputs[0].backend
    ctx = Context()
    ctx.b, ctx.needs_grad = b, tuple(t.requires_grad for t in node.inputs)
    arrays = [t.data for t in node.inputs]
    out = node.op.forward(ctx, *(arrays if b.promotes else promoted(b, arrays)), **node.params)
    out = out if isinstance(out, tuple) else (out,)
    for o, new in zip(node.outputs, out):
        if not np.allclose(b.to_host(new), b.to_host(o.data), rtol=1e-9, atol=1e-12, equal_nan=True):
            raise MatdiffError(f"draw(steps=True): node #{node.seq} ({node.op.name}) was freed by backward and its "
                               "inputs changed since the forward, so its saved values cannot be rebuilt; re-run the "
                               "forward and the backward, then draw")
    return ctx


def _frame_state(g, node, values):
    """What the page's script needs for one frame: the node to highlight and the adjoint edges known / just sent."""
    return {"node": f"op{g.number[id(node)]}" if node is not None else None,
            "known": sorted({value_key(g, k) for k in values}),
            "sent": sorted(value_key(g, k) for k in values if isinstance(k, tuple) and k[0] == id(node))
            if node is not None else []}


def _panel(g, k, node, values, frames):
    """The side panel of frame ``k``: the caption, then the adjoints this node received and sent, as tables."""
    rows = []
    if node is None and k == 0:
        rows = [(f"ℒ → {g.names.name(g.tensors[key[1]])}", v) for key, v in values.items() if key[0] == "loss"]
    elif node is None:
        rows = [(f"{g.names.name(t)}.grad (leaf)", values[id(t)]) for t in g.tensors.values()
                if t.node is None and id(t) in values]
    else:
        rows = [(f"receives {g.total[id(o)]}", values[id(o)]) for o in node.outputs if id(o) in values]
        sent = {vkey: lab for t in node.inputs for _, lab, vkey in g.contrib.get(id(t), [])}
        rows += [(f"sends {g.names.name(t)} the term {sent.get((id(node), k), '?')}", values[(id(node), k)])
                 for k, t in enumerate(node.inputs) if (id(node), k) in values]
    body = "".join(f'<div class="val"><div class="lab">{html.escape(lab)}</div>{_matrix(v)}</div>' for lab, v in rows)
    return (f'<div class="frame" id="f{k}"><div class="caption">{html.escape(_caption(g, k, node, frames))}</div>'
            f"{body}</div>")


def _matrix(a):
    """A small matrix as a table shaded by sign and size; a large one by shape, norm and its top-left corner."""
    a = np.asarray(a)
    m = a.reshape(1, -1) if a.ndim < 2 else a.reshape(-1, a.shape[-1])
    big = m.shape[0] > 8 or m.shape[1] > 8
    head = f'<div class="meta">{shape_text(a.shape)}, ‖·‖ = {norm(a):.4g}'
    head += " (top-left corner)</div>" if big else "</div>"
    m = m[:6, :6] if big else m
    top = float(np.abs(m).max()) or 1.0
    cells = []
    for row in m:
        tds = []
        for x in row:
            r = float(np.real(x))
            shade = f"rgba({'192,57,43' if r < 0 else '41,98,255'},{0.45 * abs(r) / top:.2f})"
            tds.append(f'<td style="background:{shade}">{number(x)}</td>')
        cells.append("<tr>" + "".join(tds) + "</tr>")
    return head + '<table class="mat">' + "".join(cells) + "</table>"


def _caption(g, k, node, frames):
    last = len(frames) - 1
    if node is None and k == 0:
        names = ", ".join(g.names.name(t) for t in g.finals)
        return (f"Frame 0 of {last}: the forward graph. The loss ℒ sends its adjoints to {names} "
                "(dashed red edges carry adjoints; faded ones are not computed yet).")
    if node is None:
        return f"Frame {last} of {last}: the sweep is done; every adjoint is known (the leaves' totals below)."
    where = cite(node)
    return (f"Frame {k} of {last}: node #{g.number[id(node)]} {node.op.name} -- {g.names.rule(node, g.total)}"
            + (f"   [{where}]" if where else "") + "\nIt receives the adjoints of its outputs and sends each input "
            "its contribution (bold edges).")


def frame_count(path):
    """How many frames a written page holds (for tests and tutorials)."""
    return Path(path).read_text(encoding="utf-8").count('<div class="frame"')
