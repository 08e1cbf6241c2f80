"""Finite-difference checks of the engine: ``gradcheck`` (the full Jacobian, or random projections).

``gradcheck`` compares, for every real coordinate of every differentiable input (real and imaginary parts
of complex entries) and every real coordinate of every output, the analytic derivative from the vjp rules
with a central difference ``(f(x + eps e) - f(x - eps e)) / 2 eps`` of the forward. To be fast it puts all
perturbed inputs on one leading batch axis and runs one batched forward, and all unit seeds on one leading
axis and runs one batched backward; both are verified against unbatched evaluations first and it falls
back to loops for functions that do not broadcast.

``check_adjoint`` (the trace identity between jvp and vjp) lives in ``trace_identity.py``.
"""
import numbers
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .autodiff import grad
from .errors import GradcheckError, MatdiffError, PrecisionWarning
from .tape import no_grad
from .tensor import Tensor, tensor

_DEFAULTS = {"double": dict(eps=1e-6, atol=1e-5, rtol=1e-4), "single": dict(eps=1e-3, atol=1e-2, rtol=1e-2)}
_CHUNK = 1 << 22            # entries per batched evaluation (bounds memory)
_BATCHED = True             # try the batched evaluations first (tests switch it off to compare with the loops)
_WORKERS = min(4, os.cpu_count() or 1)


class Report:
    """What a check found: ``ok``, ``max_abs_err``, ``max_rel_err``, ``worst`` and a printable ``table``."""

    def __init__(self, kind, ok, max_abs_err, max_rel_err, worst, rows, header, n_compared, tol):
        self.kind, self.ok, self.max_abs_err, self.max_rel_err = kind, ok, max_abs_err, max_rel_err
        self.worst, self.rows, self.header, self.n_compared, self.tol = worst, rows, header, n_compared, tol

    @property
    def table(self):
        widths = [max(len(str(r[i])) for r in [self.header] + self.rows) for i in range(len(self.header))]
        fmt = lambda r: "  ".join(f"{str(c):>{w}}" for c, w in zip(r, widths))  # noqa: E731
        return "\n".join([fmt(self.header), fmt(["-" * w for w in widths])] + [fmt(r) for r in self.rows])

    def __str__(self):
        verdict = "OK" if self.ok else "FAILED"
        unit = "derivatives" if self.kind == "gradcheck" else "random directions"
        return (f"{self.kind}: {verdict} -- {self.n_compared} {unit} compared, max abs err {self.max_abs_err:.3g}, "
                f"max rel err {self.max_rel_err:.3g} ({self.tol})\nworst: {self.worst}\n{self.table}")

    __repr__ = __str__

    def __bool__(self):
        return bool(self.ok)


def _check_args(what, f, **values):
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


# -- inputs and outputs as real coordinates --------------------------------------------------------------
def _setup(inputs):
    ts = [x if isinstance(x, Tensor) else tensor(x) for x in (inputs if isinstance(inputs, (list, tuple)) else [inputs])]
    diff = [i for i, t in enumerate(ts) if t.requires_grad]
    if not diff:
        diff = [i for i, t in enumerate(ts) if t.backend.is_float(t.dtype)]
    if not diff:
        raise MatdiffError("gradcheck: no float input to differentiate")
    return ts, diff


def _outputs(out):
    outs = out if isinstance(out, (tuple, list)) else (out,)
    keep = [k for k, o in enumerate(outs) if isinstance(o, Tensor) and o.backend.is_float(o.dtype)]
    if not keep:
        raise MatdiffError(f"gradcheck: the function returned no float Tensor (got {type(out).__name__}); "
                           "return the Tensor(s) whose derivatives should be checked")
    return [outs[k] for k in keep], keep


def _flat_real(b, a, lead=0):
    """Real coordinates of array ``a`` (complex -> (re, im) pairs), flattened after ``lead`` axes, on the host."""
    h = np.ascontiguousarray(b.to_host(a))
    h = h.reshape(h.shape[:lead] + (-1,))
    return h.view(h.real.dtype) if np.iscomplexobj(h) else h      # a complex array viewed as (re, im) pairs


