"""The trace identity (paper Eq 2 / Eq 19) between the jvp and vjp rules, on random directions.

For random tangents ``u`` of the inputs and cotangents ``v`` of the outputs, forward mode gives ``J u`` and
reverse mode ``J^H v``; they must satisfy ``Re <v, J u> == Re <J^H v, u>``, which for QR reads
``Tr(Abar^H dA) = Tr(Qbar^H dQ) + Tr(Rbar^H dR)`` (+ h.c.). No finite differences: agreement is to rounding.
"""
import numpy as np

from .autodiff import grad, jvp
from .gradcheck import Report, _check_args, _finish, _outputs, _random_like, _setup
from .tensor import tensor


def check_adjoint(f, inputs, *, n_checks=3, rtol=None, seed=0, raise_on_fail=False):
    """Trace identity (Eq 2 / Eq 19) between the jvp and vjp rules: ``Re <v, J u> == Re <J^H v, u>``.

    ``u`` are random tangents of the inputs, ``v`` random cotangents of the outputs; no finite differences,
    so the agreement is to rounding (float64: ~1e-12).
    """
    _check_args("check_adjoint", f, rtol=rtol, n_checks=n_checks)
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
