"""The one array formatter: how matdiff writes a value for a person -- ``repr(T)``, ``backward(trace=True)``, the
tutorials' ``show`` and the backward stepper's panel all print through these few functions.

A small value is written whole (NumPy's ``array2string``, 4 digits, tiny entries as 0); a large one by its shape,
its norm and its top-left corner, so no value scrolls off a screen.
"""
import numpy as np

SMALL = 16                          # entries: a repr or a trace shows a value whole up to this size
FULL_ROWS, FULL_COLS, CORNER = 6, 8, 4      # a tutorial shows a matrix whole up to 6 x 8, else a 4 x 4 corner


def text(a, precision=4, separator=" ", width=75):
    """``a``'s entries as NumPy writes them, ``precision`` digits, entries below ``10^-precision`` as 0."""
    return np.array2string(np.asarray(a), precision=precision, suppress_small=True, separator=separator,
                           max_line_width=width)


def shape_text(shape):
    """``3×4`` (``scalar`` for a 0-d value)."""
    return "×".join(map(str, shape)) or "scalar"


def norm(a):
    """The Frobenius norm of all entries (of a whole stack)."""
    return float(np.linalg.norm(np.asarray(a).ravel()))


def corner(a, k=CORNER):
    """The top-left ``k x k`` of ``a``'s first matrix (the first ``k`` entries of a vector)."""
    return a[:k] if a.ndim == 1 else a[(0,) * (a.ndim - 2)][:k, :k]


def lines(a, precision=4, rows=FULL_ROWS, cols=FULL_COLS):
    """The lines that show ``a``: all of it when small (up to ``rows x cols``), else shape, norm and a corner."""
    m, n = {0: (1, 1), 1: (1, a.size)}.get(a.ndim, a.shape[-2:])
    if a.ndim <= 2 and m <= rows and n <= cols:
        return text(a, precision, width=100).splitlines()
    c = corner(a)
    what = f"first {c.shape[0]}" if a.ndim == 1 else f"top-left {shape_text(c.shape)}"
    return [f"{shape_text(a.shape)}, norm {norm(a):.6g}, {what}:"] + text(c, precision, width=100).splitlines()


def number(x):
    """One entry in 3 significant digits (``1.5-0.2i`` for a complex one; a rounding-size real as ``0``)."""
    if np.iscomplexobj(x):
        return f"{x.real:.3g}{x.imag:+.3g}i"
    return "0" if abs(x) < 5e-13 else f"{x:.3g}"