def _basis(b, t, lo, hi, scale=1.0):
    """Unit perturbations ``lo:hi`` of ``t``'s real coordinates (complex: re, im alternate): (hi-lo, *t.shape)."""
    n = int(np.prod(t.shape))
    cplx = b.is_complex(t.dtype)
    j = np.arange(lo, hi)
    E = np.zeros((hi - lo, n), dtype=np.complex128 if cplx else np.float64)
    E[np.arange(hi - lo), j // 2 if cplx else j] = np.where(j % 2, 1j, 1) * scale if cplx else scale
    return b.astype(b.from_host(E.reshape((hi - lo,) + t.shape)), t.dtype)


def _n_coords(t):
    return int(np.prod(t.shape)) * (2 if t.backend.is_complex(t.dtype) else 1)


def _labels(t, name, shape):
    cplx = t.backend.is_complex(t.dtype)
    for idx in np.ndindex(*shape) if shape else [()]:
        for part in (("re", "im") if cplx else ("",)):
            yield f"{name}{list(idx)}{'.' + part if part else ''}"


def _defaults(ts, eps, atol, rtol, what):
    single = any(t.backend.real_dtype(t.dtype) == t.backend.xp.float32 for t in ts if t.backend.is_float(t.dtype))
    d = _DEFAULTS["single" if single else "double"]
    if single:
        warnings.warn(f"{what} in single precision is only accurate to ~1e-3; check in float64/complex128 for a "
                      "verdict you can trust", PrecisionWarning, stacklevel=3)
    return (d["eps"] if eps is None else eps, d["atol"] if atol is None else atol, d["rtol"] if rtol is None else rtol)


# -- the two Jacobians ------------------------------------------------------------------------------------
def _eval(f, ts, i, xi):
    args = list(ts)
    args[i] = tensor(xi)
    with no_grad():
        return _outputs(f(*args))[0]


def _chunks(n, per_item, workers):
    """Split range(n) into chunks that bound memory and give every worker thread something to do."""
    step = max(1, min(_CHUNK // max(1, per_item), -(-n // workers)))
    return [(lo, min(n, lo + step)) for lo in range(0, n, step)]


def _map(func, chunks):
    """Run ``func`` over chunks in a few threads: NumPy/LAPACK release the GIL, so small batched kernels
    (which OpenBLAS runs single-threaded) use every core."""
    if len(chunks) <= 1 or _WORKERS <= 1:
        return [func(*c) for c in chunks]
    with ThreadPoolExecutor(_WORKERS) as pool:
        return list(pool.map(lambda c: func(*c), chunks))


def _numeric(f, ts, i, eps, n_out_coords):
    """Columns of the numeric Jacobian for input ``i``: (n_out_coords, N_i), by central differences."""
    t = ts[i]
    b = t.backend
    N = _n_coords(t)
    cols = np.empty((n_out_coords, N))

    def loop(lo, hi):
        D = _basis(b, t, lo, hi, eps)
        for j in range(hi - lo):
            plus = _eval(f, ts, i, t.data + D[j, ...])
            minus = _eval(f, ts, i, t.data - D[j, ...])
            cols[:, lo + j] = np.concatenate([(_flat_real(b, p.data) - _flat_real(b, m.data)) / (2 * eps)
                                              for p, m in zip(plus, minus)])

    def batch(lo, hi):
        D = _basis(b, t, lo, hi, eps)
        outs = _eval(f, ts, i, b.concat([t.data + D, t.data - D], axis=0))
        P = hi - lo
        flats = [_flat_real(b, o.data, 1) for o in outs]                        # each (2P, coords of that output)
        if any(fl.shape[0] != 2 * P for fl in flats) or sum(fl.shape[1] for fl in flats) != n_out_coords:
            raise ValueError("the function does not broadcast over a leading axis")
        r0 = 0
        for fl in flats:
            cols[r0:r0 + fl.shape[1], lo:hi] = ((fl[:P] - fl[P:]) / (2 * eps)).T
            r0 += fl.shape[1]

    if _BATCHED and N > 1:
        try:
            loop(0, 1)                                   # one column unbatched, to verify the batched path
            ref = cols[:, 0].copy()
            batch(0, min(N, 2))
            if np.allclose(cols[:, 0], ref, rtol=1e-6, atol=1e-6 * (1 + np.abs(ref).max())):
                _map(batch, _chunks(N, int(np.prod(t.shape)) * 4, _WORKERS))
                return cols
        except (ValueError, MatdiffError, IndexError, TypeError):
            pass
    loop(0, N)
    return cols


def _analytic(f, ts, diff, consume):
    """The analytic Jacobian by rows -- one backward per real output coordinate, batched along a leading axis --
    handed to ``consume(r0, [rows per differentiable input])`` block by block (possibly from worker threads)."""
    leaves = [tensor(t.data, requires_grad=(i in diff)) if t.backend.is_float(t.dtype) else t
              for i, t in enumerate(ts)]
    outs, _ = _outputs(f(*leaves))
    for o in outs:
        if not o.requires_grad:
            raise MatdiffError("gradcheck: an output does not depend on any differentiable input")
    b = outs[0].backend
    targets = [leaves[i] for i in diff]
    counts = [_n_coords(o) for o in outs]
    offsets = np.cumsum([0] + counts)

    def rows_of(k, lo, hi, lead):
        seeds = [b.zeros(((hi - lo,) if lead else ()) + o.shape, o.dtype) for o in outs]
        seeds[k] = _basis(b, outs[k], lo, hi) if lead else _basis(b, outs[k], lo, hi)[0, ...]
        gs = grad(outs, targets, seeds, retain_graph=True, _lead=lead)
        return [_flat_real(b, g, lead).reshape(hi - lo, -1) for g in gs]

    def batch(k, lo, hi):
        consume(offsets[k] + lo, rows_of(k, lo, hi, 1))

    size = max(int(np.prod(t.shape)) for t in targets + outs) * 4
    if _BATCHED:
        try:
            ref = rows_of(0, 0, 1, 0)                    # one row unbatched, to verify the batched path
            got = rows_of(0, 0, 1, 1)
            if all(np.allclose(g, r, rtol=1e-8, atol=1e-12 * (1 + np.abs(r).max())) for g, r in zip(got, ref)):
                _map(batch, [(k, lo, hi) for k, c in enumerate(counts) for lo, hi in _chunks(c, size, _WORKERS)])
                return outs
        except (ValueError, MatdiffError, IndexError, TypeError):
            pass
    for k, c in enumerate(counts):
        for j in range(c):
            consume(offsets[k] + j, rows_of(k, j, j + 1, 0))
    return outs


class _Compare:
    """Streams blocks of (analytic, numeric) Jacobian rows; keeps the summary and the worst entries."""

    def __init__(self, atol, rtol, keep):
        self.atol, self.rtol, self.keep = atol, rtol, keep
        self.max_abs, self.max_viol, self.scale, self.n = 0.0, -np.inf, 0.0, 0
        self.cands = []                 # (rank, viol, target, row, col, analytic, numeric, err)
        self.lock = threading.Lock()

    def add(self, target, r0, Ja, Jn):
        err = np.abs(Ja - Jn)
        viol = err - (self.atol + self.rtol * np.abs(Jn))
        rank = np.where(viol > 0, np.inf, err)                 # failures first, then the largest errors
        rows = np.argsort(-rank.max(axis=1), kind="stable")[:self.keep]   # the worst entries lie in these rows
        sub = rank[rows]
        flat = np.argsort(-sub, axis=None, kind="stable")[:self.keep]
        rr, cc = np.unravel_index(flat, sub.shape)
        found = [(float(rank[rows[r], c]), float(viol[rows[r], c]), target, r0 + int(rows[r]), int(c),
                  float(Ja[rows[r], c]), float(Jn[rows[r], c]), float(err[rows[r], c])) for r, c in zip(rr, cc)]
        with self.lock:
            self.n += err.size
            self.max_abs = max(self.max_abs, float(err.max(initial=0)))
            self.max_viol = max(self.max_viol, float(viol.max(initial=-np.inf)))
            self.scale = max(self.scale, float(np.abs(Jn).max(initial=0)))
            self.cands = sorted(self.cands + found, key=lambda x: -x[0])[:self.keep]


# -- the public checks ------------------------------------------------------------------------------------
def gradcheck(f, inputs, *, eps=None, atol=None, rtol=None, fast=False, raise_on_fail=False, n_checks=3, seed=0,
              max_rows=12):
    """Check ``f``'s derivatives against central differences; returns a :class:`Report` (truthy when ok).

    ``inputs``: Tensors (those with requires_grad are differentiated; if none has it, every float input is)
    or arrays. ``fast=True`` compares ``n_checks`` random projections ``<v, J u>`` with ``<J^H v, u>`` instead of
    the full Jacobian. Tolerance per entry: ``|analytic - numeric| <= atol + rtol |numeric|``.
    """
    _check_args("gradcheck", f, eps=eps, atol=atol, rtol=rtol, n_checks=n_checks)
    ts, diff = _setup(inputs)
    eps, atol, rtol = _defaults([ts[i] for i in diff], eps, atol, rtol, "gradcheck")
    if fast:
        return _fast(f, ts, diff, eps, atol, rtol, n_checks, seed, raise_on_fail)
    with no_grad():
        outs0 = _outputs(f(*ts))[0]
    n_out = sum(_n_coords(o) for o in outs0)
    Jn = {i: _numeric(f, ts, i, eps, n_out) for i in diff}            # numeric Jacobians first, stored ...
    cmp = _Compare(atol, rtol, max_rows)

    def consume(r0, blocks):                                          # ... analytic rows compared as they come
        for target, (i, A) in enumerate(zip(diff, blocks)):
            cmp.add(target, r0, A, Jn[i][r0:r0 + A.shape[0]])

    outs = _analytic(f, ts, diff, consume)
    out_labels = [lab for k, o in enumerate(outs) for lab in _labels(o, o.name or f"out{k}", o.shape)]
    in_labels = [list(_labels(ts[i], ts[i].name or f"in{i}", ts[i].shape)) for i in diff]
    rows = [[in_labels[t][c], out_labels[r], f"{a:.6g}", f"{nm:.6g}", f"{e:.2e}", "ok" if v <= 0 else "FAIL"]
            for _, v, t, r, c, a, nm, e in cmp.cands]
    worst = None
    if cmp.cands:
        _, v, t, r, c, a, nm, e = cmp.cands[0]
        worst = dict(input=in_labels[t][c], output=out_labels[r], analytic=a, numeric=nm)
    rep = Report("gradcheck", cmp.max_viol <= 0, cmp.max_abs, cmp.max_abs / max(cmp.scale, 1e-300), worst, rows,
                 ["input", "output", "analytic", "numeric", "abs err", ""], cmp.n,
                 f"atol={atol:g}, rtol={rtol:g}, eps={eps:g}")
    return _finish(rep, raise_on_fail)


def _finish(rep, raise_on_fail):
    if raise_on_fail and not rep.ok:
        raise GradcheckError(str(rep))
    return rep


def _random_like(rng, t, b):
    h = rng.standard_normal(t.shape)
    if b.is_complex(t.dtype):
        h = h + 1j * rng.standard_normal(t.shape)
    return b.astype(b.from_host(h), t.dtype)


def _fast(f, ts, diff, eps, atol, rtol, n_checks, seed, raise_on_fail):
    rng = np.random.default_rng(seed)
    leaves = [tensor(t.data, requires_grad=(i in diff)) for i, t in enumerate(ts)]
    outs, _ = _outputs(f(*leaves))
    b = outs[0].backend
    rows, worst, max_abs, scale = [], None, 0.0, 0.0
    for c in range(n_checks):
        U = {i: _random_like(rng, ts[i], b) for i in diff}
        V = [_random_like(rng, o, b) for o in outs]
        gs = grad(outs, [leaves[i] for i in diff], V, retain_graph=True)
        analytic = sum(b.vdot_real(g, U[i]) for g, i in zip(gs, diff))          # <J^H v, u>
        plus = _outputs(f(*[tensor(t.data + eps * U[i]) if i in U else t for i, t in enumerate(ts)]))[0]
        minus = _outputs(f(*[tensor(t.data - eps * U[i]) if i in U else t for i, t in enumerate(ts)]))[0]
        numeric = sum(b.vdot_real(v, (p.data - m.data) / (2 * eps)) for v, p, m in zip(V, plus, minus))  # <v, J u>
        err = abs(analytic - numeric)
        ok = err <= atol + rtol * abs(numeric)
        rows.append([f"#{c}", f"{analytic:.10g}", f"{numeric:.10g}", f"{err:.2e}", "ok" if ok else "FAIL"])
        if err >= max_abs:
            max_abs, worst = err, dict(check=c, analytic=analytic, numeric=numeric)
        scale = max(scale, abs(numeric))
    ok = all(r[-1] == "ok" for r in rows)
    rep = Report("gradcheck(fast)", ok, max_abs, max_abs / max(scale, 1e-300), worst, rows,
                 ["check", "<J^H v, u>", "<v, J u> (numeric)", "abs err", ""], n_checks,
                 f"atol={atol:g}, rtol={rtol:g}, eps={eps:g}")
    return _finish(rep, raise_on_fail)
