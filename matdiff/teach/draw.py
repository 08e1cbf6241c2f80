"""``md.draw``: the live graph as a picture (graphviz.py), or, with ``steps=True``, the backward stepper's page
(stepper.py) -- the one public function above both.

``draw(x, "graph.svg")`` writes DOT and, with Graphviz's ``dot`` program installed, the picture (.svg, .png at
144 dpi, .pdf). ``draw(outputs, "wide_qr.html", steps=True)`` writes one self-contained page that steps through the
backward sweep, one node per frame.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from ..errors import MatdiffError
from .graphviz import FORMATS, Drawing, render, to_dot
from .stepper import Steps, write_steps


def draw(x: Any, path: str | Path = "graph.svg", title: str | None = None, backward: bool = True, *,
         steps: bool = False, seeds: Any = None) -> Drawing:
    """Write the graph of ``x`` (a Tensor, a list of Tensors, or a Tape) to ``path`` and return a :class:`Drawing`
    (with ``steps=True`` a :class:`matdiff.teach.stepper.Steps`, which Jupyter shows inline as the page).

    The format follows the extension: ``.svg`` (also the default when ``path`` has none), ``.png``, ``.pdf``
    (these need Graphviz's ``dot`` program: ``apt-get install graphviz``, ``brew install graphviz``, or conda's
    ``graphviz``), ``.dot`` (text only), or ``.html`` with ``steps=True``: one self-contained page stepping through
    the backward sweep, one node per frame (Previous/Next buttons, arrow keys; ``#N`` in the URL opens frame N,
    ``#last`` the final one). Which sweep: after your ``loss.backward()``, that one (the adjoints it left in
    ``.grad``); with ``seeds``, the sweep those output adjoints start; for a real scalar output, seed 1; else a
    MatdiffError says what to pass. The tensors' ``.grad`` are not touched. Without ``dot`` the DOT file is still
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
            drawn = render(dot, path.suffix[1:])            # (dot reads stdin: the file is written too)
            path.write_text(drawn, encoding="utf-8") if isinstance(drawn, str) else path.write_bytes(drawn)
            files.append(path)
    return Drawing(dot, files)


__all__ = ["draw", "Drawing", "Steps", "to_dot"]
