"""Finite-difference checks of the engine: ``gradcheck`` (the Jacobian) and ``check_adjoint`` (Eq 2 / Eq 19).

``gradcheck`` compares, for every real coordinate of every differentiable input (real and imaginary parts
of complex entries) and every real coordinate of every output, the analytic derivative from the vjp rules
with a central difference ``(f(x + eps e) - f(x - eps e)) / 2 eps`` of the forward. To be fast it puts all
perturbed inputs on one leading batch axis and runs one batched forward, and all unit seeds on one leading
axis and runs one batched backward; both are verified against unbatched evaluations first and it falls
back to loops for functions that do not broadcast.

``check_adjoint`` verifies the trace identity between forward and reverse mode on random directions:
``Re <Ybar, J dA> == Re <J^H Ybar, dA>``, i.e. ``Tr(Abar^H dA) = Tr(Qbar^H dQ) + Tr(Rbar^H dR)`` (+ h.c.).
"""
import warnings

import numpy as np

from .autodiff import grad, jvp
from .errors import GradcheckError, MatdiffError, PrecisionWarning
from .tape import no_grad
from .tensor import Tensor, tensor

_DEFAULTS = {"double": dict(eps=1e-6, atol=1e-5, rtol=1e-4), "single": dict(eps=1e-3, atol=1e-2, rtol=1e-2)}
_CHUNK = 1 << 22            # entries per batched evaluation (bounds memory)
_BATCHED = True             # try the batched evaluations first (tests switch it off to compare with the loops)


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
    h = b.to_host(a)
    h = h.reshape(h.shape[:lead] + (-1,))
    if np.iscomplexobj(h):
        h = np.stack([h.real, h.imag], axis=-1).reshape(h.shape[:lead] + (-1,))
    return h


def _basis(b, t, scale=1.0):
    """All unit perturbations of ``t``'s real coordinates, stacked: shape (N, *t.shape), on t's backend."""
    n = int(np.prod(t.shape))
    cplx = b.is_complex(t.dtype)
    E = np.zeros((n * (2 if cplx else 1), n), dtype=np.complex128 if cplx else np.float64)
    if cplx:
        E[0::2, :] = np.eye(n)
        E[1::2, :] = 1j * np.eye(n)
    else:
        E[:] = np.eye(n)
    return b.astype(b.from_host((scale * E).reshape((-1,) + t.shape)), t.dtype)


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


