"""What a check returns: :class:`Report` (gradcheck, check_adjoint) and :class:`NodeCheck` (one node's blame entry),
plus the argument handling the checkers share.

**Relative error, one definition everywhere.** A check compares pairs of numbers ``(a_i, b_i)`` -- analytic and
numeric Jacobian entries in ``gradcheck``; ``<J^H v, u>`` and ``<v, J u>`` in ``gradcheck(fast=True)`` and
``check_adjoint`` -- and reports::

    max_abs_err = max_i |a_i - b_i|
    max_rel_err = max_i |a_i - b_i|  /  max_i max(|a_i|, |b_i|)      (0 when every number is 0)

the max-norm of the difference over the max-norm of the values. It is a size, not the verdict.

**The verdict and the ranking: the fraction of its tolerance each entry uses.** Entry ``i`` has the tolerance
``tol_i = atol + rtol |b_i|`` (gradcheck, b the numeric side) or ``rtol max(|a_i|, |b_i|)`` (check_adjoint) and uses
``ratio_i = |a_i - b_i| / tol_i`` of it (:func:`tol_used`); it passes when ``ratio_i <= 1``. ``worst`` is the entry of
largest ratio -- on a passing check the one nearest its tolerance, on a failing one the one furthest past it --
rows are sorted by ratio, largest first, and the summary quotes that entry. (A ratio, not the difference
``|a_i - b_i| - tol_i``: that would rank exact zeros, whose tolerance is smallest, above every real error.)
"""
import numbers

import numpy as np

from ..engine.tensor import Tensor, tensor
from ..errors import GradcheckError, MatdiffError


class Report:
    """The result of a check; truthy when it passed.

    Relative error, the one definition every check uses: for the compared pairs ``(a_i, b_i)`` (analytic and
    numeric derivatives; or the jvp and vjp sides of the trace identity)
    ``max_rel_err = max |difference| / max |value| = max_i |a_i - b_i| / max_i max(|a_i|, |b_i|)``.

    Fields: ``kind`` ("gradcheck", "gradcheck(fast)", "gradcheck(batched)", "gradgradcheck", "check_adjoint"); ``ok``;
    ``max_abs_err`` and ``max_rel_err`` (defined in this module's docstring, the same for every check);
    ``n_compared`` (numbers compared); ``tol`` (the tolerances, as text); ``worst`` (a dict: the entry that uses
    the largest fraction of its tolerance, ``ratio = |difference| / tolerance`` with tolerance ``atol + rtol |numeric|``
    (``rtol max(|a|, |b|)`` for check_adjoint) -- on a passing check the entry nearest its tolerance, on a failing
    one the entry furthest past it; its label ``where``, both values, ``abs_err``, ``tolerance``, ``ratio`` and, for
    batched checks, ``batch``, the index of its matrix); ``rows`` (the ``max_rows`` entries of largest ratio, sorted
    by ratio, largest first -- ``rows[0]`` is ``worst``, its "tol used" column the ratio in %) with ``header``,
    printable as ``table``; ``blame`` (the :class:`NodeCheck` of each recorded node that fails its own check, in
    tape order; empty when the check passed) and ``node_checks`` (every node re-checked); ``summary``, one line:
    the verdict and the worst entry's figures (where, |difference|, the fraction of its tolerance, that tolerance).
    """

    def __init__(self, kind, ok, max_abs_err, max_rel_err, worst, rows, header, n_compared, tol):
        self.kind, self.ok, self.max_abs_err, self.max_rel_err = kind, bool(ok), max_abs_err, max_rel_err
        self.worst, self.rows, self.header, self.n_compared, self.tol = worst, rows, header, n_compared, tol
        self.blame, self.node_checks = [], []

    @property
    def table(self):
        widths = [max(len(str(r[i])) for r in [self.header] + self.rows) for i in range(len(self.header))]
        fmt = lambda r: "  ".join(f"{str(c):>{w}}" for c, w in zip(r, widths))  # noqa: E731
        return "\n".join([fmt(self.header), fmt(["-" * w for w in widths])] + [fmt(r) for r in self.rows])

    @property
    def summary(self):
        """One line: the verdict, how much was compared, and the figures of the worst entry (``worst``)."""
        unit = "random directions" if "fast" in self.kind or self.kind == "check_adjoint" else "derivatives"
        head = f"{self.kind} {'OK' if self.ok else 'FAILED'}: {self.n_compared} {unit}"
        w = self.worst
        if not w:
            return f"{head}, nothing to compare ({self.tol})"
        batch = f" (matrix [{', '.join(map(str, w['batch']))}] of the batch)" if w.get("batch") is not None else ""
        return (f"{head}; {'nearest to' if self.ok else 'furthest past'} its tolerance: {w['where']}{batch}, "
                f"|difference| {w['abs_err']:.2e} {_share(w['ratio'], w['tolerance'])} ({self.tol})")

    def __str__(self):
        lines = [self.summary]
        if self.blame:
            passed = sorted({c.op for c in self.node_checks if c.ok} - {c.op for c in self.blame})
            lines.append(f"blame: {self.blame[0].sentence()}"
                         + (f"; {', '.join(f'`{p}`' for p in passed)} pass their own checks" if passed else ""))
            lines += [f"       also: {c.sentence()}" for c in self.blame[1:]]
        elif self.node_checks and not self.ok:
            lines.append("blame: every recorded node passes its own check -- the disagreement comes from the "
                         "composition (a step too large for the function's curvature, or an ill-conditioned input)")
        lines.append(f"max abs err {self.max_abs_err:.3g}, max rel err {self.max_rel_err:.3g} over all "
                     f"{self.n_compared} compared")
        return "\n".join(lines + [self.table])

    __repr__ = __str__

    def __bool__(self):
        return self.ok


