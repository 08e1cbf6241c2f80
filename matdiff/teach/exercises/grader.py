"""The grader: run the learner's rule on every case and probe, compare it with the true derivative (central
differences of the forward) and with matdiff's reference rule, and say which part is wrong.

An exercise (:class:`matdiff.teach.exercises.catalog.Exercise`) supplies the cases, the probes (one cotangent at a time,
a permutation that is its own inverse, ...), the expected outputs and a ``diagnose`` that turns the pass/fail
pattern into a *part* (a key of its ``hints``). This module owns everything that touches the learner's function:
calling it, turning an exception, a wrong shape or dtype or a NaN into a plain sentence, and the :class:`Grade`.
"""
from __future__ import annotations

import html
import os
import signal
import threading
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .heatmap import block_map, svg_maps
from .report import render

TOL = 1e-6          # relative error allowed against the true derivative (central differences are good to ~1e-9)
TIME_LIMIT = 10.0   # seconds one call of the learner's function may take (each case is a few small matrices)


@dataclass
class Check:
    """One run of the learner's function: ``case`` (e.g. "complex deep 5x3"), ``probe`` (e.g. "Qbar = 0")."""
    case: str
    probe: str
    ok: bool
    err_true: float = float("nan")      # vs central differences of the forward
    err_ref: float = float("nan")       # vs matdiff's reference rule
    bad: tuple = ()                     # names of the outputs that are wrong


