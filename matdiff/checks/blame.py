"""The public checkers -- ``gradcheck``, ``gradgradcheck``, ``check_adjoint`` -- each the pure check of its module
(``finite_differences.compare``, ``second_order.compare_second``, ``trace_identity.compare_pairs``) plus the one
blame step: when a check fails, re-check every node the function records, one at a time.

Each node is re-run alone at the inputs it recorded -- ``op(*inputs, **params)`` -- and checked twice: its vjp
against central differences of its own forward (``compare``; ``compare_second`` for second order), and its jvp
against its vjp (the trace identity, ``compare_pairs``). The nodes that fail are the culprits; the rest are cleared
by name. The nodes are those of one recorded run of the function at the checked inputs -- its own, never the copies
its finite-difference evaluations or a recorded backward make. Nothing here knows any particular op, so a
user-registered node is blamed exactly like ``qr``.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..engine.tape import Tape, enable_grad
from ..engine.tensor import tensor
from ..errors import MatdiffError
from . import frameworks
from .finite_differences import compare
from .frameworks import framework_of
from .report import NodeCheck, Report, finish, setup
from .second_order import compare_second
from .trace_identity import compare_pairs

_FULL_LIMIT = 1 << 20        # Jacobian entries above which a node is checked by random projections (fast=True)


def gradcheck(f: Callable[..., Any], inputs: Any, *, eps: float | None = None, atol: float | None = None,
              rtol: float | None = None, fast: bool = False, batched: bool = False, n_checks: int = 3, seed: int = 0,
              max_rows: int = 12, raise_on_fail: bool = False, blame: bool = True) -> Report:
    """Check ``f``'s derivatives against central differences; returns a :class:`~matdiff.checks.report.Report`
    (truthy when every entry passes).

    ``f`` maps Tensors to a Tensor or a tuple of Tensors. ``inputs``: Tensors (those with ``requires_grad`` are
    differentiated; if none has it, every float input is) or arrays.
    ``f`` may instead be a PyTorch or JAX function and ``inputs`` its tensors: it is then checked through the
    framework's own vjp (``checks/frameworks.py``), with the same keywords and Report; blame names the failing custom
    ``autograd.Function`` / torch op, or the failing equation of its jaxpr.

    * ``eps`` -- the central-difference step: 1e-6 in double precision, 1e-3 if any input is float32/complex64.
    * ``atol``, ``rtol`` -- an entry passes when ``|analytic - numeric| <= atol + rtol |numeric|``; defaults
      1e-5 / 1e-4 (double), 1e-2 / 1e-2 (single, with a :class:`PrecisionWarning`).
    * ``fast=True`` -- compare ``n_checks`` random projections ``<J^H v, u>`` (vjp) with ``<v, J u>`` (central
      differences along ``u``) instead of the full Jacobian; ``seed`` fixes the directions.
    * ``batched=True`` -- the leading axes (all but the last two of the first differentiated input) are
      independent matrices: only the block-diagonal Jacobian is compared, one block per matrix, and
      ``report.worst["batch"]`` is the worst matrix. ``f`` must keep those axes in front of every output and
      must not mix matrices (checked by perturbing one).
    * ``max_rows`` -- entries listed in ``report.rows`` / ``report.table``: those that use the largest fraction of
      their tolerance, ``|analytic - numeric| / (atol + rtol |numeric|)``, largest first (so on a passing check the
      largest errors, not exact zeros). ``report.worst`` is the first of them; the summary quotes its figures.
    * ``raise_on_fail=True`` -- raise :class:`matdiff.GradcheckError` with the report instead of returning it.
    * ``blame=True`` -- on failure re-check each recorded node alone and fill ``report.blame``.

    The report holds ``ok``, ``max_abs_err``, ``max_rel_err`` (max |difference| / max |value|, the one definition of
    :mod:`.report`), ``worst``, ``rows``/``table``, ``n_compared``, ``tol``, ``blame``, ``node_checks`` and
    the one-line ``summary``.
    """
    kw = dict(eps=eps, atol=atol, rtol=rtol, fast=fast, batched=batched, n_checks=n_checks, seed=seed,
              max_rows=max_rows)
    fw = framework_of(inputs)
    if fw is not None:
        return frameworks.gradcheck(fw, f, inputs, raise_on_fail=raise_on_fail, blame=blame, **kw)
    rep = compare(f, inputs, **kw)
    return finish(_blamed(rep, f, inputs, eps, atol, rtol) if blame and not rep.ok else rep, raise_on_fail)


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
    uses) are gradcheck's. ``blame``: on failure the function's own nodes (not the ones its backward records) are
    re-checked one by one -- to first order, then, when every one passes, to second order (``NodeCheck.order``).
    """
    fw = framework_of(inputs)
    if fw is not None:
        return frameworks.gradgradcheck(fw, f, inputs, seeds=seeds, seed=seed, raise_on_fail=raise_on_fail,
                                        blame=blame, eps=eps, atol=atol, rtol=rtol, fast=fast, n_checks=n_checks,
                                        max_rows=max_rows)
    rep = compare_second(f, inputs, seeds=seeds, eps=eps, atol=atol, rtol=rtol, fast=fast, n_checks=n_checks,
                         seed=seed, max_rows=max_rows)
    if blame and not rep.ok:
        rep = _blamed(rep, f, inputs, eps, atol, rtol)
        if not rep.blame:                         # every node right to first order: check them to second order
            rep = _blamed(rep, f, inputs, eps, atol, rtol, order=2)
    return finish(rep, raise_on_fail)


