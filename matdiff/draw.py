"""Draw the live graph as the paper draws it (Figures 1 and 2), and watch backward happen.

Data nodes (ellipses) show a name, shape and dtype; op nodes (boxes) their number in execution order, the rule
in the graph's own names (``V = Qᴴ Y``) and where it comes from (Eq 3, Figure 2 ...). Forward edges are solid.
Adjoint edges are dashed and red, run the other way, and each names what it carries: a node sends each input
its *contribution* (``matmul`` sends ``Q̄ᴴ`` the term ``V̄ Yᴴ``); where several contributions meet, a ``+``
node sums them and the sum is labelled as the paper labels it -- in Figure 2, ``Q̄′ = Q̄ + Y V̄ᴴ`` flows into
``qr``. The tensors drawn (for a tape: the outputs nobody consumed) receive their adjoints from the loss ℒ.

Nodes that a ``create_graph=True`` backward recorded (the backward pass as a graph) are violet with a dashed
border, their results pale violet: the forward stays as it was.

``draw(x, "graph.svg")`` writes DOT and, with Graphviz's ``dot`` program installed, the picture (.svg, .png,
.pdf). ``draw(outputs, "wide_qr.html", steps=True)`` writes one self-contained page that steps through the
backward sweep, one node per frame, with the adjoints computed so far on their edges (values for small
matrices, shape and norm for large ones).
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from .errors import MatdiffError
from .notation import Names, bar, short_ref
from .sweeps import backward_sweep
from .tape import Tape, graph_nodes

FORMATS = (".svg", ".png", ".pdf", ".dot", ".html")
_DASHED = 'style=dashed, color="#c0392b", fontcolor="#c0392b", constraint=false'


class Drawing:
    """What ``draw`` produced: the DOT source and the files written. In Jupyter it shows itself as SVG (when
    Graphviz's ``dot`` is installed; otherwise as its DOT text)."""

    def __init__(self, dot, files):
        self.dot, self.files = dot, files

    def _repr_svg_(self):
        return _render(self.dot, "svg") if shutil.which("dot") else None

    def __str__(self):
        return self.dot

    __repr__ = __str__


def _render(dot, fmt):
    done = subprocess.run(["dot", f"-T{fmt}"], input=dot.encode(), capture_output=True, check=True)
    return done.stdout.decode() if fmt == "svg" else done.stdout


def _esc(text):
    return text.replace("\\", "\\\\").replace('"', '\\"')


class _Graph:
    """The nodes, the tensors drawn as receiving from ℒ, names, and every adjoint contribution with its label."""

    def __init__(self, x):
        if isinstance(x, Tape):
            self.nodes, given = list(x.nodes), None
        else:
            given = list(x) if isinstance(x, (list, tuple)) else [x]
            self.nodes = graph_nodes(given)
        self.names = Names(self.nodes)
        self.number = {id(n): k + 1 for k, n in enumerate(self.nodes)}
        self.tensors, consumed = {}, set()
        for n in self.nodes:
            for t in list(n.inputs) + list(n.outputs):
                self.tensors[id(t)] = t
            consumed.update(id(t) for t in n.inputs)
        self.finals = given if given is not None else \
            [t for k, t in self.tensors.items() if k not in consumed and t.node is not None]
        self._contributions()

    def _contributions(self):
        """``self.contrib[id(t)]``: [(source, label)] -- source "loss" or a node -- and the bar each tensor shows.

        Walked backwards, so an unnamed tensor with a single contribution can be shown *as* that expression
        (``(V̄ Yᴴ)ᴴ = Y V̄ᴴ``), the way the paper writes Eq 9's ``Y Vbarᵀ`` rather than a new symbol."""
        self.contrib, self.total = {}, {}
        for t in self.finals:
            if t.requires_grad:
                self.contrib.setdefault(id(t), []).append(("loss", bar(self.names.name(t))))
        for n in reversed(self.nodes):
            for o in n.outputs:
                self._close(o)
            labels = self.names.adjoints(n, self.total)
            needs = n.ctx.needs_grad if n.ctx is not None else [t.requires_grad for t in n.inputs]
            for t, label, need in zip(n.inputs, labels, needs):
                if need:
                    self.contrib.setdefault(id(t), []).append((n, label or bar(self.names.name(t))))
        for t in self.tensors.values():
            self._close(t)

    def _close(self, t):
        """Fix the bar of ``t`` once all its contributions are known."""
        if id(t) in self.total:
            return
        parts = self.contrib.get(id(t), [])
        name = self.names.name(t)
        derived = not t.name or (t.node is not None and t.name == _rhs(self.names.equation(t.node)))
        if len(parts) == 1 and derived and parts[0][0] != "loss":
            self.total[id(t)] = parts[0][1]                      # shown as the expression it is
        else:
            self.total[id(t)] = bar(name) + ("′" if len(parts) > 1 else "")

    def sum_label(self, t):
        parts = self.contrib.get(id(t), [])
        return f"{self.total[id(t)]} = " + " + ".join(label for _, label in parts)


def _rhs(eq):
    """``Qᴴ`` for ``Qᴴ = (Q)ᴴ``: a name that only restates how the tensor was made."""
    from .notation import simplify
    return simplify(eq.split(" = ", 1)[1]) if eq and " = " in eq else None


def to_dot(x, title=None, backward=True, *, highlight=None, values=None):
    """DOT text for a Tensor (its whole history), a list of Tensors, or a ``Tape``.

    ``highlight``: a node to mark (the HTML stepper's current node); ``values``: text to add to adjoint edges,
    keyed ``(id(source), id(tensor))`` for contributions and ``id(tensor)`` for totals -- an edge is drawn only
    once its value is known when ``values`` is given.
    """
    g = x if isinstance(x, _Graph) else _Graph(x)
    lines = ["digraph matdiff {", "  rankdir=TB; newrank=true; nodesep=0.5; ranksep=0.45;",
             '  node [fontname="Helvetica", fontsize=11]; edge [fontname="Helvetica", fontsize=10];']
    if title:
        lines.append(f'  labelloc=t; label="{_esc(title)}"; fontname="Helvetica"; fontsize=13;')
    for key, t in g.tensors.items():
        made_by_backward = t.node is not None and t.node.origin == "backward"
        fill = "#eef3ff" if t.node is None else "#f1e9ff" if made_by_backward else "#ffffff"
        dt = t.backend.dtype_name(t.dtype)
        shape = "×".join(map(str, t.shape)) or "scalar"
        lines.append(f'  t{key} [shape=ellipse, style=filled, fillcolor="{fill}", '
                     f'label="{_esc(g.names.name(t))}\\n{shape} {dt}"];')
    for n in g.nodes:
        eq, where = g.names.equation(n), short_ref(n.op.ref)
        text = f"#{g.number[id(n)]} {n.op.name}" + (f"\\n{_esc(eq)}" if eq else "")
        text += f"\\n[{_esc(where)}]" if where else ""
        hot, recorded = n is highlight, n.origin == "backward"       # recorded by a create_graph backward
        fill = "#f9c0b8" if hot else "#dcc8ff" if recorded else "#fff4d6"
        style = "rounded,filled,dashed" if recorded else "rounded,filled"
        lines.append(f'  n{id(n)} [shape=box, style="{style}", fillcolor="{fill}", penwidth={3 if hot else 1}, '
                     f'label="{text}"];')
        lines += [f"  t{id(t)} -> n{id(n)};" for t in n.inputs] + [f"  n{id(n)} -> t{id(t)};" for t in n.outputs]
    if backward:
        lines += _adjoint_edges(g, values)
    lines.append("}")
    return "\n".join(lines)


def _adjoint_edges(g, values):
    out, shown = [], (lambda key: values is None or key in values)
    text = (lambda key: "" if values is None else "\\n" + _esc(values[key]).replace("\n", "\\n"))
    if g.finals:
        out.append('  loss [shape=plaintext, label="ℒ", fontsize=16];')
        out += [f"  t{id(t)} -> loss;" for t in g.finals]
    for key, t in g.tensors.items():
        parts = g.contrib.get(key, [])
        srcs = [("loss" if s == "loss" else f"n{id(s)}", lab, (id(s) if s != "loss" else "loss", key))
                for s, lab in parts]
        if len(srcs) == 1:
            src, lab, vkey = srcs[0]
            if lab != g.total[key]:                      # a named tensor: say what its adjoint is
                lab = f"{g.total[key]} = {lab}"
            if shown(vkey):
                out.append(f'  {src} -> t{key} [{_DASHED}, label="{_esc(lab)}{text(vkey)}"];')
        elif srcs:
            visible = [s for s in srcs if shown(s[2])]
            if visible:
                out.append(f'  sum{key} [shape=circle, label="+", width=0.3, fixedsize=true, color="#c0392b", '
                           f'fontcolor="#c0392b"]; {{rank=same; sum{key}; t{key};}}')
                out += [f'  {src} -> sum{key} [{_DASHED}, label="{_esc(lab)}{text(vkey)}"];'
                        for src, lab, vkey in visible]
            if shown(key) and len(visible) == len(srcs):
                out.append(f'  sum{key} -> t{key} [{_DASHED}, label="{_esc(g.sum_label(t))}{text(key)}"];')
        if t.node is not None and parts and shown(key):
            out.append(f'  t{key} -> n{id(t.node)} [{_DASHED}, label="{_esc(g.total[key])}"];')
    return out


def draw(x: Any, path: str | Path = "graph.svg", title: str | None = None, backward: bool = True, *,
         steps: bool = False, seeds: Any = None) -> Drawing:
    """Write the graph of ``x`` (a Tensor, a list of Tensors, or a Tape) to ``path`` and return a :class:`Drawing`.

    The format follows the extension: ``.svg`` (also the default when ``path`` has none), ``.png``, ``.pdf``
    (these need Graphviz's ``dot`` program: ``apt-get install graphviz``, ``brew install graphviz``, or conda's
    ``graphviz``), ``.dot`` (text only), or ``.html`` with ``steps=True``: one self-contained page stepping through
    the backward sweep, one node per frame (Previous/Next buttons, arrow keys; ``#N`` in the URL opens frame N,
    ``#last`` the final one). ``seeds`` are the output adjoints of that sweep (default: ones -- the loss
    ``ℒ = Σ Re`` of every output); the tensors' ``.grad`` are not touched. Without ``dot`` the DOT file is still
    written and a message says how to render it.
    """
    path = Path(path)
    if path.suffix == "":
        path = path.with_suffix(".html" if steps else ".svg")
    if path.suffix not in FORMATS:
        raise MatdiffError(f"draw: unknown format {path.suffix!r} ({path}); use one of {', '.join(FORMATS)} "
                           "(.html with steps=True)")
    if (path.suffix == ".html") != bool(steps):
        raise MatdiffError("draw: steps=True writes an .html page (and an .html path needs steps=True); e.g. "
                           "md.draw(outputs, 'wide_qr.html', steps=True)")
    if steps:
        from .stepper import write_steps  # the HTML stepper: a tool above the drawing
        return write_steps(x, path, title, seeds)
    dot = to_dot(x, title, backward)
    path.parent.mkdir(parents=True, exist_ok=True)
    dot_path = path.with_suffix(".dot")
    dot_path.write_text(dot)
    files = [dot_path]
    if path.suffix != ".dot":
        if shutil.which("dot") is None:
            print(f"Graphviz's 'dot' program is not installed: wrote {dot_path}. Install it (apt-get install graphviz, "
                  f"brew install graphviz, or conda install graphviz) or render with `dot -T{path.suffix[1:]} "
                  f"{dot_path} -o {path}`")
        else:
            subprocess.run(["dot", f"-T{path.suffix[1:]}", str(dot_path), "-o", str(path)], check=True)
            files.append(path)
    return Drawing(dot, files)


def sweep_values(g, outputs, seeds):
    """Run one backward sweep (nothing written to ``.grad``, the graph kept) and return, per visited node in
    order, the texts of the adjoints known after it: contributions ``(id(source), id(t))`` and totals."""
    b = outputs[0].backend
    if seeds is None:
        seeds = [b.astype(b.from_host(np.ones(o.shape)), o.dtype) for o in outputs]
    values, frames = {}, []
    for o, s in zip(outputs, seeds):
        values[("loss", id(o))] = _value_text(b, s)
    frames.append((None, dict(values)))

    def record(node, cots, grads):
        for o, c in zip(node.outputs, cots):
            values[id(o)] = _value_text(b, c) if c is not None else "0 (unused)"
        for t, gr, need in zip(node.inputs, grads, node.ctx.needs_grad):
            if gr is not None and need:
                values[(id(node), id(t))] = _value_text(b, gr)
        frames.append((node, dict(values)))

    backward_sweep(outputs, seeds, retain_graph=True, set_grads=False, trace=record)
    leaves = {id(t) for t in g.tensors.values() if t.node is None}
    final = dict(values)
    for key in leaves:                       # a leaf's total, once every contribution has arrived
        parts = [final.get(("loss" if s == "loss" else id(s), key)) for s, _ in g.contrib.get(key, [])]
        if parts and all(p is not None for p in parts):
            final[key] = "(sum of the above)" if len(parts) > 1 else parts[0]
    frames.append((None, final))
    return frames


def _value_text(b, a):
    h = b.to_host(a)
    if h.size <= 9:
        return np.array2string(h, precision=3, suppress_small=True, separator=" ")
    return f"{'×'.join(map(str, h.shape))}, ‖·‖ = {np.linalg.norm(h.ravel()):.4g}"


def graph_of(x):
    """The drawable graph of ``x`` (for the stepper)."""
    return _Graph(x)
