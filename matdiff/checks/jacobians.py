"""The two Jacobians gradcheck compares, block-diagonal over ``nb`` matrices (``nb = 1`` unless batched=True).

``_numeric`` builds the central-difference Jacobian by columns (all perturbations of a chunk in one batched
forward), ``_analytic`` the engine's by rows (all unit seeds of a chunk in one batched backward); each batched path
is first checked against one unbatched evaluation, and falls back to loops for functions that do not broadcast.
Chunks run in a few threads (NumPy and LAPACK release the GIL) while NumPy's OpenBLAS runs on one thread
(:func:`one_blas_thread`). ``_Compare`` streams the analytic rows against the
stored numeric Jacobian and keeps only the figures and the entries that use the largest fraction of their
tolerance (``|analytic - numeric| / (atol + rtol |numeric|)``, :func:`matdiff.checks.report.tol_used`).
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..autodiff import grad_batched
from ..backend import fast_qr
from ..engine.tape import no_grad
from ..engine.tensor import tensor
from ..errors import MatdiffError
from .report import float_outputs, tol_used

_CHUNK = 1 << 20            # entries per batched evaluation: bounds memory; gradcheck of a 64x32 QR ran 15-30 % faster
                            # than at 1 << 22 (smaller temporaries), 1 << 18 slower again (measured, 2 cores)
_BATCHED = True             # evaluate along a leading axis first (tests switch it off to compare with the loops)
_WORKERS = min(4, os.cpu_count() or 1)
_FALLBACK = (ValueError, MatdiffError, IndexError, TypeError)   # what a function that does not broadcast raises


def one_blas_thread():
    """NumPy's OpenBLAS on one thread for the block (restored after): a check's kernels are stacks of small
    matrices, which OpenBLAS threads badly -- a stack of 1024 complex 32x64 @ 64x32 products ran 9x slower on two
    threads than on one here, and gradcheck of a complex128 64x32 QR 10-20x slower on a loaded machine (measured)
    -- so the cores go to the chunk threads of :func:`_map` instead (and OpenBLAS's idle threads stop spinning on
    them soon after a threaded call: :func:`fast_qr.short_spin`). Only the main thread sets the count (it is
    process-wide); elsewhere, and without NumPy's bundled OpenBLAS, this does nothing."""
    fast_qr.short_spin()
    return fast_qr.blas_threads(1)


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

    def basis(self, lo, hi):
        """Unit seeds ``lo:hi`` (coordinate j of every matrix at once): shape ``(hi - lo,) + t.shape``."""
        j = np.arange(lo, hi)
        E = np.zeros((hi - lo, self.nb, self.per // (2 if self.cplx else 1)),
                     dtype=np.complex128 if self.cplx else np.float64)
        vals = np.where(j % 2, 1j, 1) if self.cplx else np.ones(hi - lo)
        E[np.arange(hi - lo), :, j // 2 if self.cplx else j] = vals[:, None]
        return self.b.astype(self.b.from_host(E.reshape((hi - lo,) + tuple(self.t.shape))), self.t.dtype)

    def steps(self, lo, hi, eps):
        """The inputs of central differences ``lo:hi``: ``x + eps e_j`` for each j, then ``x - eps e_j`` for each
        j, on one leading axis (shape ``(2 (hi - lo),) + t.shape``), written on the host straight into one array --
        a basis added twice and concatenated cost 12 % of gradcheck of a 64x32 QR (measured). Complex entries step
        their real or imaginary part through the array's real view, in the input's own precision."""
        P, x = hi - lo, self.b.to_host(self.t.data)
        X = np.empty((2, P) + x.shape, dtype=x.dtype)
        X[...] = x
        coords = X.view(X.real.dtype).reshape(2, P, self.nb, self.per)    # (re, im) pairs when complex
        j, cols = np.arange(P), np.arange(lo, hi)
        coords[0, j, :, cols] += eps
        coords[1, j, :, cols] -= eps
        return self.b.from_host(X.reshape((2 * P,) + x.shape))

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
    with ThreadPoolExecutor(_WORKERS, thread_name_prefix="matdiff-check") as pool:
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
        for fl in flats:                                  # (f(x + eps e) - f(x - eps e)) / 2 eps, in one temporary
            diff = np.subtract(fl[:P], fl[P:])
            cols[:, r0:r0 + fl.shape[2], lo:lo + P] = np.divide(diff, 2 * eps, out=diff).transpose(1, 2, 0)
            r0 += fl.shape[2]

    def loop(lo, hi):
        for j in range(lo, hi):
            S = lin.steps(j, j + 1, eps)
            plus, minus = _eval(f, ts, i, S[0, ...]), _eval(f, ts, i, S[1, ...])
            _same_shapes(plus, louts)
            pairs = zip(plus, minus, louts)
            fill(j, [np.stack([lay.flat(p.data, 0), lay.flat(m.data, 0)]) for p, m, lay in pairs], 1)

    def batch(lo, hi):
        outs = _eval(f, ts, i, lin.steps(lo, hi, eps))
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
    """Streams blocks of (analytic, numeric) Jacobian entries; keeps the figures and the ``keep`` entries of largest
    ratio ``|analytic - numeric| / (atol + rtol |numeric|)`` in ``cands``, sorted by it (then by the difference,
    then by position: :func:`_rank`), largest first: ``(ratio, target, matrix, row, column, analytic, numeric,
    |difference|, tolerance)``."""

    def __init__(self, atol, rtol, keep):
        self.atol, self.rtol, self.keep = atol, rtol, keep
        self.max_abs, self.max_mag, self.n, self.cands = 0.0, 0.0, 0, []
        self.lock = threading.Lock()

    def add(self, target, r0, Ja, Jn):
        """``Ja``, ``Jn``: (nb, rows, cols) blocks whose rows start at output coordinate ``r0``. Two temporaries and
        one pass each (the ratio is divided into the tolerance's buffer): the comparison of gradcheck of a complex128
        64x32 QR took 14 % of its time with the ratio, NaN test and entries built apart (measured)."""
        d = np.subtract(Ja, Jn)
        np.abs(d, out=d)                                                 # |analytic - numeric|
        ratio = np.abs(Jn)
        mag = max(float(ratio.max(initial=0)), float(Ja.max(initial=0)), -float(Ja.min(initial=0)))
        max_abs = float(d.max(initial=0))                                # NaN if any difference is NaN
        ratio *= self.rtol
        ratio += self.atol                                               # tolerance: atol + rtol |numeric|
        with np.errstate(divide="ignore", invalid="ignore"):
            np.divide(d, ratio, out=ratio)                               # the fraction of it used
        rows = ratio.reshape(-1, ratio.shape[-1])
        best = rows.max(axis=1)                  # the worst entries lie in the rows of largest maximum
        for i in np.flatnonzero(np.isnan(best)):  # 0/0 or a NaN: tol_used's 0 where both are 0, else inf
            bi, r = divmod(int(i), ratio.shape[1])
            rows[i] = tol_used(d[bi, r], np.abs(Jn[bi, r]) * self.rtol + self.atol)
            best[i] = rows[i].max()
        found = []
        for flat in _top(rows, best, self.keep):
            bi, r = divmod(int(flat // rows.shape[1]), ratio.shape[1])
            c = int(flat % rows.shape[1])
            found.append((float(ratio[bi, r, c]), target, bi, r0 + r, c, float(Ja[bi, r, c]), float(Jn[bi, r, c]),
                          float(d[bi, r, c]), self.atol + self.rtol * abs(float(Jn[bi, r, c]))))
        with self.lock:
            self.n += d.size
            self.max_abs = max(self.max_abs, max_abs)
            self.max_mag = max(self.max_mag, mag)
            self.cands = sorted(self.cands + found, key=_rank)[:self.keep]


def _top(rows, best, keep):
    """Flat indices into ``rows`` of (at least) its ``keep`` largest entries, given each row's maximum ``best``: the
    ``keep`` rows of largest maximum each hold an entry >= the least of those maxima ``t``, so the ``keep`` largest
    entries are all >= ``t`` and lie in those rows; with fewer rows than ``keep``, or ties that make that set large,
    those rows are partitioned instead."""
    k = min(keep, best.size)
    top = np.argpartition(best, best.size - k)[best.size - k:]
    sub = rows[top]
    cand = np.flatnonzero(sub >= best[top].min()) if k == keep else None
    if cand is None or cand.size > 4 * keep:
        k = min(keep, sub.size)
        cand = np.argpartition(sub.reshape(-1), sub.size - k)[sub.size - k:]
    return top[cand // sub.shape[1]] * rows.shape[1] + cand % sub.shape[1]


def _rank(c):
    """Largest ratio first, then largest difference, then position: exact ties (the .re and .im of one complex
    entry often use the same share) keep one order whichever chunk thread reports first."""
    return -c[0], -c[7], c[1], c[2], c[3], c[4]