class LearnerError(Exception):
    """The learner's function could not be graded (it raised, or returned the wrong kind of thing)."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def call(fn, args, func_name):
    """``fn(*args)``; an exception becomes a :class:`LearnerError` saying where in *their* code it happened."""
    try:
        with np.errstate(all="ignore"), _time_limit(TIME_LIMIT):
            return fn(*[a.copy() if isinstance(a, np.ndarray) else a for a in args])
    except LearnerError:
        raise
    except _TimeUp:
        raise LearnerError("raised", f"`{func_name}` ran for more than {TIME_LIMIT:g} s on one small case and was "
                                     "stopped: is there a loop that never ends (a `while` whose condition never "
                                     "changes)? The rule needs no loop at all -- a few matrix products.") from None
    except NotImplementedError:
        raise LearnerError("todo", f"`{func_name}` is not implemented yet -- it still raises NotImplementedError. "
                                     "Replace that line with the rule, then grade again.") from None
    except Exception as e:                                    # noqa: BLE001 -- any error of theirs is reported
        raise LearnerError("raised", f"`{func_name}` raised {type(e).__name__}: {e}{_where(e)}") from None


class _TimeUp(BaseException):
    """Raised into the learner's function when it overruns (a BaseException, so their `except Exception` cannot
    swallow it)."""


@contextmanager
def _time_limit(seconds):
    """Interrupt the body after ``seconds`` with :class:`_TimeUp` -- by SIGALRM, so only in the main thread of a
    Unix process; elsewhere (a worker thread, Windows) the body runs without a limit."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def up(signum, frame):
        raise _TimeUp
    previous = signal.signal(signal.SIGALRM, up)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _where(e):
    """`` (your line N: <code>)`` -- the last frame of the traceback outside matdiff's own files."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    frames = [f for f in traceback.extract_tb(e.__traceback__) if not os.path.abspath(f.filename).startswith(here)]
    frames = [f for f in frames if "numpy" not in f.filename and "site-packages" not in f.filename] or frames
    if not frames:
        return ""
    f = frames[-1]
    return f"\n  at {os.path.basename(f.filename)}, line {f.lineno}: {(f.line or '').strip()}"


def as_outputs(out, names, like, func_name):
    """Check the learner's result against the expected outputs ``like`` (arrays): count, shape, dtype, finiteness.

    Returns a tuple of arrays; raises :class:`LearnerError` with a plain explanation otherwise."""
    outs = tuple(out) if len(names) > 1 and isinstance(out, (tuple, list)) else (out,)
    if len(outs) != len(names):
        length = f" of length {len(outs)}" if len(outs) > 1 else ""
        raise LearnerError("shape", f"`{func_name}` should return {len(names)} arrays ({', '.join(names)}), "
                                    f"got {type(out).__name__}{length}")
    return tuple(_one(o, n, e, func_name) for o, n, e in zip(outs, names, like))


def _one(o, name, expected, func_name):
    if o is None:
        raise LearnerError("shape", f"`{func_name}` returned None for {name}: did you forget `return`?")
    try:
        a = np.asarray(o.data if hasattr(o, "node") else o)
    except Exception:                                         # noqa: BLE001
        a = np.asarray(None)
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise LearnerError("dtype", f"{name} should be a NumPy array of numbers, got {type(o).__name__}")
    if a.shape != np.shape(expected):
        raise LearnerError("shape", f"{name} has shape {a.shape}, expected {np.shape(expected)}"
                                      + _shape_tip(a.shape, np.shape(expected)))
    if np.iscomplexobj(a) and not np.iscomplexobj(expected) and np.max(np.abs(a.imag), initial=0) > 1e-12:
        raise LearnerError("dtype", f"{name} is complex where a real result is expected (imaginary part up to "
                                      f"{np.max(np.abs(a.imag)):.2g}): take np.real of a complex pairing, "
                                    "or look for a stray 1j")
    if not np.all(np.isfinite(a)):
        bad = np.argwhere(~np.isfinite(a))[:3].tolist()
        raise LearnerError("nan", f"{name} contains NaN or inf (e.g. at {bad}); the test matrices are well "
                                    "conditioned, so look for a division or an inverse that should be a solve")
    return a.real if not np.iscomplexobj(expected) else a


def _shape_tip(got, want):
    if want == ():
        return " -- return one number (e.g. float(...)), not an array"
    if sorted(got) == sorted(want) and got != want:
        return " -- the same numbers of rows and columns swapped: a transpose too many or too few?"
    if len(got) != len(want):
        return " -- a different number of axes: on a batch (..., m, n) use swapaxes(-1, -2), not .T"
    return ""


@dataclass(repr=False)
class Grade:
    """The verdict on one learner function: ``ok``, the ``checks`` run, the diagnosed ``part`` and its hints.

    ``str(grade)`` is the short report; ``grade.hint(level)`` the hint at level 1 (which part), 2 (the equation and
    where the error lives) or 3 (stronger); ``grade.solution`` only when grading was asked for it."""
    exercise: str
    ok: bool
    checks: list = field(default_factory=list)
    part: str | None = None
    hints: tuple = ()
    problem: str | None = None          # the plain explanation when the function could not be graded
    where: str = ""                     # the structural finding ("the error lives in ...")
    notes: list = field(default_factory=list)
    maps: tuple | None = None           # (label, yours_error, reference) for the heat map
    solution: str | None = None
    level: int = 1
    ex: Any = None                      # the Exercise graded (its title, equation, outputs: for the report)

    def hint(self, level=1):
        """The hint at ``level`` (1-3; never the solution)."""
        if not self.hints:
            return ""
        return self.hints[max(1, min(level, len(self.hints))) - 1]

    def __str__(self):
        return render(self, self.level)

    __repr__ = __str__                  # at a prompt, `grade` shows the report (not a dump of the arrays)

    def _repr_html_(self):
        """Jupyter: the report as text, with the heat map as an inline SVG instead of block characters."""
        return f"<pre>{html.escape(render(self, self.level, picture=False))}</pre>" + (self._repr_svg_() or "")

    def _repr_svg_(self):
        if not self.maps:
            return None
        return svg_maps(*self.maps)

    def heatmap(self):
        """The terminal picture: per-entry |yours - true| beside the true adjoint's magnitude."""
        return block_map(*self.maps) if self.maps else ""

