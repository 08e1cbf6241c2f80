"""Per-entry pictures of a wrong adjoint: terminal block characters and an SVG for Jupyter.

Each map is scaled to the larger of its own maximum and the true adjoint's, so an error map that is all light
means a small error, all dark means an error as large as the answer itself.
"""
import numpy as np

SHADES = " ░▒▓█"


def _matrix(X):
    """The first matrix of a stack, as magnitudes."""
    X = np.abs(np.asarray(X))
    while X.ndim > 2:
        X = X[0]
    return X.reshape(1, -1) if X.ndim < 2 else X


def _scale(err, ref):
    return max(float(np.max(ref, initial=0.0)), float(np.max(err, initial=0.0)), 1e-300)


def block_map(label, err, ref, width=2):
    """Two block-character maps side by side: ``|yours − true|`` and ``|true|`` (first matrix of a batch)."""
    err, ref = _matrix(err), _matrix(ref)
    s = _scale(err, ref)

    def row(X, i):
        levels = np.clip(np.ceil(X[i] / s * (len(SHADES) - 1)), 0, len(SHADES) - 1).astype(int)
        return "".join(SHADES[v] * width for v in levels)
    w = err.shape[1] * width
    lines = [f"  |yours − true| ({label}) beside |true|:", f"  ┌{'─' * w}┐  ┌{'─' * w}┐"]
    lines += [f"  │{row(err, i)}│  │{row(ref, i)}│" for i in range(err.shape[0])]
    lines.append(f"  └{'─' * w}┘  └{'─' * w}┘   scale: █ = {s:.2g}")
    return "\n".join(lines)


def svg_maps(label, err, ref, cell=18):
    """The same two maps as an SVG string (Jupyter shows a Grade with this through ``_repr_svg_``)."""
    err, ref = _matrix(err), _matrix(ref)
    s = _scale(err, ref)
    m, n = err.shape
    gap, top = cell * 2, 22
    parts = []
    for k, (X, colour, title) in enumerate(((err, "200,40,40", "|yours − true|"), (ref, "40,80,200", "|true|"))):
        x0 = k * (n * cell + gap)
        parts.append(f'<text x="{x0}" y="14" font-size="12" font-family="sans-serif">{title}</text>')
        for i in range(m):
            for j in range(n):
                a = X[i, j] / s
                parts.append(f'<rect x="{x0 + j * cell}" y="{top + i * cell}" width="{cell - 1}" '
                             f'height="{cell - 1}" fill="rgb({colour})" fill-opacity="{a:.3f}" stroke="#ccc">'
                             f'<title>[{i},{j}] {X[i, j]:.3g}</title></rect>')
    W, Hh = 2 * n * cell + gap, top + m * cell + 18
    caption = f'<text x="0" y="{Hh - 4}" font-size="11" font-family="sans-serif">{label}; full = {s:.2g}</text>'
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{Hh}">' + "".join(parts) + caption
            + "</svg>")
