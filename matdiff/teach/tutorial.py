"""Helpers for the numbered tutorials: classroom pauses, showing matrices, checking equalities *visibly*.

Run a tutorial with ``--step`` to pause after each step (Enter goes on; answers may come from a pipe, and at the
end of input it runs on); by default (and in a notebook) it runs straight through. Figures go to
``$MATDIFF_FIGURES`` or ``figures/`` in the current folder. In Jupyter, :func:`display` shows drawings inline.
"""
import os
import re
import shutil
import sys
from itertools import zip_longest
from pathlib import Path

import numpy as np

from ..engine.show import lines

_STEPPING = "--step" in sys.argv
_state = {"shown": False, "stepping": _STEPPING}
PROMPT = "   … press Enter for the next step "


def step(title, skip=None):
    """Start a step: print its title; under ``--step`` first wait for Enter (the previous step is on screen).

    ``skip="no GPU"`` prints the title as skipped and waits for nothing (a step with nothing to show)."""
    if _state["stepping"] and _state["shown"] and not skip:
        try:
            input(PROMPT)
        except EOFError:                            # no more answers (stdin closed): run straight on
            _state["stepping"] = False
    if skip:
        title = f"{title} (skipped: {skip})"
    else:
        _state["shown"] = True
    print(f"\n=== {title} " + "=" * max(3, 70 - len(title)))


def figures_dir():
    d = Path(os.environ.get("MATDIFF_FIGURES", Path.cwd() / "figures"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def _host(a):
    a = getattr(a, "data", a)
    return a.get() if hasattr(a, "get") else np.asarray(a)


def show(name, a, precision=4):
    """Print a matrix with its name: a scalar on one line, a small matrix whole, a large one by shape, norm and
    its top-left corner (so no step scrolls off a terminal)."""
    body = lines(_host(a), precision)
    if len(body) == 1:
        print(f"{name} = {body[0]}")
    else:
        print(f"{name} =\n" + "\n".join("    " + ln for ln in body))


def _term(label):
    """A label that is a sum or difference gets parentheses, so ``‖E − (2 P_L + I)‖`` reads as the zero it is."""
    if re.search(r"\s[-+−]\s", label) and not (label.startswith("(") and label.endswith(")")):
        return f"({label})"
    return label


def _beside(what, labels, a, b):
    """Both sides next to each other (one line per row), or one above the other when too wide for a terminal."""
    left, right = lines(a), lines(b)
    titles = (f"{what}  [{labels[0]}]", f"[{labels[1]}]")
    width = max(len(titles[0]) - 4, *map(len, left)) + 3
    if 4 + width + max(len(titles[1]), *map(len, right)) > 100:
        show(titles[0], a)
        show(f"{what}  {titles[1]}", b)
        return
    if len(left) == len(right) == 1 and len(titles[0]) + len(titles[1]) + len(left[0]) + len(right[0]) < 100:
        print(f"{titles[0]} {left[0]}   {titles[1]} {right[0]}")
        return
    print(titles[0].ljust(width + 4) + titles[1])
    print("    " + "\n    ".join(f"{ln.ljust(width)}{rn}" for ln, rn in zip_longest(left, right, fillvalue="")))


def same(what, left, right, labels=("engine", "by hand"), rtol=1e-10, against=None, values=True):
    """Show both sides of an equality (side by side) and the norm of their difference; assert it is within
    ``rtol`` of their size (at least 1).

    This is how every tutorial states a claim: the two values, then the verdict ``‖a − b‖ = 3e-16 (relative
    1e-16)``. When one side is zero a relative figure means nothing: pass ``against=("‖Q^T dQ‖", QtdQ)``, the
    scale the difference is small against (the claim is then ``‖a − b‖ ≤ rtol · ‖that‖``). ``values=False``
    prints the verdict alone (for values already on screen)."""
    a, b = _host(left), _host(right)
    if values:
        _beside(what, labels, a, b)
    diff = float(np.linalg.norm(np.ravel(a - b)))
    na, nb = float(np.linalg.norm(np.ravel(a))), float(np.linalg.norm(np.ravel(b)))
    if against is not None:
        scale = float(np.linalg.norm(np.ravel(_host(against[1]))))
        note, bound = f"   (relative {diff / scale:.1e} to {against[0]} = {scale:.3g})" if scale else "", scale
    else:
        bound = max(na, nb, 1.0)
        note = f"   (relative {diff / max(na, nb):.1e})" if min(na, nb) > 0 else "   (one side is 0: absolute)"
    head = "    " if values else f"{what}: "
    print(f"{head}‖{_term(labels[0])} − {_term(labels[1])}‖ = {diff:.2e}{note}")
    assert diff <= rtol * bound, f"{what}: {labels[0]} and {labels[1]} differ by {diff:.3g}"


def _in_notebook():
    """True inside a Jupyter kernel (IPython's kernel shell has a ``kernel``), False in a terminal."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return getattr(shell, "kernel", None) is not None


def display(obj, terminal="drew {files}"):
    """Show what ``md.draw`` returned: in Jupyter inline (a drawing as SVG, the stepper page as HTML, through
    their ``_repr_svg_`` / ``_repr_html_``); in a terminal print ``terminal`` with ``{files}`` (all files written)
    or ``{file}`` (the last one) filled in -- where to open it."""
    files = list(getattr(obj, "files", []))
    if _in_notebook():
        from IPython.display import display as show_inline
        show_inline(obj)
    else:
        print(terminal.format(files=", ".join(map(str, files)), file=files[-1] if files else "?"))


def can_draw():
    """Graphviz's ``dot`` renders pictures and step-through pages; without it tutorials say so and go on."""
    if shutil.which("dot"):
        return True
    print("(Graphviz's 'dot' is not installed -- apt-get install graphviz / brew install graphviz -- so no picture)")
    return False


def your_turn(*exercises):
    """The closing line of a tutorial: the exercises (``python -m matdiff exercises``) where the learner writes the
    rule just shown, and matdiff grades it against finite differences and its own rule."""
    first = exercises[0]
    print(f"Your turn: write it yourself -- exercises {', '.join(exercises)}:  python -m matdiff exercises start "
          f"{first}  then  python -m matdiff exercises check {first} {first}.py --hint 1")
