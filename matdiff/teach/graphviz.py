"""The live graph as DOT, as the paper draws it (Figures 1 and 2): what ``md.draw`` writes and the stepper restyles.

Data nodes (ellipses) show a name, shape and dtype; op nodes (boxes) their number in execution order, the rule
in the graph's own names (``V = Qᴴ Y``) and where it comes from (Eq 3, Figure 2 ...). Forward edges are solid.
Adjoint edges are dashed and red, run the other way, and each names what it carries: a node sends each input
its *contribution* (``matmul`` sends ``Q̄ᴴ`` the term ``V̄ Yᴴ``); where several contributions meet, a ``+``
node sums them and the sum is labelled as the paper labels it -- in Figure 2, ``Q̄′ = Q̄ + Y V̄ᴴ`` flows into
``qr``. The tensors drawn (for a tape: the outputs nobody consumed) receive their adjoints from the loss ℒ.

Nodes that a ``create_graph=True`` backward recorded (the backward pass as a graph) are violet with a dashed
border, their results pale violet: the forward stays as it was. A long graph (a recorded backward) is drawn
compactly. ``render`` lays DOT out with Graphviz's ``dot`` (.svg, .png at 144 dpi, .pdf); :class:`Drawing` is what
``md.draw`` returns. The public function is in ``draw.py``, above this module and the stepper.
"""
from __future__ import annotations

import shutil
import subprocess

from ..engine.notation import Names, bar, cite, simplify
from ..engine.tape import Tape, graph_nodes
from ..errors import MatdiffError

FORMATS = (".svg", ".png", ".pdf", ".dot", ".html")
# An adjoint edge runs against the forward edge beside it, so it is written as that forward edge drawn backwards:
# it then takes part in the layout like the forward edges (a ranked edge, its label a node that other edges go
# around) instead of being routed afterwards through whatever label lies in its way.
_BACK = 'dir=back, style=dashed, color="#c0392b", fontcolor="#c0392b"'


DPI = 144                                  # PNGs: 2 px per point, so 10 pt text is 20 px high


class Drawing:
    """What ``draw`` produced: ``.dot`` (the DOT source) and ``.files`` (the files written). In Jupyter it shows
    itself as SVG (when Graphviz's ``dot`` is installed; otherwise as its DOT text); its repr is one line."""

    def __init__(self, dot, files):
        self.dot, self.files = dot, files

    def _repr_svg_(self):
        return render(self.dot, "svg") if shutil.which("dot") else None

    def __repr__(self):
        ops = self.dot.count("shape=box")
        where = ", ".join(str(f) for f in self.files) or "no files"
        return f"<Drawing: {ops} op node{'s' * (ops != 1)}, written to {where}; .dot holds the DOT source>"

    __str__ = __repr__


