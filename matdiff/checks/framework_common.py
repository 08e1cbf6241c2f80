"""What the two framework adapters (``framework_torch.py``, ``framework_jax.py``) share: a ``Piece`` -- one part of
a user's function that blame re-checks alone -- and how a function or a call site is named in a Report."""
from __future__ import annotations

import inspect
import os
import sys
from typing import Any, Callable, NamedTuple

from ..errors import MatdiffError


class Piece(NamedTuple):
    """One recorded part of a framework function: ``fn(*args)`` re-runs it alone at the values ``args`` one run gave
    it (every other operand held in ``fn``'s closure); ``name`` and ``ref`` say what and where it is; ``inner``,
    when not None, gives the Pieces it is made of (a ``jit``-ted function's equations), opened if it fails."""
    name: str
    ref: str
    fn: Callable[..., Any]
    args: list
    inner: Callable[[], list] | None = None


def outputs(out, array_type, framework, keep_structure=False):
    """``f``'s result as a list of ``array_type`` (``keep_structure``: a tuple if ``f`` returned one, else the
    array); anything else is a MatdiffError."""
    if isinstance(out, array_type):
        return out if keep_structure else [out]
    if isinstance(out, (tuple, list)) and out and all(isinstance(o, array_type) for o in out):
        return tuple(out) if keep_structure else list(out)
    raise MatdiffError(f"gradcheck: the {framework} function returned {type(out).__name__}; return an array or a "
                       "tuple of them (the outputs whose derivatives are checked)")


def name_of(f) -> str:
    """``f``'s name as a user wrote it (``my_model``, ``MyQR.apply``), or ``"the function"`` for a lambda."""
    name = getattr(f, "__qualname__", None) or getattr(f, "__name__", None) or type(f).__name__
    return "the function" if "<lambda>" in name else name


def ref_of(f) -> str:
    """``file.py:line`` where ``f`` (or its class) is defined, or ``""``."""
    try:
        target = f if inspect.isclass(f) else inspect.unwrap(f)
        return f"{os.path.basename(inspect.getsourcefile(target))}:{inspect.getsourcelines(target)[1]}"
    except (TypeError, OSError):
        return ""


def caller_ref(skip=("torch", "jax", os.path.join("matdiff", "checks"))) -> str:
    """``file.py:line (function)`` of the innermost frame outside the frameworks and this package: where the user's
    code made the call being recorded."""
    frame = sys._getframe(1)
    while frame is not None:
        path = frame.f_code.co_filename
        if not any(f"{os.sep}{s}{os.sep}" in path for s in skip):
            return f"{os.path.basename(path)}:{frame.f_lineno} ({frame.f_code.co_name})"
        frame = frame.f_back
    return ""
