"""``gradgradcheck``: second derivatives -- the backward of the backward -- against central differences of first
derivatives. It is gradcheck applied to the function ``x -> J(x)^H v`` that ``md.grad(..., create_graph=True)``
records, so its report and its tolerances are gradcheck's. Pure: the blame (the function's own nodes re-checked, to
second order when every one passes to first) is added by ``checks/blame.py``, which defines ``md.gradgradcheck``.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..autodiff import grad
from ..engine.tape import enable_grad, grad_enabled, no_grad
from ..engine.tensor import Tensor, tensor
from .finite_differences import compare
from .report import Report, check_args, float_outputs, random_like, setup


def compare_second(f: Callable[..., Any], inputs: Any, *, seeds: Any = None, eps: float | None = None,
                   atol: float | None = None, rtol: float | None = None, fast: bool = False, n_checks: int = 3,
                   seed: int = 0, max_rows: int = 12) -> Report:
    """The pure check behind :func:`matdiff.gradgradcheck` (documented there, in ``checks/blame.py``):
    :func:`~.finite_differences.compare` of ``x -> J(x)^H v``, recorded by ``md.grad(..., create_graph=True)``."""
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

    rep = compare(first_derivatives, ts, eps=eps, atol=atol, rtol=rtol, fast=fast, n_checks=n_checks, seed=seed,
                  max_rows=max_rows)
    rep.kind = "gradgradcheck" + ("(fast)" if fast else "")
    return rep


def _spread(V, outs, lead):
    """The adjoints ``v`` broadcast over gradcheck's leading stack of perturbed inputs -- or a ValueError (gradcheck
    then evaluates one perturbation at a time) if ``f`` did not carry that stack through as a leading axis."""
    if any(tuple(o.shape) != lead + tuple(v.shape) for v, o in zip(V, outs)):
        raise ValueError("the function does not broadcast over a leading axis")
    return [o.backend.broadcast_to(v, tuple(o.shape)) if lead else v for v, o in zip(V, outs)]
