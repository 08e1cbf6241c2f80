"""Helpers for the numbered tutorials: classroom pauses, showing matrices, checking equalities *visibly*.

Run a tutorial with ``--step`` to pause after each step (Enter goes on); by default (and in a notebook) it runs
straight through. Figures go to ``$MATDIFF_FIGURES`` or ``figures/`` in the current folder.
"""
import os
import shutil
import sys
from pathlib import Path

import numpy as np

_STEPPING = "--step" in sys.argv
_count = [0]


def step(title):
    """Start a step: print its title; under ``--step`` first wait for Enter (the previous step is on screen)."""
    if _STEPPING and _count[0] and sys.stdin.isatty():
        input("   … press Enter for the next step ")
    _count[0] += 1
    print(f"\n=== {title} " + "=" * max(3, 70 - len(title)))


def figures_dir():
    d = Path(os.environ.get("MATDIFF_FIGURES", Path.cwd() / "figures"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def _host(a):
    a = getattr(a, "data", a)
    return a.get() if hasattr(a, "get") else np.asarray(a)


def show(name, a, precision=4):
    """Print a matrix with its name: the values when small, else its shape and norm."""
    a = _host(a)
    if a.size > 36:
        print(f"{name}: shape {a.shape}, norm {np.linalg.norm(a.ravel()):.6g}")
        return
    body = np.array2string(a, precision=precision, suppress_small=True, max_line_width=100)
    print(f"{name} =\n" + "\n".join("    " + ln for ln in body.splitlines()))


def same(what, left, right, labels=("engine", "by hand"), rtol=1e-10):
    """Show both sides of an equality and the norm of their difference; assert it is within ``rtol`` of their size
    (at least 1: a side that should be zero is compared absolutely).

    This is how every tutorial states a claim: the two numbers, then the verdict."""
    a, b = _host(left), _host(right)
    show(f"{what}  [{labels[0]}]", a)
    show(f"{what}  [{labels[1]}]", b)
    diff = float(np.linalg.norm(np.ravel(a - b)))
    size = max(float(np.linalg.norm(np.ravel(a))), float(np.linalg.norm(np.ravel(b))), 1e-300)
    relative = f"   (relative {diff / size:.1e})" if size > 1e-300 else ""
    print(f"    ‖{labels[0]} − {labels[1]}‖ = {diff:.2e}{relative}")
    assert diff <= rtol * max(size, 1.0), f"{what}: {labels[0]} and {labels[1]} differ by {diff:.3g}"


def can_draw():
    """Graphviz's ``dot`` renders pictures and step-through pages; without it tutorials say so and go on."""
    if shutil.which("dot"):
        return True
    print("(Graphviz's 'dot' is not installed -- apt-get install graphviz / brew install graphviz -- so no picture)")
    return False
