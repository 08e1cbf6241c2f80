"""The node registry: name -> op, each with its forward, vjp, jvp and the reference it implements.

An op is written as a class of three static methods on raw backend arrays (never Tensors)::

    @md.register("cube", ref="d(A^3) = 3 A^2 dA (elementwise)")
    class cube:
        def forward(ctx, A):             # arrays in, array(s) out; ctx.save(...) what the rules need
            ctx.save(A)
            return A * A * A
        def vjp(ctx, Cbar):              # adjoints of the outputs -> adjoints of the inputs
            (A,) = ctx.saved
            return (3 * ctx.b.conj(A * A) * Cbar,)
        def jvp(ctx, dA):                # tangents of the inputs -> tangents of the outputs
            (A,) = ctx.saved
            return 3 * A * A * dA

    md.registry["cube"](T)               # a Tensor in, a Tensor out, a node on the tape

Keyword arguments of the call (``axis=``, ``perm=``...) are passed to ``forward`` and are not
differentiated. ``vjp`` follows PyTorch's complex convention: for a real loss ``L`` the adjoint of ``z``
is ``dL/dRe z + i dL/dIm z``, so for a holomorphic op it is ``J^H`` applied to the output adjoint.
"""
from __future__ import annotations

from typing import Callable

from ..errors import MatdiffError
from .op import Op

REGISTRY = {}


def register(name: str, ref: str = "", *, replace: bool = False) -> Callable[[type], Op]:
    """Class decorator adding an op to the registry; returns the :class:`~matdiff.engine.op.Op` (call it on Tensors).

    ``ref`` names the equation it implements. A duplicate name is an error (``replace=True`` overwrites on
    purpose). A class attribute ``takes_none = True`` says the vjp accepts None for an unused output; ``symbols``,
    ``equation`` and ``adjoints`` give the paper notation printed tapes and drawings use (engine/notation.py).
    """
    def deco(cls):
        if name in REGISTRY and not replace:
            raise MatdiffError(f"an op named {name!r} is already registered ({REGISTRY[name].ref}); "
                               "choose another name or pass replace=True")
        missing = [f for f in ("forward", "vjp", "jvp") if not callable(getattr(cls, f, None))]
        if missing:
            raise MatdiffError(f"op {name!r} lacks {', '.join(missing)}; an op needs forward, vjp and jvp")
        notation = tuple(getattr(cls, a, None) for a in ("symbols", "equation", "adjoints"))
        op = Op(name, cls.forward, cls.vjp, cls.jvp, ref or (cls.__doc__ or "").strip().split("\n")[0],
                bool(getattr(cls, "takes_none", False)), notation)
        REGISTRY[name] = op
        return op
    return deco


def unregister(name: str) -> None:
    """Remove a user op (tests use this to clean up after themselves)."""
    REGISTRY.pop(name, None)


class _RegistryView:
    """``md.registry``: read-only mapping of the registered ops, printable as a table."""

    def __getitem__(self, name):
        try:
            return REGISTRY[name]
        except KeyError:
            raise MatdiffError(f"no op named {name!r}; registered: {', '.join(sorted(REGISTRY))}") from None

    def __contains__(self, name):
        return name in REGISTRY

    def __iter__(self):
        return iter(sorted(REGISTRY))

    def __len__(self):
        return len(REGISTRY)

    def items(self):
        return sorted(REGISTRY.items())

    def __repr__(self):
        w = max(map(len, REGISTRY), default=4)
        return "\n".join(f"{n:<{w}}  {op.ref}" for n, op in self.items())


registry = _RegistryView()
