"""``gradgradcheck``: second derivatives -- the backward of the backward -- against central differences of first
derivatives. It is gradcheck applied to the function ``x -> J(x)^H v`` that ``md.grad(..., create_graph=True)``
records, so its report, its tolerances and its blame are gradcheck's (blame goes to second order when every node
passes to first).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..autodiff import grad
from ..engine.tape import Tape, enable_grad, grad_enabled, no_grad
from ..engine.tensor import Tensor, tensor
from .finite_differences import gradcheck, tolerances
from .report import Report, check_args, finish, float_outputs, random_like, setup


def gradgradcheck(f: Callable[..., Any], inputs: Any, *, seeds: Any = None, eps: float | None = None,
                  atol: float | None = None, rtol: float | None = None, fast: bool = False, n_checks: int = 3,
                  seed: int = 0, max_rows: int = 12, raise_on_fail: bool = False, blame: bool = True) -> Report:
    """Check ``f``'s second derivatives: the backward of its backward against central differences of its first
    derivatives. Returns the same :class:`~matdiff.checks.report.Report` as :func:`gradcheck` (kind "gradgradcheck").

    With output adjoints ``v`` (``seeds``, or random ones drawn from ``seed``), ``g(x) = J(x)^H v`` -- the gradient of
    ``Re <v, f(x)>`` -- is computed by ``md.grad(..., create_graph=True)``; then ``gradcheck(g)`` compares the
    Jacobian of ``g`` that the engine gets by differentiating the recorded backward pass (every entry, or
    ``n_checks`` random projections with ``fast=True``) with central differences of ``g``, i.e. first derivatives
    at ``x ± eps e``. Tolerances, the ranking (``worst`` and ``rows`` by the fraction of its tolerance each entry
    uses) and ``blame`` are gradcheck's: on failure the nodes the backward pass recorded are re-checked one by one.
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
