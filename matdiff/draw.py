"""Draw the live graph as the paper draws it (Figures 1 and 2): Graphviz DOT, rendered to SVG/PNG if possible.

Data nodes (ellipses) show name, shape and dtype; op nodes (boxes) show the op and the equation it
implements. Forward edges are solid; backward (adjoint) edges are dashed, run the other way and carry the
adjoint's name (Q̄, R̄ ...). The tensors drawn (for a tape: the outputs nobody consumed) receive their adjoints
from the upstream loss ℒ, so a tensor that also feeds another node shows its adjoint accumulating, as Q̄' does
in Figure 2.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from .tape import Tape, graph_nodes

BAR = "\u0304"        # combining macron: "Q" + BAR renders as Q̄


class Drawing:
    """What ``draw`` produced: the DOT source and the files written. Shows as SVG in Jupyter when Graphviz is there."""

    def __init__(self, dot, files):
        self.dot, self.files = dot, files

    def _repr_svg_(self):
        if shutil.which("dot") is None:
            return None
        done = subprocess.run(["dot", "-Tsvg"], input=self.dot.encode(), capture_output=True, check=True)
        return done.stdout.decode()

    def __str__(self):
        return self.dot


def _short_ref(ref):
    """The equation part of an op's reference: 'Eq 3 / Eq 21', or the formula 'C = A B'."""
    for sep in (":", ";"):
        if sep in ref:
            ref = ref.split(sep)[0].strip()
            break
    return ref.split(" (")[0]


def _shape(t):
    return "×".join(map(str, t.shape)) or "scalar"


def _label(t):
    dt = t.backend.dtype_name(t.dtype)
    return f"{t.name}\\n{_shape(t)} {dt}" if t.name else f"{_shape(t)} {dt}"


def _bar(t):
    return (t.name or "·") + BAR


def to_dot(x, title=None, backward=True):
    """DOT text for a Tensor (its whole history), a list of Tensors, or a ``Tape``."""
    if isinstance(x, Tape):
        nodes, given = list(x.nodes), None
    else:
        given = list(x) if isinstance(x, (list, tuple)) else [x]
        nodes = graph_nodes(given)
    tensors, consumed = {}, set()
    for n in nodes:
        for t in n.inputs + n.outputs:
            tensors[id(t)] = t
        consumed.update(id(t) for t in n.inputs)
    lines = ["digraph matdiff {", '  rankdir=TB; newrank=true; nodesep=0.5; ranksep=0.45;',
             '  node [fontname="Helvetica", fontsize=11]; edge [fontname="Helvetica", fontsize=10];']
    if title:
        lines.append(f'  labelloc=t; label="{title}"; fontname="Helvetica"; fontsize=13;')
    for key, t in tensors.items():
        style = 'style=filled, fillcolor="#eef3ff"' if t.node is None else 'style=filled, fillcolor="#ffffff"'
        lines.append(f'  t{key} [shape=ellipse, {style}, label="{_label(t)}"];')
    for n in nodes:
        lines.append(f'  n{n.seq} [shape=box, style="rounded,filled", fillcolor="#fff4d6", '
                     f'label="{n.op.name}\\n{_short_ref(n.op.ref)}"];')
        for t in n.inputs:
            lines.append(f"  t{id(t)} -> n{n.seq};")
        for t in n.outputs:
            lines.append(f"  n{n.seq} -> t{id(t)};")
    if backward:
        dashed = 'style=dashed, color="#c0392b", fontcolor="#c0392b", constraint=false'
        for n in nodes:
            for t in n.inputs:
                if t.requires_grad:
                    lines.append(f'  n{n.seq} -> t{id(t)} [{dashed}, label="{_bar(t)}"];')
            for t in n.outputs:
                lines.append(f'  t{id(t)} -> n{n.seq} [{dashed}, label="{_bar(t)}"];')
        # the loss receives the tensors drawn (or, for a tape, those nobody consumed) and sends their adjoints back
        finals = given if given is not None else [t for k, t in tensors.items() if k not in consumed and t.node]
        if finals:
            lines.append('  loss [shape=plaintext, label="ℒ", fontsize=16];')
            for t in finals:
                lines.append(f"  t{id(t)} -> loss;")
                lines.append(f'  loss -> t{id(t)} [{dashed}, label="{_bar(t)}"];')
    lines.append("}")
    return "\n".join(lines)


def draw(x: Any, path: str | Path = "graph.svg", title: str | None = None,
         backward: bool = True) -> Drawing:
    """Write the graph of ``x`` (Tensor, list of Tensors, or Tape) to ``path``.

    Always writes ``<path>.dot``; with the Graphviz ``dot`` program installed also renders ``path`` (by its
    suffix: .svg, .png, .pdf). Without it, says how to render. Returns a :class:`Drawing`.
    """
    path = Path(path)
    dot = to_dot(x, title, backward)
    dot_path = path.with_suffix(".dot")
    dot_path.parent.mkdir(parents=True, exist_ok=True)
    dot_path.write_text(dot)
    files = [dot_path]
    if path.suffix != ".dot":
        exe = shutil.which("dot")
        if exe is None:
            print(f"Graphviz 'dot' is not installed: wrote {dot_path}. Render it with "
                  f"`dot -T{path.suffix[1:]} {dot_path} -o {path}` (Debian: apt-get install graphviz)")
        else:
            subprocess.run([exe, f"-T{path.suffix[1:]}", str(dot_path), "-o", str(path)], check=True)
            files.append(path)
    return Drawing(dot, files)
