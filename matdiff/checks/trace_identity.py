"""The trace identity (paper Eq 2 / Eq 19) between the jvp and vjp rules, on random directions.

For random tangents ``u`` of the inputs and cotangents ``v`` of the outputs, forward mode gives ``J u`` and
reverse mode ``J^H v``; they must satisfy ``Re <v, J u> == Re <J^H v, u>``, which for QR reads
``Tr(Abar^H dA) = Tr(Qbar^H dQ) + Tr(Rbar^H dR)`` (+ h.c.). No finite differences: agreement is to rounding.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..autodiff import grad, jvp
from ..engine.tensor import tensor
from .report import Report, check_args, float_outputs, is_single, random_like, ranked, rel_err, setup, tol_used


def compare_pairs(f: Callable[..., Any], inputs: Any, *, n_checks: int = 3, rtol: float | None = None,
                  seed: int = 0) -> Report:
    """The pure check behind :func:`matdiff.check_adjoint` (documented there, in ``checks/blame.py``): the trace
    identity on ``n_checks`` random pairs ``(u, v)``."""
    check_args("check_adjoint", f, rtol=rtol, n_checks=n_checks)
    ts, diff = setup(inputs, "check_adjoint")
    rtol = (1e-4 if is_single(ts) else 1e-9) if rtol is None else rtol
    rng = np.random.default_rng(seed)
    found, max_abs, mag = [], 0.0, 0.0
    for c in range(n_checks):
        U = [random_like(rng, t, t.backend) if i in diff else None for i, t in enumerate(ts)]
        lhs, rhs = _one_pair(f, ts, diff, U, rng)
        err, tol = abs(lhs - rhs), rtol * max(abs(lhs), abs(rhs))
        found.append((tol_used(err, tol), c, lhs, rhs, err, tol))
        max_abs, mag = max(max_abs, err), max(mag, abs(lhs), abs(rhs))
    (q, c, a, b_, e, tol), rows = ranked(found, 12)              # largest fraction of the tolerance first
    rep = Report("check_adjoint", q <= 1, max_abs, rel_err(max_abs, mag),
                 dict(check=c, where=f"direction #{c}", jvp_side=a, vjp_side=b_, abs_err=e, tolerance=tol, ratio=q,
                      batch=None),
                 rows, ["check", "<v, J u> (jvp)", "<J^H v, u> (vjp)", "abs err", "tolerance", "tol used", ""],
                 n_checks, f"rtol={rtol:g}")
    return rep


def _one_pair(f, ts, diff, U, rng):
    """``(<v, J u>, <J^H v, u>)`` for the tangents ``U`` and fresh random cotangents ``v``. Inputs that are not
    differentiated enter ``f`` as constants (integer data is allowed, as in gradcheck)."""
    def g(*xs):
        args = list(ts)
        for i, x in zip(diff, xs):
            args[i] = x
        return f(*args)

    out, dots = jvp(g, [ts[i] for i in diff], [U[i] for i in diff])
    outs, keep = float_outputs(out, "check_adjoint")
    dots = [(dots if isinstance(out, (tuple, list)) else (dots,))[k] for k in keep]
    leaves = _leaves(ts, diff)
    outs2, _ = float_outputs(f(*leaves), "check_adjoint")
    b = outs2[0].backend
    V = [random_like(rng, o, b) for o in outs2]
    gs = grad(outs2, [leaves[i] for i in diff], V)
    lhs = sum(b.vdot_real(v, d) for v, d in zip(V, dots))                 # Tr(Qbar^H dQ) + Tr(Rbar^H dR) (+h.c.)
    rhs = sum(b.vdot_real(g, U[i]) for g, i in zip(gs, diff))             # Tr(Abar^H dA) (+h.c.)
    return lhs, rhs


def _leaves(ts, diff):
    return [tensor(t.data, requires_grad=(i in diff), name=t.name) for i, t in enumerate(ts)]