class NodeCheck:
    """One recorded node re-checked on its own: its vjp against central differences of its forward at the
    recorded inputs, and its jvp against its vjp (trace identity). ``ok``; ``number`` (#1 is the tape's first
    node); ``op``; ``ref`` (the equation it implements); ``inputs`` ("3x3 float64" ...); ``vjp`` and ``jvp``
    (their Reports, or None if not run; ``vjp.worst`` is the node's entry furthest past its tolerance, ranked as in
    :class:`Report`); ``error`` (why the node could not be checked, or None)."""

    def __init__(self, number, op, ref, inputs, vjp=None, jvp=None, error=None, order=1):
        self.number, self.op, self.ref, self.inputs = number, op, ref, inputs
        self.vjp, self.jvp, self.error, self.order = vjp, jvp, error, order
        self.ok = error is None and (vjp is None or vjp.ok) and (jvp is None or jvp.ok)

    def sentence(self):
        where = f"`{self.op}` (node #{self.number}, inputs {', '.join(self.inputs)}; {self.ref})"
        if self.error:
            return f"{where} could not be re-checked: {self.error}"
        if self.vjp is not None and not self.vjp.ok:
            w = self.vjp.worst or {}
            worst = (f"worst {w.get('where', '?')}, analytic {w.get('analytic', float('nan')):.6g} vs numeric "
                     f"{w.get('numeric', float('nan')):.6g} ({percent(w.get('ratio', float('inf')))} of its tolerance)")
            if self.order == 2:
                return (f"the vjp of {where}, differentiated again, disagrees with finite differences of the vjp: "
                        f"{worst} -- its rule is right to first order only (does it use values where it should use "
                        "its saved inputs?)")
            return f"the vjp of {where} disagrees with finite differences: {worst}"
        return f"the jvp of {where} disagrees with its vjp (trace identity, rel err {self.jvp.max_rel_err:.2e})"

    def __repr__(self):
        return f"ok: `{self.op}` (node #{self.number})" if self.ok else "FAILED: " + self.sentence()


