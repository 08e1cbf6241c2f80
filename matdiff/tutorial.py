"""Helpers for the numbered tutorial scripts: classroom pauses and where figures go.

Run a tutorial with ``--step`` to pause after each step (Enter goes on); by default it runs straight through.
Figures go to ``$MATDIFF_FIGURES`` or ``figures/`` beside the tutorials.
"""
import os
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
    d = Path(os.environ.get("MATDIFF_FIGURES", Path(__file__).resolve().parent.parent / "figures"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def show(name, a, precision=4):
    """Print a small matrix with its name, as a learner wants to read it."""
    a = getattr(a, "data", a)
    a = a.get() if hasattr(a, "get") else np.asarray(a)
    body = np.array2string(a, precision=precision, suppress_small=True, max_line_width=100)
    print(f"{name} =\n" + "\n".join("    " + ln for ln in body.splitlines()))
