"""Node blame: when a check of a composite function fails, re-check every node it recorded, one at a time.

Each node is re-run alone at the inputs it recorded -- ``op(*inputs, **params)`` -- and checked twice:
its vjp against central differences of its own forward (``gradcheck``), and its jvp against its vjp (the
trace identity, ``check_adjoint``). The nodes that fail are the culprits; the rest are cleared by name. Nothing
here knows any particular op, so a user-registered node is blamed exactly like ``qr``.
"""
import numpy as np

from ..engine.tensor import tensor
from ..errors import MatdiffError
from .finite_differences import gradcheck
from .report import NodeCheck
from .second_order import gradgradcheck
from .trace_identity import check_adjoint

_FULL_LIMIT = 1 << 20        # Jacobian entries above which a node is checked by random projections (fast=True)


def blame_nodes(nodes, eps, atol, rtol, order=1):
    """A :class:`NodeCheck` per node, in tape order (numbered from #1); the caller keeps the failing ones.
    ``order=2`` (gradgradcheck) checks each node's vjp differentiated again instead of its vjp."""
    return [_check_node(k + 1, node, eps, atol, rtol, order) for k, node in enumerate(nodes)]


def _check_node(number, node, eps, atol, rtol, order=1):
    op = node.op
    needs = node.ctx.needs_grad if node.ctx is not None else tuple(t.requires_grad for t in node.inputs)
    xs = [tensor(t.data, requires_grad=bool(need), name=t.name or f"input{k}")
          for k, (t, need) in enumerate(zip(node.inputs, needs))]
    inputs = [f"{'x'.join(map(str, t.shape)) or 'scalar'} {t.backend.dtype_name(t.dtype)}" for t in node.inputs]
    params = dict(node.params)

    def alone(*args):
        return op(*args, **params)

    size = sum(int(np.prod(t.shape)) for t in node.inputs) * sum(int(np.prod(o.shape)) for o in node.outputs)
    try:
        check = gradcheck if order == 1 else gradgradcheck
        vjp = check(alone, xs, eps=eps, atol=atol, rtol=rtol, fast=size > _FULL_LIMIT, blame=False)
        jvp = check_adjoint(alone, xs, blame=False)
    except MatdiffError as e:
        return NodeCheck(number, op.name, op.ref, inputs, error=str(e).split("\n")[0])
    return NodeCheck(number, op.name, op.ref, inputs, vjp=vjp, jvp=jvp, order=order)