# -- what every checker shares --------------------------------------------------------------------------------
def tol_used(err, tol):
    """The fraction of its tolerance an entry uses, ``err / tol`` (numbers or arrays; passes when ``<= 1``): 0 where
    both are 0, inf where only the tolerance is 0 or the difference is NaN -- so those rank first, and fail."""
    err, tol = np.asarray(err, dtype=float), np.asarray(tol, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = err / tol
    bad = np.isnan(r)
    if bad.any():
        r = np.where(bad, np.where(err == 0, 0.0, np.inf), r)
    return float(r) if r.ndim == 0 else r


def ranked(found, digits):
    """Random-direction checks ``(fraction of tolerance, check, one side, other side, abs err, tolerance)`` ranked
    largest fraction first (then largest error): ``(the worst, the table's rows)`` -- gradcheck(fast) and
    check_adjoint rank alike."""
    found = sorted(found, key=lambda x: (-x[0], -x[4]))
    rows = [[f"#{c}", f"{a:.{digits}g}", f"{b:.{digits}g}", f"{e:.2e}", f"{tol:.2e}", percent(q),
             "ok" if q <= 1 else "FAIL"] for q, c, a, b, e, tol in found]
    return found[0], rows


def percent(ratio):
    """A ratio as a readable percentage: ``'8.8e-04%'``, ``'0.5%'``, ``'37%'``, ``'1,200%'``, ``'inf%'``."""
    pct = 100 * ratio
    if pct >= 10 or pct == 0 or not np.isfinite(pct):
        return f"{pct:,.0f}%"
    return f"{pct:.2g}%" if pct >= 0.1 else f"{pct:.1e}%"


def _share(ratio, tol):
    """How much of its tolerance the summary's entry uses, in words."""
    if np.isfinite(ratio):
        return f"uses {percent(ratio)} of its tolerance {tol:.2e}"
    return "against a tolerance of 0" if tol == 0 else f"(not a number) against its tolerance {tol:.2e}"


def rel_err(max_abs, max_mag):
    """The one relative error (module docstring): max |difference| over the max magnitude; 0 for all-zero."""
    return max_abs / max_mag if max_mag > 0 else (0.0 if max_abs == 0 else float("inf"))


def check_args(what, f, **values):
    """Refuse a non-callable ``f`` and non-positive steps/tolerances where they are given, before any work."""
    if not callable(f):
        raise MatdiffError(f"{what}: the first argument must be the function to check (Tensors in, Tensor(s) out), "
                           f"got a {type(f).__name__}")
    for key, v in values.items():
        if v is None:
            continue
        bad = not isinstance(v, numbers.Real) or isinstance(v, bool) or not np.isfinite(v)
        if bad or v < 0 or (v == 0 and key in ("eps", "n_checks")):
            need = "a positive integer" if key == "n_checks" else "a positive number" if key == "eps" else ">= 0"
            raise MatdiffError(f"{what}: {key}={v!r} is not allowed; {key} must be {need}")


def finish(rep, raise_on_fail):
    if raise_on_fail and not rep.ok:
        raise GradcheckError(str(rep))
    return rep


def setup(inputs, what="gradcheck"):
    """The inputs as Tensors, and which of them are differentiated (those with requires_grad, else every float)."""
    items = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    ts = [x if isinstance(x, Tensor) else tensor(x) for x in items]
    diff = [i for i, t in enumerate(ts) if t.requires_grad]
    if not diff:
        diff = [i for i, t in enumerate(ts) if t.backend.is_float(t.dtype)]
    if not diff:
        raise MatdiffError(f"{what}: no float input to differentiate; give float32/64 or complex64/128 inputs")
    return ts, diff


def float_outputs(out, what="gradcheck"):
    """The float Tensors among ``f``'s results, and their positions."""
    outs = out if isinstance(out, (tuple, list)) else (out,)
    keep = [k for k, o in enumerate(outs) if isinstance(o, Tensor) and o.backend.is_float(o.dtype)]
    if not keep:
        raise MatdiffError(f"{what}: the function returned no float Tensor (got {type(out).__name__}); "
                           "return the Tensor(s) whose derivatives should be checked")
    return [outs[k] for k in keep], keep


def random_like(rng, t, b):
    h = rng.standard_normal(t.shape)
    if b.is_complex(t.dtype):
        h = h + 1j * rng.standard_normal(t.shape)
    return b.astype(b.from_host(h), t.dtype)


def is_single(ts):
    return any(t.backend.real_dtype(t.dtype) == t.backend.float32 for t in ts if t.backend.is_float(t.dtype))
