"""``start(name, dir)``: a template file (and a notebook) per exercise -- the paper's reference and notation, the
given forward (the grader's own), the signature, and ``raise NotImplementedError`` where the rule goes.
"""
from __future__ import annotations

import inspect
import json
import os

import numpy as np

from ...errors import MatdiffError
from ...ops import paper
from . import given
from .catalog import REGISTRY

IMPORTS = ("import numpy as np\n\nimport matdiff as md  # noqa: F401\n"
           "from matdiff.paper import E, P_L, copyltu, hcopyltu, sym, symh  # noqa: F401\n")


def namespace():
    """What a learner's file (and a solution) sees: NumPy, the paper's helpers and the given functions."""
    import matdiff
    ns = {"np": np, "md": matdiff}
    ns.update({k: getattr(paper, k) for k in ("E", "P_L", "copyltu", "hcopyltu", "sym", "symh")})
    ns.update({k: getattr(given, k) for k in ("mH", "qr", "lq", "solve_right", "qr_vjp", "lq_vjp", "eq8_uncorrected")})
    return ns


def _given_source(ex):
    return "\n\n\n".join(inspect.getsource(getattr(given, n)).rstrip() for n in ex.template)


def _stub(ex):
    name, rest = ex.signature.split("(", 1)
    args = rest.split(")")[0]
    return (f"def {name}({args}):\n"
            f'    """{ex.signature} -- {ex.equation}."""\n'
            f'    raise NotImplementedError("write {ex.equation} here")\n')


def _header(ex, path_hint):
    return (f'"""matdiff exercise {ex.name!r}: {ex.title} -- {ex.equation}.\n\n'
            f"Write the rule in `{ex.func}` below, then grade it:\n"
            f"    python -m matdiff exercises check {ex.name} {path_hint}      (hints: --hint 1, 2, 3)\n"
            f"or, in Python:  import matdiff.exercises as ex; print(ex.grade({ex.name!r}, {ex.func}))\n\n"
            f"Paper: Roberts & Roberts, {ex.equation}.\n{_wrap(ex.notation)}\n"
            '"""\n')


def _wrap(text, width=110):
    words, lines, cur = text.split(), [], ""
    for w in words:
        if len(cur) + len(w) + 1 > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    return "\n".join(lines + [cur])


def source(name):
    """The template's Python source for exercise ``name``."""
    ex = REGISTRY[name]
    given_src = _given_source(ex)
    earlier = " and earlier rules" if any(n.endswith("_vjp") for n in ex.template) else ""
    body = f"\n\n# -- given: the forward the grader uses{earlier} --\n{given_src}\n" if given_src else "\n"
    return (_header(ex, f"{name}.py") + IMPORTS + body + "\n\n# -- your rule --\n" + _stub(ex))


def start(name, dir="."):  # noqa: A002 -- the issue's signature
    """Write ``dir/<name>.py`` and ``dir/<name>.ipynb`` for exercise ``name`` (an existing file is kept, so a
    learner's work is never overwritten). Returns the two paths."""
    if name not in REGISTRY:
        raise MatdiffError(f"no exercise {name!r}; the exercises are: {', '.join(REGISTRY)}")
    os.makedirs(dir, exist_ok=True)
    py, nb = os.path.join(dir, f"{name}.py"), os.path.join(dir, f"{name}.ipynb")
    if not os.path.exists(py):
        with open(py, "w", encoding="utf-8") as f:
            f.write(source(name))
    if not os.path.exists(nb):
        _notebook(name, nb)
    return py, nb


def _cell(kind, source):
    cell = {"cell_type": kind, "metadata": {}, "source": source}
    return dict(cell, execution_count=None, outputs=[]) if kind == "code" else cell


def _notebook(name, path):
    """The notebook version (nbformat 4.4 JSON, written directly: no dependency on nbformat)."""
    ex = REGISTRY[name]
    doc, code = source(name).split('"""\n', 1)
    given_part, rule = code.split("# -- your rule --\n")
    cells = [_cell("markdown", f"# Exercise `{ex.name}`: {ex.title}\n\n{doc.split(chr(10), 1)[1]}"),
             _cell("code", given_part.strip()), _cell("code", rule.strip()),
             _cell("code", f"import matdiff.exercises as ex\nex.grade({name!r}, {ex.func})"),
             _cell("markdown", "Stuck? `ex.grade(...).hint(2)`, then `.hint(3)`.")]
    meta = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"}}
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"cells": cells, "metadata": meta, "nbformat": 4, "nbformat_minor": 4}, f, indent=1,
                  ensure_ascii=False)
