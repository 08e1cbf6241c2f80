"""``gradcheck``: the engine's derivatives against central differences of the forward.

For every real coordinate of every differentiable input (real and imaginary parts of complex entries) and
every real coordinate of every output, the analytic derivative from the vjp rules is compared with
``(f(x + eps e) - f(x - eps e)) / 2 eps``. To be fast, all perturbed inputs go on one leading axis for one
batched forward, and all unit seeds on one leading axis for one batched backward; both are verified against
an unbatched evaluation first, with loops as the fallback for functions that do not broadcast.

``batched=True`` treats the leading axes as a stack of independent matrices: the Jacobian is block-diagonal,
so coordinate ``j`` of *every* matrix is perturbed (and seeded) at once -- ``nb`` times fewer evaluations than
the cross-batch Jacobian, and the report names the worst matrix. When a check fails, every node the function
recorded is re-checked on its own -- by ``matdiff/checks/blame.py``, which defines the public ``gradcheck`` as
this pure check plus that blame -- and ``report.blame`` names the ones at fault.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..autodiff import grad_batched
from ..engine.tape import no_grad
from ..engine.tensor import tensor
from ..errors import MatdiffError, PrecisionWarning, warn
from .jacobians import _analytic, _Compare, _Layout, _numeric, _out_layouts, one_blas_thread
from .report import Report, check_args, float_outputs, is_single, percent, random_like, ranked, rel_err, setup, tol_used

DEFAULTS = {"double": dict(eps=1e-6, atol=1e-5, rtol=1e-4), "single": dict(eps=1e-3, atol=1e-2, rtol=1e-2)}


def compare(f: Callable[..., Any], inputs: Any, *, eps: float | None = None, atol: float | None = None,
            rtol: float | None = None, fast: bool = False, batched: bool = False, n_checks: int = 3, seed: int = 0,
            max_rows: int = 12) -> Report:
    """The pure check behind :func:`matdiff.gradcheck` (its keywords and Report are documented there, in
    ``checks/blame.py``, which adds the blame and ``raise_on_fail``): the engine's derivatives of ``f`` at
    ``inputs`` against central differences."""
    check_args("gradcheck", f, eps=eps, atol=atol, rtol=rtol, n_checks=n_checks)
    ts, diff = setup(inputs)
    eps, atol, rtol = tolerances([ts[i] for i in diff], eps, atol, rtol, "gradcheck")
    if fast:
        return _fast(f, ts, diff, eps, atol, rtol, n_checks, seed)
    with one_blas_thread():                      # stacks of small kernels: the cores go to the chunk threads
        return _full(f, ts, diff, eps, atol, rtol, max_rows, batched)


def tolerances(ts, eps, atol, rtol, what):
    """The step and tolerances: the caller's, else the defaults of the inputs' precision (warning in single)."""
    single = is_single(ts)
    d = DEFAULTS["single" if single else "double"]
    if single:
        warn(f"{what} in single precision is only accurate to ~1e-3; check in float64/complex128 for a verdict you "
             "can trust", PrecisionWarning)
    return (d["eps"] if eps is None else eps, d["atol"] if atol is None else atol, d["rtol"] if rtol is None else rtol)


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
    for q, t, bi, r, c, a, nm, e, tol in cmp.cands:              # largest fraction of the tolerance first
        k = int(np.searchsorted(offsets, r, side="right")) - 1
        out_l, in_l = louts[k].label(bi, r - offsets[k]), lins[t].label(bi, c)
        rows.append([in_l, out_l, f"{a:.6g}", f"{nm:.6g}", f"{e:.2e}", f"{tol:.2e}", percent(q),
                     "ok" if q <= 1 else "FAIL"])
        if worst is None:
            worst = dict(input=in_l, output=out_l, where=f"d{out_l}/d{in_l}", analytic=a, numeric=nm, abs_err=e,
                         tolerance=tol, ratio=q, batch=(tuple(int(x) for x in np.unravel_index(bi, lins[0].batch))
                                                        if batched else None))
    kind = "gradcheck(batched)" if batched else "gradcheck"
    ok = not cmp.cands or cmp.cands[0][0] <= 1
    return Report(kind, ok, cmp.max_abs, rel_err(cmp.max_abs, cmp.max_mag), worst, rows,
                  ["input", "output", "analytic", "numeric", "abs err", "tolerance", "tol used", ""], cmp.n,
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
        err, tol = abs(analytic - numeric), atol + rtol * abs(numeric)
        found.append((tol_used(err, tol), c, analytic, numeric, err, tol))
        max_abs, mag = max(max_abs, err), max(mag, abs(analytic), abs(numeric))
    (q, c, a, nm, e, tol), rows = ranked(found, 10)              # largest fraction of the tolerance first
    worst = dict(check=c, where=f"direction #{c}", analytic=a, numeric=nm, abs_err=e, tolerance=tol, ratio=q,
                 batch=None)
    return Report("gradcheck(fast)", q <= 1, max_abs, rel_err(max_abs, mag), worst, rows,
                  ["check", "<J^H v, u>", "<v, J u> (numeric)", "abs err", "tolerance", "tol used", ""], n_checks,
                  f"atol={atol:g}, rtol={rtol:g}, eps={eps:g}")