def _numeric(f, ts, i, eps, n_out_coords):
    """Columns of the numeric Jacobian for input ``i``: (n_out_coords, N_i), by central differences."""
    t = ts[i]
    b = t.backend
    D = _basis(b, t, eps)
    N = D.shape[0]
    cols = np.empty((n_out_coords, N))

    def loop(lo, hi):
        for j in range(lo, hi):
            plus = _eval(f, ts, i, t.data + D[j, ...])
            minus = _eval(f, ts, i, t.data - D[j, ...])
            cols[:, j] = np.concatenate([(_flat_real(b, p.data) - _flat_real(b, m.data)) / (2 * eps)
                                         for p, m in zip(plus, minus)])

    step = max(1, _CHUNK // max(1, int(np.prod(t.shape)) * 4))
    batched = _BATCHED
    for lo in range(0, N, step):
        hi = min(N, lo + step)
        if batched:
            try:
                X = b.concat([t.data + D[lo:hi, ...], t.data - D[lo:hi, ...]], axis=0)
                outs = _eval(f, ts, i, X)
                P = hi - lo
                block = np.concatenate([_flat_real(b, o.data, 1) for o in outs], axis=1)   # (2P, n_out_coords)
                if block.shape != (2 * P, n_out_coords):
                    raise ValueError("shape")
                block = (block[:P] - block[P:]).T / (2 * eps)
                loop(lo, lo + 1)                                  # verify against one unbatched column
                if not np.allclose(block[:, 0], cols[:, lo], rtol=1e-6, atol=1e-6 * (1 + np.abs(block).max())):
                    raise ValueError("mismatch")
                cols[:, lo:hi] = block
                continue
            except (ValueError, MatdiffError, IndexError, TypeError):
                batched = False
        loop(lo, hi)
    return cols


def _analytic(f, ts, diff):
    """Rows of the analytic Jacobian: one backward per real output coordinate, batched along a leading axis."""
    leaves = [tensor(t.data, requires_grad=(i in diff)) if t.backend.is_float(t.dtype) else t
              for i, t in enumerate(ts)]
    outs, _ = _outputs(f(*leaves))
    for o in outs:
        if not o.requires_grad:
            raise MatdiffError("gradcheck: an output does not depend on any differentiable input")
    b = outs[0].backend
    seeds = [(o, _basis(b, o)) for o in outs]
    n_rows = sum(s.shape[0] for _, s in seeds)
    targets = [leaves[i] for i in diff]
    rows = [np.empty((n_rows, _flat_real(b, t.data).size)) for t in targets]

    def one(r0, k, j):
        sd = [b.zeros(o.shape, o.dtype) if kk != k else S[j, ...] for kk, (o, S) in enumerate(seeds)]
        gs = grad(outs, targets, sd, retain_graph=True)
        for R, g in zip(rows, gs):
            R[r0 + j] = _flat_real(b, g)

    r0 = 0
    batched = _BATCHED
    for k, (o, S) in enumerate(seeds):
        step = max(1, _CHUNK // max(1, max(int(np.prod(t.shape)) for t in targets + outs) * 4))
        for lo in range(0, S.shape[0], step):
            hi = min(S.shape[0], lo + step)
            if batched:
                try:
                    sd = [b.zeros((hi - lo,) + oo.shape, oo.dtype) if kk != k else S[lo:hi, ...]
                          for kk, (oo, _) in enumerate(seeds)]
                    gs = grad(outs, targets, sd, retain_graph=True, _lead=1)
                    block = [_flat_real(b, g, 1) for g in gs]
                    one(r0, k, lo)                                    # verify one row unbatched
                    if not all(np.allclose(B[0], R[r0 + lo], rtol=1e-8, atol=1e-12 * (1 + np.abs(B).max()))
                               for B, R in zip(block, rows)):
                        raise ValueError("mismatch")
                    for R, B in zip(rows, block):
                        R[r0 + lo:r0 + hi] = B
                    continue
                except (ValueError, MatdiffError, IndexError, TypeError):
                    batched = False
            for j in range(lo, hi):
                one(r0, k, j)
        r0 += S.shape[0]
    return rows, outs


# -- the public checks ------------------------------------------------------------------------------------
def gradcheck(f, inputs, *, eps=None, atol=None, rtol=None, fast=False, raise_on_fail=False, n_checks=3, seed=0,
              max_rows=12):
    """Check ``f``'s derivatives against central differences; returns a :class:`Report` (truthy when ok).

    ``inputs``: Tensors (those with requires_grad are differentiated; if none has it, every float input is)
    or arrays. ``fast=True`` compares ``n_checks`` random projections ``<v, J u>`` with ``<J^H v, u>`` instead of
    the full Jacobian. Tolerance per entry: ``|analytic - numeric| <= atol + rtol |numeric|``.
    """
    ts, diff = _setup(inputs)
    eps, atol, rtol = _defaults([ts[i] for i in diff], eps, atol, rtol, "gradcheck")
    if fast:
        return _fast(f, ts, diff, eps, atol, rtol, n_checks, seed, raise_on_fail)
    Ja, outs = _analytic(f, ts, diff)
    n_out = Ja[0].shape[0]
    out_names = [o.name or f"out{k}" for k, o in enumerate(outs)]
    out_labels = [lab for o, nm in zip(outs, out_names) for lab in _labels(o, nm, o.shape)]
    best = dict(abs=0.0, viol=-np.inf)
    rows, n_cmp, scale = [], 0, 0.0
    for Jai, i in zip(Ja, diff):
        Jn = _numeric(f, ts, i, eps, n_out)
        err = np.abs(Jai - Jn)
        viol = err - (atol + rtol * np.abs(Jn))
        rank = np.where(viol > 0, np.inf, err)       # failures first, then the largest errors
        n_cmp += err.size
        scale = max(scale, float(np.abs(Jn).max(initial=0)))
        in_labels = list(_labels(ts[i], ts[i].name or f"in{i}", ts[i].shape))
        flat = np.argsort(-rank, axis=None, kind="stable")[:max_rows]
        for r, c in zip(*np.unravel_index(flat, err.shape)):
            rows.append((rank[r, c], viol[r, c], [in_labels[c], out_labels[r], f"{Jai[r, c]:.6g}", f"{Jn[r, c]:.6g}",
                                      f"{err[r, c]:.2e}", "ok" if viol[r, c] <= 0 else "FAIL"]))
        if err.size and (viol.max() > best["viol"] if best["viol"] > 0 or viol.max() > 0 else err.max() >= best["abs"]):
            r, c = np.unravel_index(np.argmax(rank), rank.shape)
            best = dict(abs=max(best["abs"], float(err.max())), viol=max(best["viol"], float(viol.max())),
                        worst=dict(input=in_labels[c], output=out_labels[r], analytic=float(Jai[r, c]),
                                   numeric=float(Jn[r, c])))
        best["abs"] = max(best["abs"], float(err.max(initial=0)))
    rows.sort(key=lambda r: -r[0])
    rep = Report("gradcheck", best["viol"] <= 0, best["abs"], best["abs"] / max(scale, 1e-300), best.get("worst"),
                 [r[2] for r in rows[:max_rows]], ["input", "output", "analytic", "numeric", "abs err", ""],
                 n_cmp, f"atol={atol:g}, rtol={rtol:g}, eps={eps:g}")
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


def check_adjoint(f, inputs, *, n_checks=3, rtol=None, seed=0, raise_on_fail=False):
    """Trace identity (Eq 2 / Eq 19) between the jvp and vjp rules: ``Re <v, J u> == Re <J^H v, u>``.

    ``u`` are random tangents of the inputs, ``v`` random cotangents of the outputs; no finite differences,
    so the agreement is to rounding (float64: ~1e-12).
    """
    ts, diff = _setup(inputs)
    single = any(t.backend.real_dtype(t.dtype) == t.backend.xp.float32 for t in ts)
    rtol = (1e-4 if single else 1e-9) if rtol is None else rtol
    rng = np.random.default_rng(seed)
    rows, worst, max_rel, max_abs = [], None, 0.0, 0.0
    for c in range(n_checks):
        U = [_random_like(rng, t, t.backend) if i in diff else t.backend.zeros(t.shape, t.dtype)
             for i, t in enumerate(ts)]
        out, dots = jvp(f, ts, U)
        outs, keep = _outputs(out)
        dots = [(dots if isinstance(out, (tuple, list)) else (dots,))[k] for k in keep]
        leaves = [tensor(t.data, requires_grad=(i in diff)) for i, t in enumerate(ts)]
        outs2, _ = _outputs(f(*leaves))
        b = outs2[0].backend
        V = [_random_like(rng, o, b) for o in outs2]
        gs = grad(outs2, [leaves[i] for i in diff], V)
        lhs = sum(b.vdot_real(v, d) for v, d in zip(V, dots))                 # Tr(Qbar^H dQ) + Tr(Rbar^H dR) (+h.c.)
        rhs = sum(b.vdot_real(g, U[i]) for g, i in zip(gs, diff))             # Tr(Abar^H dA) (+h.c.)
        rel = abs(lhs - rhs) / max(abs(lhs), abs(rhs), 1e-300)
        max_abs = max(max_abs, abs(lhs - rhs))
        rows.append([f"#{c}", f"{lhs:.12g}", f"{rhs:.12g}", f"{rel:.2e}", "ok" if rel <= rtol else "FAIL"])
        if rel >= max_rel:
            max_rel, worst = rel, dict(check=c, jvp_side=lhs, vjp_side=rhs)
    ok = all(r[-1] == "ok" for r in rows)
    rep = Report("check_adjoint", ok, max_abs, max_rel, worst, rows,
                 ["check", "<v, J u> (jvp)", "<J^H v, u> (vjp)", "rel err", ""], n_checks, f"rtol={rtol:g}")
    return _finish(rep, raise_on_fail)