def render(dot, fmt):
    """The picture of DOT text ``dot`` in ``fmt`` (svg: text; png at ``DPI``, pdf: bytes), by Graphviz's ``dot``."""
    extra = [f"-Gdpi={DPI}"] if fmt == "png" else []
    done = subprocess.run(["dot", f"-T{fmt}", *extra], input=dot.encode(), capture_output=True)
    if done.returncode != 0:
        raise MatdiffError(f"Graphviz's dot could not lay this graph out ({done.stderr.decode().strip()[:300]}); "
                           "draw a smaller part of it (md.draw([some, outputs], ...)) or backward=False")
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
        self.index = {}                                      # id(tensor) -> 0, 1, ... (DOT ids, stepper classes)
        self.tensors, consumed = {}, set()
        for n in self.nodes:
            for t in list(n.inputs) + list(n.outputs):
                self.tensors[id(t)] = t
                self.index.setdefault(id(t), len(self.index))
            consumed.update(id(t) for t in n.inputs)
        self.finals = given if given is not None else \
            [t for k, t in self.tensors.items() if k not in consumed and t.node is not None]
        self._contributions()

    def _contributions(self):
        """``self.contrib[id(t)]``: [(source, label, key)] -- source "loss" or a node, key the value's key:
        ``("loss", id(t))`` or ``(id(node), input position)`` (``R * R`` sends R two) -- and each tensor's bar.

        Walked backwards, so an unnamed tensor with a single short contribution can be shown *as* that expression
        (``(V̄ Yᴴ)ᴴ = Y V̄ᴴ``), the way the paper writes Eq 9's ``Y Vbarᵀ`` rather than a new symbol; a longer one
        gets its own bar (``t̅2̅``), so labels stay rules, not chains of rules."""
        self.contrib, self.total = {}, {}
        for t in self.finals:
            if t.requires_grad:
                self.contrib.setdefault(id(t), []).append(("loss", bar(self.names.name(t)), ("loss", id(t))))
        for n in reversed(self.nodes):
            for o in n.outputs:
                self._close(o)
            labels = self.names.adjoints(n, self.total)
            for k, (t, label, need) in enumerate(zip(n.inputs, labels, n.needs_grad)):
                if need:
                    self.contrib.setdefault(id(t), []).append((n, label or bar(self.names.name(t)), (id(n), k)))
        for t in self.tensors.values():
            self._close(t)

    def _close(self, t):
        """Fix the bar of ``t`` once all its contributions are known."""
        if id(t) in self.total:
            return
        parts = self.contrib.get(id(t), [])
        name = self.names.name(t)
        derived = not t.name or (t.node is not None and t.name == _rhs(self.names.equation(t.node)))
        if len(parts) == 1 and derived and parts[0][0] != "loss" and len(_plain(parts[0][1])) <= 10:
            self.total[id(t)] = parts[0][1]                      # shown as the expression it is
        else:
            self.total[id(t)] = bar(name) + ("′" if len(parts) > 1 else "")

    def sum_label(self, t):
        parts = self.contrib.get(id(t), [])
        return f"{self.total[id(t)]} = " + " + ".join(label for _, label, _ in parts)


def _plain(label):
    """A label without its combining bars (how long it looks)."""
    return label.replace("\u0304", "").replace("\u0305", "")


def _rhs(eq):
    """``Qᴴ`` for ``Qᴴ = (Q)ᴴ``: a name that only restates how the tensor was made."""
    return simplify(eq.split(" = ", 1)[1]) if eq and " = " in eq else None


def to_dot(x, title=None, backward=True):
    """DOT text for a Tensor (its whole history), a list of Tensors, or a ``Tape``.

    Every element carries an ``id`` (``t3`` a tensor, ``op2`` node #2) and each adjoint edge a class naming the
    value it carries (:func:`value_key`), so the HTML stepper can restyle one layout frame by frame. A long graph
    (more than ``COMPACT`` nodes: a recorded backward) is drawn compactly to fit a screen: the recorded nodes as
    small boxes named by their op, joined directly (the intermediate tensors they pass are not drawn).
    """
    g = x if isinstance(x, _Graph) else _Graph(x)
    compact = len(g.nodes) > COMPACT
    spacing = "nodesep=0.15; ranksep=0.14;" if compact else "nodesep=0.5; ranksep=0.45;"
    lines = ["digraph matdiff {", f"  rankdir=TB; newrank=true; {spacing}",
             '  node [fontname="Helvetica", fontsize=11]; edge [fontname="Helvetica", fontsize=10];']
    if title:
        lines.append(f'  labelloc=t; label="{_esc(title)}"; fontname="Helvetica"; fontsize=13;')
    hidden = {k for k, t in g.tensors.items() if compact and _recorded(t) and t not in g.finals}
    for key, t in g.tensors.items():
        if key not in hidden:
            lines.append(_tensor_node(g, key, t, compact))
    for n in g.nodes:
        lines.append(_op_node(g, n, compact))
        for t in n.inputs:
            src = f"n{id(t.node)}" if id(t) in hidden else f"t{id(t)}"
            lines.append(f"  {src} -> n{id(n)};")
        lines += [f"  n{id(n)} -> t{id(t)};" for t in n.outputs if id(t) not in hidden]
    if backward:
        lines += _adjoint_edges(g)
    lines.append("}")
    return "\n".join(lines)


COMPACT = 24


def _recorded(t):
    return t.node is not None and t.node.origin == "backward"       # made by a create_graph backward


