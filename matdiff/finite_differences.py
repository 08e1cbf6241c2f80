"""``gradcheck``: the engine's derivatives against central differences of the forward.

For every real coordinate of every differentiable input (real and imaginary parts of complex entries) and
every real coordinate of every output, the analytic derivative from the vjp rules is compared with
``(f(x + eps e) - f(x - eps e)) / 2 eps``. To be fast, all perturbed inputs go on one leading axis for one
batched forward, and all unit seeds on one leading axis for one batched backward; both are verified against
an unbatched evaluation first, with loops as the fallback for functions that do not broadcast.

``batched=True`` treats the leading axes as a stack of independent matrices: the Jacobian is block-diagonal,
so coordinate ``j`` of *every* matrix is perturbed (and seeded) at once -- ``nb`` times fewer evaluations than
the cross-batch Jacobian, and the report names the worst matrix. When a check fails, every node the function
recorded is re-checked on its own (``matdiff/blame.py``) and ``report.blame`` names the ones at fault.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import numpy as np

from .autodiff import grad, grad_batched
from .errors import MatdiffError, PrecisionWarning, warn
from .report import Report, check_args, finish, float_outputs, is_single, random_like, rel_err, setup
from .tape import Tape, enable_grad, grad_enabled, no_grad
from .tensor import Tensor, tensor

DEFAULTS = {"double": dict(eps=1e-6, atol=1e-5, rtol=1e-4), "single": dict(eps=1e-3, atol=1e-2, rtol=1e-2)}
_CHUNK = 1 << 22            # entries per batched evaluation (bounds memory)
_BATCHED = True             # evaluate along a leading axis first (tests switch it off to compare with the loops)
_WORKERS = min(4, os.cpu_count() or 1)
_FALLBACK = (ValueError, MatdiffError, IndexError, TypeError)   # what a function that does not broadcast raises


def gradcheck(f: Callable[..., Any], inputs: Any, *, eps: float | None = None, atol: float | None = None,
              rtol: float | None = None, fast: bool = False, batched: bool = False, n_checks: int = 3, seed: int = 0,
              max_rows: int = 12, raise_on_fail: bool = False, blame: bool = True) -> Report:
    """Check ``f``'s derivatives against central differences; returns a :class:`~matdiff.report.Report`
    (truthy when every entry passes).

    ``f`` maps Tensors to a Tensor or a tuple of Tensors. ``inputs``: Tensors (those with ``requires_grad`` are
    differentiated; if none has it, every float input is) or arrays.

    * ``eps`` -- the central-difference step: 1e-6 in double precision, 1e-3 if any input is float32/complex64.
    * ``atol``, ``rtol`` -- an entry passes when ``|analytic - numeric| <= atol + rtol |numeric|``; defaults
      1e-5 / 1e-4 (double), 1e-2 / 1e-2 (single, with a :class:`PrecisionWarning`).
    * ``fast=True`` -- compare ``n_checks`` random projections ``<J^H v, u>`` (vjp) with ``<v, J u>`` (central
      differences along ``u``) instead of the full Jacobian; ``seed`` fixes the directions.
    * ``batched=True`` -- the leading axes (all but the last two of the first differentiated input) are
      independent matrices: only the block-diagonal Jacobian is compared, one block per matrix, and
      ``report.worst["batch"]`` is the worst matrix. ``f`` must keep those axes in front of every output and
      must not mix matrices (checked by perturbing one).
    * ``max_rows`` -- entries listed in ``report.table`` (the worst first).
    * ``raise_on_fail=True`` -- raise :class:`matdiff.GradcheckError` with the report instead of returning it.
    * ``blame=True`` -- on failure re-check each recorded node alone and fill ``report.blame``.

    The report holds ``ok``, ``max_abs_err``, ``max_rel_err`` (max |difference| / max |value|, the one definition of
    :mod:`matdiff.report`), ``worst``, ``rows``/``table``, ``n_compared``, ``tol``, ``blame``, ``node_checks`` and
    the one-line ``summary``.
    """
    check_args("gradcheck", f, eps=eps, atol=atol, rtol=rtol, n_checks=n_checks)
    ts, diff = setup(inputs)
    eps, atol, rtol = tolerances([ts[i] for i in diff], eps, atol, rtol, "gradcheck")
    with Tape() as tape:
        if fast:
            rep = _fast(f, ts, diff, eps, atol, rtol, n_checks, seed)
        else:
            rep = _full(f, ts, diff, eps, atol, rtol, max_rows, batched)
    if blame and not rep.ok:
        from .blame import blame_nodes  # blame runs gradcheck per node: imported here to break the cycle
        rep.node_checks = blame_nodes(tape.nodes, eps, atol, rtol)
        rep.blame = [c for c in rep.node_checks if not c.ok]
    return finish(rep, raise_on_fail)


def gradgradcheck(f: Callable[..., Any], inputs: Any, *, seeds: Any = None, eps: float | None = None,
                  atol: float | None = None, rtol: float | None = None, fast: bool = False, n_checks: int = 3,
                  seed: int = 0, max_rows: int = 12, raise_on_fail: bool = False, blame: bool = True) -> Report:
    """Check ``f``'s second derivatives: the backward of its backward against central differences of its first
    derivatives. Returns the same :class:`~matdiff.report.Report` as :func:`gradcheck` (kind "gradgradcheck").

    With output adjoints ``v`` (``seeds``, or random ones drawn from ``seed``), ``g(x) = J(x)^H v`` -- the gradient of
    ``Re <v, f(x)>`` -- is computed by ``md.grad(..., create_graph=True)``; then ``gradcheck(g)`` compares the
    Jacobian of ``g`` that the engine gets by differentiating the recorded backward pass (every entry, or
    ``n_checks`` random projections with ``fast=True``) with central differences of ``g``, i.e. first derivatives
    at ``x ± eps e``. Tolerances and ``blame`` are gradcheck's: on failure the nodes the backward pass recorded are
    re-checked one by one.
    """
    check_args("gradgradcheck", f, eps=eps, atol=atol, rtol=rtol, n_checks=n_checks)
    ts, diff = setup(inputs, "gradgradcheck")
    with no_grad():
        outs0 = float_outputs(f(*ts), "gradgradcheck")[0]
    rng = np.random.default_rng(seed + 1)
    V = [random_like(rng, o, o.backend) for o in outs0] if seeds is None else \
        [s.data if isinstance(s, Tensor) else s for s in (seeds if isinstance(seeds, (list, tuple)) else [seeds])]

    def first_derivatives(*xs):
        lead = tuple(xs[diff[0]].shape[:xs[diff[0]].ndim - ts[diff[0]].ndim])   # gradcheck's stack of perturbations
        if grad_enabled():                        # the analytic pass: record the backward, to differentiate it
            outs = float_outputs(f(*xs), "gradgradcheck")[0]
            gs = grad(outs, [xs[i] for i in diff], _spread(V, outs, lead), create_graph=True)
            # a linear f has a constant gradient: tie it to x with a zero coefficient, so its (zero) second
            # derivative is compared like any other
            return tuple(g if g.requires_grad else g + xs[i] * 0.0 for g, i in zip(gs, diff))
        with enable_grad():                       # a finite-difference evaluation: first derivatives as values
            leaves = [tensor(x.data, requires_grad=(i in diff)) for i, x in enumerate(xs)]
            outs = float_outputs(f(*leaves), "gradgradcheck")[0]
            return tuple(tensor(g) for g in grad(outs, [leaves[i] for i in diff], _spread(V, outs, lead)))

    rep = gradcheck(first_derivatives, ts, eps=eps, atol=atol, rtol=rtol, fast=fast, n_checks=n_checks, seed=seed,
                    max_rows=max_rows, blame=blame)
    rep.kind = "gradgradcheck" + ("(fast)" if fast else "")
    if blame and not rep.ok and not rep.blame:     # every node right to first order: check them to second order
        from .blame import blame_nodes
        with Tape() as tape:
            f(*[tensor(t.data, requires_grad=(i in diff), name=t.name) for i, t in enumerate(ts)])
        eps_, atol_, rtol_ = tolerances([ts[i] for i in diff], eps, atol, rtol, "gradgradcheck")
        rep.node_checks = blame_nodes(tape.nodes, eps_, atol_, rtol_, order=2)
        rep.blame = [c for c in rep.node_checks if not c.ok]
    return finish(rep, raise_on_fail)


def _spread(V, outs, lead):
    """The adjoints ``v`` broadcast over gradcheck's leading stack of perturbed inputs -- or a ValueError (gradcheck
    then evaluates one perturbation at a time) if ``f`` did not carry that stack through as a leading axis."""
    if any(tuple(o.shape) != lead + tuple(v.shape) for v, o in zip(V, outs)):
        raise ValueError("the function does not broadcast over a leading axis")
    return [o.backend.broadcast_to(v, tuple(o.shape)) if lead else v for v, o in zip(V, outs)]


def tolerances(ts, eps, atol, rtol, what):
    """The step and tolerances: the caller's, else the defaults of the inputs' precision (warning in single)."""
    single = is_single(ts)
    d = DEFAULTS["single" if single else "double"]
    if single:
        warn(f"{what} in single precision is only accurate to ~1e-3; check in float64/complex128 for a verdict you "
             "can trust", PrecisionWarning)
    return (d["eps"] if eps is None else eps, d["atol"] if atol is None else atol, d["rtol"] if rtol is None else rtol)


# -- a tensor's real coordinates, as (matrix of the batch, coordinate within it) ----------------------------
def _flat_real(b, a, lead=0):
    """Real coordinates of array ``a`` (complex -> (re, im) pairs), flattened after ``lead`` axes, on the host."""
    h = np.ascontiguousarray(b.to_host(a))
    h = h.reshape(h.shape[:lead] + (-1,))
    return h.view(h.real.dtype) if np.iscomplexobj(h) else h      # a complex array viewed as (re, im) pairs


class _Layout:
    """Tensor ``t``'s real coordinates split as ``nb`` matrices (its first ``nbd`` axes) x ``per`` coordinates."""

    def __init__(self, t, nbd, name):
        self.t, self.b, self.nbd, self.name = t, t.backend, nbd, name
        self.batch, self.inner = tuple(t.shape[:nbd]), tuple(t.shape[nbd:])
        self.nb, self.cplx = int(np.prod(self.batch)), t.backend.is_complex(t.dtype)
        self.per = int(np.prod(self.inner)) * (2 if self.cplx else 1)

    def basis(self, lo, hi, scale=1.0):
        """Unit perturbations ``lo:hi`` (coordinate j of every matrix at once): shape ``(hi - lo,) + t.shape``."""
        j = np.arange(lo, hi)
        E = np.zeros((hi - lo, self.nb, self.per // (2 if self.cplx else 1)),
                     dtype=np.complex128 if self.cplx else np.float64)
        vals = np.where(j % 2, 1j, 1) * scale if self.cplx else np.full(hi - lo, scale)
        E[np.arange(hi - lo), :, j // 2 if self.cplx else j] = vals[:, None]
        return self.b.astype(self.b.from_host(E.reshape((hi - lo,) + tuple(self.t.shape))), self.t.dtype)

    def flat(self, a, lead):
        """Array ``a`` of this tensor's shape (behind ``lead`` axes) as host coordinates ``(lead..., nb, per)``."""
        h = _flat_real(self.b, a, lead)
        return h.reshape(h.shape[:lead] + (self.nb, self.per))

    def label(self, bi, c):
        """``A[2, 0, 1].im``: the entry behind matrix ``bi``'s coordinate ``c``, with its full index."""
        idx = np.unravel_index(bi, self.batch) if self.batch else ()
        idx = tuple(idx) + tuple(np.unravel_index(c // 2 if self.cplx else c, self.inner) if self.inner else ())
        part = (".im" if c % 2 else ".re") if self.cplx else ""
        return f"{self.name}[{', '.join(str(int(i)) for i in idx)}]{part}" if idx else self.name + part


# -- the two Jacobians, block-diagonal over nb matrices (nb = 1 without batched=True) ------------------------
def _eval(f, ts, i, xi):
    args = list(ts)
    args[i] = tensor(xi)
    with no_grad():
        return float_outputs(f(*args))[0]


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


def _numeric(f, ts, i, eps, lin, louts):
    """Numeric Jacobian of every output w.r.t. input ``i``: ``(nb, n_out, lin.per)``, filled by columns."""
    t = ts[i]
    n_out = sum(lo.per for lo in louts)
    cols = np.empty((lin.nb, n_out, lin.per))

    def fill(lo, flats, P):                                                  # flats: each (2P, nb, per_out)
        if any(fl.shape[:2] != (2 * P, lin.nb) for fl in flats):
            raise ValueError("the function does not broadcast over a leading axis")
        r0 = 0
        for fl in flats:
            cols[:, r0:r0 + fl.shape[2], lo:lo + P] = ((fl[:P] - fl[P:]) / (2 * eps)).transpose(1, 2, 0)
            r0 += fl.shape[2]

    def loop(lo, hi):
        D = lin.basis(lo, hi, eps)
        for j in range(hi - lo):
            plus, minus = _eval(f, ts, i, t.data + D[j, ...]), _eval(f, ts, i, t.data - D[j, ...])
            _same_shapes(plus, louts)
            pairs = zip(plus, minus, louts)
            fill(lo + j, [np.stack([lay.flat(p.data, 0), lay.flat(m.data, 0)]) for p, m, lay in pairs], 1)

    def batch(lo, hi):
        D = lin.basis(lo, hi, eps)
        outs = _eval(f, ts, i, t.backend.concat([t.data + D, t.data - D], axis=0))
        fill(lo, [lay.flat(o.data, 1) for lay, o in zip(louts, outs)], hi - lo)

    if _BATCHED and lin.per > 1:
        try:
            loop(0, 1)                                   # one column unbatched, to verify the batched path
            ref = cols[:, :, 0].copy()
            batch(0, min(lin.per, 2))
            if np.allclose(cols[:, :, 0], ref, rtol=1e-6, atol=1e-6 * (1 + np.abs(ref).max())):
                _map(batch, _chunks(lin.per, int(np.prod(t.shape)) * 4, _WORKERS))
                return cols
        except _FALLBACK:
            pass
    loop(0, lin.per)
    return cols


def _same_shapes(outs, louts):
    if [tuple(o.shape) for o in outs] != [tuple(lay.t.shape) for lay in louts]:
        raise MatdiffError("gradcheck: the function's outputs change shape when its input is perturbed")


def _analytic(f, ts, diff, lins, nbd, consume):
    """The analytic Jacobian by rows -- one backward per real output coordinate (of every matrix at once), batched
    along a leading axis -- handed to ``consume(k, r0, [(nb, rows, per_in) per input])`` block by block."""
    leaves = [tensor(t.data, requires_grad=(i in diff), name=t.name) if t.backend.is_float(t.dtype) else t
              for i, t in enumerate(ts)]
    outs, _ = float_outputs(f(*leaves))
    for o in outs:
        if not o.requires_grad:
            raise MatdiffError("gradcheck: an output does not depend on any differentiable input")
    louts = _out_layouts(outs, nbd, lins)
    b = outs[0].backend
    targets = [leaves[i] for i in diff]

    def rows_of(k, lo, hi, lead):
        seeds = [b.zeros(((hi - lo,) if lead else ()) + tuple(o.shape), o.dtype) for o in outs]
        seeds[k] = louts[k].basis(lo, hi) if lead else louts[k].basis(lo, hi)[0, ...]
        gs = grad_batched(outs, targets, seeds, lead)
        return [lay.flat(g, lead).reshape(hi - lo, lay.nb, lay.per).transpose(1, 0, 2) for g, lay in zip(gs, lins)]

    def batch(k, lo, hi):
        consume(k, lo, rows_of(k, lo, hi, 1))

    size = max(int(np.prod(t.shape)) for t in targets + outs) * 4
    if _BATCHED:
        try:
            ref, got = rows_of(0, 0, 1, 0), rows_of(0, 0, 1, 1)    # one row unbatched, to verify the batched path
            if all(np.allclose(g, r, rtol=1e-8, atol=1e-12 * (1 + np.abs(r).max())) for g, r in zip(got, ref)):
                _map(batch, [(k, lo, hi) for k, lay in enumerate(louts) for lo, hi in _chunks(lay.per, size, _WORKERS)])
                return louts
        except _FALLBACK:
            pass
    for k, lay in enumerate(louts):
        for j in range(lay.per):
            consume(k, j, rows_of(k, j, j + 1, 0))
    return louts


def _out_layouts(outs, nbd, lins):
    batch = lins[0].batch
    for o in outs:
        if tuple(o.shape[:nbd]) != batch:
            raise MatdiffError(f"gradcheck(batched=True): an output of shape {tuple(o.shape)} does not keep the batch "
                               f"axes {batch} in front; check per matrix only functions that map a stack to a stack, "
                               "or use batched=False")
    return [_Layout(o, nbd, o.name or f"out{k}") for k, o in enumerate(outs)]


class _Compare:
    """Streams blocks of (analytic, numeric) Jacobian entries; keeps the figures and the worst entries."""

    def __init__(self, atol, rtol, keep):
        self.atol, self.rtol, self.keep = atol, rtol, keep
        self.max_abs, self.max_mag, self.n, self.cands = 0.0, 0.0, 0, []
        self.lock = threading.Lock()

    def add(self, target, r0, Ja, Jn):
        """``Ja``, ``Jn``: (nb, rows, cols) blocks whose rows start at output coordinate ``r0``."""
        d = np.subtract(Ja, Jn)
        np.abs(d, out=d)                                                 # |analytic - numeric|
        an = np.abs(Jn)
        mag = max(float(an.max(initial=0)), float(Ja.max(initial=0)), -float(Ja.min(initial=0)))
        an *= self.rtol
        an += self.atol
        viol = np.subtract(d, an, out=an)                                # |diff| - (atol + rtol |numeric|)
        rows = viol.reshape(-1, viol.shape[-1])
        k = min(self.keep, rows.shape[0])
        best = rows.max(axis=1)                  # the worst entries lie in the k rows of largest maximum
        top = np.argpartition(best, best.size - k)[best.size - k:]
        sub = rows[top]
        k = min(self.keep, sub.size)
        found = []
        for flat in np.argpartition(sub.reshape(-1), sub.size - k)[sub.size - k:]:
            bi, r = divmod(int(top[flat // sub.shape[1]]), viol.shape[1])
            c = int(flat % sub.shape[1])
            found.append((float(viol[bi, r, c]), target, bi, r0 + r, c, float(Ja[bi, r, c]), float(Jn[bi, r, c]),
                          float(d[bi, r, c])))
        with self.lock:
            self.n += d.size
            self.max_abs = max(self.max_abs, float(d.max(initial=0)))
            self.max_mag = max(self.max_mag, mag)
            self.cands = sorted(self.cands + found, key=lambda x: -x[0])[:self.keep]


def _full(f, ts, diff, eps, atol, rtol, max_rows, batched):
    nbd = _batch_axes(ts, diff) if batched else 0
    lins = [_Layout(ts[i], nbd, ts[i].name or f"in{i}") for i in diff]
    with no_grad():
        outs0 = float_outputs(f(*ts))[0]
    louts = _out_layouts(outs0, nbd, lins)
    if batched:
        _check_independent(f, ts, diff, lins, louts, outs0, nbd)
    Jn = [_numeric(f, ts, i, eps, lin, louts) for i, lin in zip(diff, lins)]     # numeric Jacobians first ...
    offsets = np.cumsum([0] + [lay.per for lay in louts])
    cmp = _Compare(atol, rtol, max_rows)

    def consume(k, r0, blocks):                                      # ... analytic rows compared as they come
        r0 += offsets[k]
        for target, A in enumerate(blocks):
            cmp.add(target, r0, A, Jn[target][:, r0:r0 + A.shape[1]])

    louts = _analytic(f, ts, diff, lins, nbd, consume)
    rows, worst = [], None
    for v, t, bi, r, c, a, nm, e in cmp.cands:
        k = int(np.searchsorted(offsets, r, side="right")) - 1
        out_l, in_l = louts[k].label(bi, r - offsets[k]), lins[t].label(bi, c)
        rows.append([in_l, out_l, f"{a:.6g}", f"{nm:.6g}", f"{e:.2e}", f"{v:.2e}", "ok" if v <= 0 else "FAIL"])
        if worst is None:
            worst = dict(input=in_l, output=out_l, where=f"d{out_l}/d{in_l}", analytic=a, numeric=nm, abs_err=e,
                         violation=v, batch=(tuple(int(x) for x in np.unravel_index(bi, lins[0].batch))
                                             if batched else None))
    kind = "gradcheck(batched)" if batched else "gradcheck"
    ok = not cmp.cands or cmp.cands[0][0] <= 0
    return Report(kind, ok, cmp.max_abs, rel_err(cmp.max_abs, cmp.max_mag), worst, rows,
                  ["input", "output", "analytic", "numeric", "abs err", "violation", ""], cmp.n,
                  f"atol={atol:g}, rtol={rtol:g}, eps={eps:g}")


def _batch_axes(ts, diff):
    """How many leading axes are the batch (all but the last two of the first differentiated input)."""
    first = ts[diff[0]]
    nbd = first.ndim - 2
    if nbd < 1:
        raise MatdiffError(f"gradcheck(batched=True) needs a stack of matrices (..., m, n); the input has shape "
                           f"{tuple(first.shape)}; use batched=False for a single matrix")
    for i in diff:
        if tuple(ts[i].shape[:nbd]) != tuple(first.shape[:nbd]):
            raise MatdiffError(f"gradcheck(batched=True): inputs of shapes {tuple(first.shape)} and "
                               f"{tuple(ts[i].shape)} do not share the batch axes {tuple(first.shape[:nbd])}")
    return nbd


def _check_independent(f, ts, diff, lins, louts, outs0, nbd):
    """Perturb matrix 0 of every input: if any other matrix's output moves, ``f`` mixes the batch -- refuse."""
    if lins[0].nb < 2:
        return
    rng = np.random.default_rng(0)
    args = list(ts)
    for i, lin in zip(diff, lins):
        U = np.zeros((lin.nb,) + lin.inner, dtype=np.complex128 if lin.cplx else np.float64)
        U[0] = rng.standard_normal(lin.inner) + (1j * rng.standard_normal(lin.inner) if lin.cplx else 0)
        delta = lin.b.astype(lin.b.from_host(U.reshape(ts[i].shape)), ts[i].dtype)
        args[i] = tensor(ts[i].data + 1e-2 * delta)
    with no_grad():
        outs1 = float_outputs(f(*args))[0]
    for k, (lay, o0, o1) in enumerate(zip(louts, outs0, outs1)):
        a, c = lay.flat(o0.data, 0), lay.flat(o1.data, 0)
        moved = np.abs(a[1:] - c[1:]).max(initial=0)
        if moved > 1e-9 * (1 + np.abs(a).max(initial=0)):
            bi = 1 + int(np.argmax(np.abs(a[1:] - c[1:]).max(axis=1)))
            raise MatdiffError(f"gradcheck(batched=True): perturbing matrix 0 of the batch moved output {k} of matrix "
                               f"{tuple(int(x) for x in np.unravel_index(bi, lay.batch))} by {moved:.3g}; the function "
                               "mixes the matrices of the batch, so its Jacobian is not block-diagonal -- use "
                               "batched=False")


def _fast(f, ts, diff, eps, atol, rtol, n_checks, seed):
    rng = np.random.default_rng(seed)
    leaves = [tensor(t.data, requires_grad=(i in diff), name=t.name) for i, t in enumerate(ts)]
    outs, _ = float_outputs(f(*leaves))
    b = outs[0].backend
    found, max_abs, mag = [], 0.0, 0.0
    for c in range(n_checks):
        U = {i: random_like(rng, ts[i], b) for i in diff}
        V = [random_like(rng, o, b) for o in outs]
        gs = grad_batched(outs, [leaves[i] for i in diff], V, 0)
        analytic = sum(b.vdot_real(g, U[i]) for g, i in zip(gs, diff))          # <J^H v, u>
        with no_grad():
            plus = float_outputs(f(*[tensor(t.data + eps * U[i]) if i in U else t for i, t in enumerate(ts)]))[0]
            minus = float_outputs(f(*[tensor(t.data - eps * U[i]) if i in U else t for i, t in enumerate(ts)]))[0]
        numeric = sum(b.vdot_real(v, (p.data - m.data) / (2 * eps)) for v, p, m in zip(V, plus, minus))  # <v, J u>
        err = abs(analytic - numeric)
        found.append((err - (atol + rtol * abs(numeric)), c, analytic, numeric, err))
        max_abs, mag = max(max_abs, err), max(mag, abs(analytic), abs(numeric))
    found.sort(key=lambda x: -x[0])
    rows = [[f"#{c}", f"{a:.10g}", f"{nm:.10g}", f"{e:.2e}", f"{v:.2e}", "ok" if v <= 0 else "FAIL"]
            for v, c, a, nm, e in found]
    v, c, a, nm, e = found[0]
    worst = dict(check=c, where=f"direction #{c}", analytic=a, numeric=nm, abs_err=e, violation=v, batch=None)
    return Report("gradcheck(fast)", v <= 0, max_abs, rel_err(max_abs, mag), worst, rows,
                  ["check", "<J^H v, u>", "<v, J u> (numeric)", "abs err", "violation", ""], n_checks,
                  f"atol={atol:g}, rtol={rtol:g}, eps={eps:g}")