def check_adjoint(f: Callable[..., Any], inputs: Any, *, n_checks: int = 3, rtol: float | None = None, seed: int = 0,
                  raise_on_fail: bool = False, blame: bool = True) -> Report:
    """Trace identity (Eq 2 / Eq 19) between the jvp and vjp rules: ``Re <v, J u> == Re <J^H v, u>``.

    ``u`` are random tangents of the differentiated inputs (those with ``requires_grad``, else every float input;
    integer inputs are held constant), ``v`` random cotangents of the float outputs, ``n_checks`` pairs drawn
    from ``seed``. A pair passes when ``|jvp side - vjp side| <= rtol max(|jvp side|, |vjp side|)``; ``rtol``
    defaults to 1e-9 (double) and 1e-4 (single). No finite differences, so the agreement is to rounding. The rows
    and ``worst`` are ranked by the fraction of that tolerance each pair uses, largest first.
    Returns a :class:`~matdiff.checks.report.Report` (``max_rel_err`` as defined there); on failure, with
    ``blame=True``, every recorded node is re-checked alone and ``report.blame`` names the failing ones.
    """
    fw = framework_of(inputs)
    if fw is not None:
        return frameworks.check_adjoint(fw, f, inputs, raise_on_fail=raise_on_fail, blame=blame, n_checks=n_checks,
                                        rtol=rtol, seed=seed)
    rep = compare_pairs(f, inputs, n_checks=n_checks, rtol=rtol, seed=seed)
    return finish(_blamed(rep, f, inputs, None, None, None) if blame and not rep.ok else rep, raise_on_fail)


def _blamed(rep, f, inputs, eps, atol, rtol, order=1):
    """``rep`` with ``node_checks`` (every node of one recorded run of ``f``) and ``blame`` (the failing ones);
    the step and tolerances are the caller's (None: each node's defaults, those of its inputs' precision)."""
    ts, diff = setup(inputs)
    with enable_grad(), Tape() as tape:
        f(*[tensor(t.data, requires_grad=(i in diff), name=t.name) for i, t in enumerate(ts)])
    rep.node_checks = blame_nodes(tape.nodes, eps, atol, rtol, order)
    rep.blame = [c for c in rep.node_checks if not c.ok]
    return rep


def blame_nodes(nodes, eps, atol, rtol, order=1):
    """A :class:`NodeCheck` per node, in tape order (numbered from #1); the caller keeps the failing ones.
    ``order=2`` (gradgradcheck) checks each node's vjp differentiated again instead of its vjp."""
    return [_check_node(k + 1, node, eps, atol, rtol, order) for k, node in enumerate(nodes)]


def _check_node(number, node, eps, atol, rtol, order=1):
    op = node.op
    xs = [tensor(t.data, requires_grad=bool(need), name=t.name or f"input{k}")
          for k, (t, need) in enumerate(zip(node.inputs, node.needs_grad))]
    inputs = [f"{'x'.join(map(str, t.shape)) or 'scalar'} {t.backend.dtype_name(t.dtype)}" for t in node.inputs]
    params = dict(node.params)

    def alone(*args):
        return op(*args, **params)

    size = sum(int(np.prod(t.shape)) for t in node.inputs) * sum(int(np.prod(o.shape)) for o in node.outputs)
    try:
        check = compare if order == 1 else compare_second
        vjp = check(alone, xs, eps=eps, atol=atol, rtol=rtol, fast=size > _FULL_LIMIT)
        jvp = compare_pairs(alone, xs)
    except MatdiffError as e:
        return NodeCheck(number, op.name, op.ref, inputs, error=str(e).split("\n")[0])
    return NodeCheck(number, op.name, op.ref, inputs, vjp=vjp, jvp=jvp, order=order)