def _tensor_node(g, key, t, compact=False):
    """A tensor's ellipse: name, shape, dtype (a constant of a compact drawing: small text, name and shape)."""
    if compact and t.node is None and not t.requires_grad:
        return (f'  t{key} [id="t{g.index[key]}", shape=plaintext, fontsize=9, height=0.2, margin=0, '
                f'label="{_esc(g.names.name(t))} {"×".join(map(str, t.shape))}"];')
    fill = "#eef3ff" if t.node is None else "#f1e9ff" if _recorded(t) else "#ffffff"
    dt = t.backend.dtype_name(t.dtype)
    shape = "×".join(map(str, t.shape)) or "scalar"
    text = f"{_esc(g.names.name(t))} {shape}, {dt}" if compact else f"{_esc(g.names.name(t))}\\n{shape} {dt}"
    return (f'  t{key} [id="t{g.index[key]}", shape=ellipse, style=filled, fillcolor="{fill}"'
            f'{", height=0.3" if compact else ""}, label="{text}"];')


def _op_node(g, n, compact=False):
    """An op box: its number, name, rule and reference (a recorded node of a compact drawing: number and name)."""
    recorded = n.origin == "backward"                         # recorded by a create_graph backward
    eq, where = (None, "") if compact and recorded else (g.names.equation(n), cite(n))
    text = f"#{g.number[id(n)]} {n.op.name}" + (f"\\n{_esc(eq)}" if eq else "")
    text += f"\\n[{_esc(where)}]" if where else ""
    fill = "#dcc8ff" if recorded else "#fff4d6"
    style = "rounded,filled,dashed" if recorded else "rounded,filled"
    small = ', fontsize=9, margin="0.05,0.02", height=0.22' if compact and recorded else ""
    return (f'  n{id(n)} [id="op{g.number[id(n)]}", shape=box, style="{style}", fillcolor="{fill}"{small}, '
            f'label="{text}"];')


def value_key(g, key):
    """The class of the adjoint edge that carries value ``key``: ``("loss", id(t))`` the seed of ``t``,
    ``(id(node), k)`` what a node sends its input ``k``, ``id(t)`` the total adjoint of ``t``."""
    if isinstance(key, tuple):
        return f"k_L_{g.index[key[1]]}" if key[0] == "loss" else f"k_{g.number[key[0]]}_{key[1]}"
    return f"k_T_{g.index[key]}"


def _adjoint_edges(g):
    out = []
    if g.finals:
        out.append('  loss [id="loss", shape=plaintext, label="ℒ", fontsize=16];')
        out += [f"  t{id(t)} -> loss;" for t in g.finals]
    for key, t in g.tensors.items():
        parts = g.contrib.get(key, [])
        srcs = [("loss" if s == "loss" else f"n{id(s)}", lab, value_key(g, vkey)) for s, lab, vkey in parts]
        if len(srcs) == 1:
            src, lab, cls = srcs[0]
            if lab != g.total[key]:                      # a named tensor: say what its adjoint is
                lab = f"{g.total[key]} = {lab}"
            out.append(f'  t{key} -> {src} [{_BACK}, class="{cls}", label="{_esc(lab)}"];')
        elif srcs:
            out += _sum_node(g, key, t, srcs)
        if t.node is not None and parts:
            out.append(f'  n{id(t.node)} -> t{key} [{_BACK}, class="{value_key(g, key)}", '
                       f'label="{_esc(g.total[key])}"];')
    return out


def _sum_node(g, key, t, srcs):
    """Several contributions meet at a ``+`` node drawn beside ``t`` (same rank, tied to it by invisible edges),
    with the sum's equation beside it as a text node: edges are routed around nodes, so none crosses it."""
    out = [f'  sum{key} [id="sum{g.index[key]}", shape=circle, label="+", width=0.3, fixedsize=true, '
           'color="#c0392b", fontcolor="#c0392b"];',
           f'  eq{key} [shape=plaintext, fontsize=10, fontcolor="#c0392b", label="{_esc(g.sum_label(t))}"];',
           f"  {{rank=same; t{key}; sum{key}; eq{key};}}",
           f"  sum{key} -> eq{key} [style=invis, weight=20];"]
    out += [f'  sum{key} -> {src} [{_BACK}, class="{cls}", label="{_esc(lab)}"];' for src, lab, cls in srcs]
    out.append(f'  t{key} -> sum{key} [{_BACK}, weight=20, class="{value_key(g, key)}", '
               f'label="{_esc(g.total[key])}"];')
    return out


def graph_of(x):
    """The drawable graph of ``x`` (for the stepper)."""
    return _Graph(x)
