"""Higher order: the backward pass recorded as a graph (``create_graph=True``), from the same rules.

Every rule is written once, against the backend contract (``ctx.b``) and the arrays' own operators. A first-order
sweep hands it the array backend: plain arrays, today's speed. ``create_graph=True`` hands the *same* rule a
:class:`GraphBackend`, whose methods take and return Tensors by calling ops -- so the rule's arithmetic is recorded
as nodes, the gradients it returns are Tensors, and they can be differentiated again, to any order.

The primitives a rule may use, and the ops that record them here:

=========================================  ===============================================================
backend method / operator                  recorded as
=========================================  ===============================================================
``+ - * @``, ``-x``, ``x * scalar``        add, sub, mul, matmul, neg, scale
``x[...]``                                 slice
``mT``, ``mH``, ``conj``, ``real``         transpose, adjoint, conj, real (``imag(x) = real(-i x)``)
``tril``, ``triu``                         mul by a constant triangular mask
``tril_matmul``                            matmul (above the diagonal is unspecified: hcopyltu never reads it)
``where(cond, x, y)`` (``cond`` constant)  ``x ∘ m + y ∘ (1 - m)``, mul by the constant mask m
``hcopyltu``                               ``N + N^H``, ``N = (P_L + I/2) ∘ M`` = ``symh(E ∘ M)``: 3 nodes
``diagonal``, ``diag_embed``,              mul by a constant identity, sum, reshape
``add_diagonal``
``sum``, ``reshape``, ``broadcast_to``     sum, reshape, broadcast_to
``astype``, ``concat``, ``permute``        cast, concat, permute
``setitem_copy`` (the adjoint of slicing)  embed
``solve_triangular``, ``solve_*_adjoint``  solve_triangular with transpose/adjoint around it
=========================================  ===============================================================

Constants (the masks E and P_L, zeros) stay arrays and enter ops as constants. The contract
(:mod:`matdiff.backend.contract`) says which primitive is which: the ``differentiable`` ones are methods of
:class:`GraphBackend` below (given only arrays, they hand them to the array backend); the ``query`` ones (dtype
questions, constants) are the array backend's own bound methods, listed in ``_DELEGATED``; a ``forward`` one (``qr``,
``pivots``, ``phase``, host checks) runs on constant arrays and refuses a Tensor with a MatdiffError naming it.
There is no catch-all: a name outside the contract is an AttributeError.
"""
from ..backend import contract as _contract
from ..backend.contract import Contract
from ..engine.sweeps import backward_sweep
from ..engine.tape import Tape, user_leaves
from ..engine.tensor import Tensor
from ..errors import MatdiffError
from . import elementary as _el
from . import primitives as _pr
from . import solve as _solve
from . import structural as _st

# the contract's queries and attributes that GraphBackend takes from the array backend as they are
_DELEGATED = ("is_complex", "is_float", "real_dtype", "complex_dtype", "result_type", "eps", "dtype_name",
              "asarray", "zeros", "ones", "eye", "from_host")
_ATTRIBUTES = ("name", "device", "promotes", "defers_checks", "float32", "float64", "complex64", "complex128")


def _any_tensor(*xs):
    return any(isinstance(x, Tensor) for x in xs)


class NotRecordableError(MatdiffError, TypeError):
    """A forward-only contract primitive met a Tensor under ``create_graph=True``."""


def _forward_only(name):
    """GraphBackend's version of forward-only primitive ``name``: the array backend's on constants, an error on a
    Tensor (its derivative would be silently lost)."""
    def method(self, *args, **kwargs):
        if _any_tensor(*args, *kwargs.values()):
            raise NotRecordableError(
                f"`{name}` cannot be recorded under create_graph=True: it is a forward-only primitive of the backend "
                f"contract ({_contract.meaning(name)}), so the second derivative through it would be lost. Apply it "
                "in the forward and keep the result (ctx.save or a ctx attribute), use b.values(x) for a check that "
                "only reads numbers, or write the rule with the differentiable primitives: "
                f"{', '.join(_contract.of_kind(_contract.DIFFERENTIABLE))}")
        return getattr(self.arrays, name)(*args, **kwargs)
    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"Forward-only: ``{name}`` of constant arrays; a Tensor is refused (NotRecordableError)."
    return method


class GraphBackend(Contract):
    """The backend contract on Tensors, for rules run under ``create_graph=True``."""

    array_type = Tensor

    def __init__(self, arrays):
        self.arrays = arrays                  # the array backend underneath (NumPy, CuPy, array_api_strict)
        self._masks = {}                      # the constant masks made so far (_mask)
        for name in _ATTRIBUTES + _DELEGATED:  # explicit delegation of the listed queries (bound methods: no cost)
            setattr(self, name, getattr(arrays, name))

    def __getattr__(self, name):              # only reached for a name that is not in the contract
        raise AttributeError(f"{name!r} is not a primitive of the backend contract (matdiff/backend/contract.py), so "
                             "a rule cannot use it on any backend; use the listed primitives")

    def own(self, x):
        """A Tensor as is; an array of the backend as a constant Tensor; anything else None."""
        if isinstance(x, Tensor):
            return x
        a = self.arrays.own(x)
        return None if a is None else Tensor(a, self.arrays)

    def values(self, x):
        """A Tensor's numbers (``.data``, a constant: what is computed from them is not recorded)."""
        return x.data if isinstance(x, Tensor) else x

    # -- structure ------------------------------------------------------------------------------------
    def mT(self, a):
        return _el.transpose_op(a) if isinstance(a, Tensor) else self.arrays.mT(a)

    def mH(self, a):
        return _el.adjoint_op(a) if isinstance(a, Tensor) else self.arrays.mH(a)

    def conj(self, a):
        if not isinstance(a, Tensor):
            return self.arrays.conj(a)
        return _el.conj_op(a) if self.is_complex(a.dtype) else a

    def real(self, a):
        if not isinstance(a, Tensor):
            return self.arrays.real(a)
        return _el.real_op(a) if self.is_complex(a.dtype) else a

    def imag(self, a):
        return _el.real_op(a * -1j) if isinstance(a, Tensor) else self.arrays.imag(a)

    def where(self, cond, x, y):
        """``x ∘ m + y ∘ (1 - m)`` with the constant mask ``m = cond`` (the branch not taken must be finite)."""
        if isinstance(cond, Tensor):
            raise NotRecordableError("`where` cannot be recorded under create_graph=True with a Tensor as its "
                                     "condition: a comparison has no derivative. Compute the condition from "
                                     "b.values(...) (a constant array)")
        if not _any_tensor(x, y):
            return self.arrays.where(cond, x, y)
        t = x if isinstance(x, Tensor) else y
        m = self.arrays.astype(cond, self.real_dtype(t.dtype))
        return x * m + y * (1 - m)

    def _mask(self, a, k, lower):
        """The constant triangle of ones (``lower=None``: ``P_L + I/2``, hcopyltu's), made once per sweep."""
        key = (tuple(a.shape[-2:]), k, lower, self.real_dtype(a.dtype))
        m = self._masks.get(key)
        if m is None:
            ones = self.arrays.ones(key[0], key[-1])
            if lower is None:
                m = self.arrays.tril(ones, -1) + self.arrays.eye(key[0][-1], key[-1]) * 0.5
            else:
                m = self.arrays.tril(ones, k) if lower else self.arrays.triu(ones, k)
            self._masks[key] = m
        return m

    def tril(self, a, k=0):
        return a * self._mask(a, k, True) if isinstance(a, Tensor) else self.arrays.tril(a, k)

    def triu(self, a, k=0):
        return a * self._mask(a, k, False) if isinstance(a, Tensor) else self.arrays.triu(a, k)

    def tril_matmul(self, A, B, upper_a=False):
        """``A @ B``, one matmul node: the contract leaves the upper triangle unspecified (its one reader, hcopyltu,
        multiplies it by zero), so a mask node here would only cost a pass and a node in each later sweep."""
        return A @ B if _any_tensor(A, B) else self.arrays.tril_matmul(A, B, upper_a)

    def each_matrix(self, rule, *arrays, **kw):
        """The rule on the whole stack, recorded op by op (no threads on the graph)."""
        return rule(self, *arrays, **kw)

    def hcopyltu(self, M):
        """``symh(E ∘ M) = N + N^H`` with ``N = (P_L + I/2) ∘ M`` (Section 4.2, E = 2 P_L + I): a mul, an adjoint and
        an add, where the generic formula (tril, adjoint, diagonal, real, diag_embed) recorded ten nodes."""
        if not isinstance(M, Tensor):
            return self.arrays.hcopyltu(M)
        N = M * self._mask(M, 0, None)
        return N + self.mH(N)

    def diagonal(self, a):
        if not isinstance(a, Tensor):
            return self.arrays.diagonal(a)
        k = min(a.shape[-2:])
        eye = self.arrays.eye(k, self.real_dtype(a.dtype))
        return _el.sum_op(a[..., :k, :k] * eye, axis=-1)

    def diag_embed(self, d):
        if not isinstance(d, Tensor):
            return self.arrays.diag_embed(d)
        k = d.shape[-1]
        return self.reshape(d, tuple(d.shape[:-1]) + (1, k)) * self.arrays.eye(k, self.real_dtype(d.dtype))

    def add_diagonal(self, H, d):
        return H + self.diag_embed(d) if _any_tensor(H, d) else self.arrays.add_diagonal(H, d)

    def concat(self, arrays, axis):
        arrays = list(arrays)
        return _st.concat_op(*arrays, axis=axis) if _any_tensor(*arrays) else self.arrays.concat(arrays, axis)

    def reshape(self, a, shape):
        if not isinstance(a, Tensor):
            return self.arrays.reshape(a, shape)
        return a if tuple(a.shape) == tuple(shape) else _pr.reshape_op(a, shape=tuple(shape))

    def broadcast_to(self, a, shape):
        if not isinstance(a, Tensor):
            return self.arrays.broadcast_to(a, shape)
        return a if tuple(a.shape) == tuple(shape) else _pr.broadcast_to_op(a, shape=tuple(shape))

    def sum(self, a, axis=None, keepdims=False):
        if not isinstance(a, Tensor):
            return self.arrays.sum(a, axis=axis, keepdims=keepdims)
        s = _el.sum_op(a, axis=axis)
        if not keepdims:
            return s
        axes = range(a.ndim) if axis is None else [x % a.ndim for x in ((axis,) if isinstance(axis, int) else axis)]
        return self.reshape(s, tuple(1 if i in set(axes) else n for i, n in enumerate(a.shape)))

    def astype(self, a, dtype):
        if not isinstance(a, Tensor):
            return self.arrays.astype(a, dtype)
        return a if a.dtype == dtype else _pr.cast_op(a, dtype=dtype)

    def setitem_copy(self, shape, dtype, key, value):
        if not isinstance(value, Tensor):
            return self.arrays.setitem_copy(shape, dtype, key, value)
        return _pr.embed_op(self.astype(value, dtype), shape=tuple(shape), key=tuple(key))

    def permute(self, a, perm, axis):
        return _st.permute_op(a, perm=perm, axis=axis) if isinstance(a, Tensor) else self.arrays.permute(a, perm, axis)

    def solve_triangular(self, T, B, *, lower, side="left", adjoint=False, overwrite=False):
        """``op(T)^{-1} B`` or ``B op(T)^{-1}`` from the solve node (a left solve with T's triangle) and transposes."""
        if not _any_tensor(T, B):
            return self.arrays.solve_triangular(T, B, lower=lower, side=side, adjoint=adjoint)
        opT, low = (self.mH(T), not lower) if adjoint else (T, lower)
        if side == "left":
            return _solve.solve_triangular_op(opT, B, lower=low)
        # B op(T)^{-1} = (op(T)^{-T} B^T)^T, and op(T)^T is triangular the other way
        return self.mT(_solve.solve_triangular_op(self.mT(opT), self.mT(B), lower=not low))


    def solve_right_adjoint(self, R, X):
        """``X R^{-H}`` recorded as a solve (nothing is overwritten on the graph)."""
        return self.solve_triangular(R, X, lower=False, side="right", adjoint=True)

    def solve_left_adjoint(self, L, X):
        """``L^{-H} X`` recorded as a solve."""
        return self.solve_triangular(L, X, lower=True, side="left", adjoint=True)


for _name in ("qr", "qr_complete", "pivots", "phase", "positive_real", "abs", "amin", "any", "argsort",
              "to_host", "total", "host_values", "isfinite_all", "vdot_real"):
    setattr(GraphBackend, _name, _forward_only(_name))


class GraphContext:
    """A node's context for its rules under ``create_graph=True``: the backend is a :class:`GraphBackend` and the
    saved values are the node's own input and output Tensors, so what the rule computes from them is recorded."""

    def __init__(self, node, G, known=None):
        ctx = node.ctx
        self.__dict__.update(ctx.__dict__)       # what the forward stored: s, axes, key, formula, hint ...
        self.b = G
        if known is not None:
            _know(known, node)
        own = {id(t.data): t for t in (*node.inputs, *node.outputs)}
        self.saved = tuple(self._lift(a, own, node) for a in ctx.saved)

    @staticmethod
    def _lift(a, own, node):
        t = own.get(id(a))
        if t is not None:
            return t
        if not hasattr(a, "shape"):
            return a
        raise MatdiffError(
            f"op {node.op.name!r} saved an array that is neither one of its inputs nor one of its outputs, so its "
            "vjp cannot be differentiated again (create_graph=True). Save the inputs/outputs themselves (ctx.save(A, "
            "C)) and recompute what the rule needs from them; keep constants as ctx attributes")


def _know(known, node):
    """Note the user's arrays a node's rule may meet (``tape.user_leaves``): its leaves, just verified by the sweep,
    and any array among what the forward stored or was called with (fingerprinted only if a recorded node uses it)."""
    for _, d, c in node.stamps or ():
        known[id(d)] = (d, c)
    stored = [v for k, v in node.ctx.__dict__.items() if k != "b"]        # (b: the backend, not an array)
    for v in (*stored, *(node.params or {}).values()):
        if hasattr(v, "shape") and id(v) not in known:
            known[id(v)] = (v, None)


def graph_sweep(outputs, seeds, *, capture=None, set_grads=True, retain_graph=True, trace=None):
    """Reverse sweep recording the backward pass: every rule runs on Tensors through a :class:`GraphBackend`; the
    nodes it records are marked ``origin = "backward"`` (drawings show them apart). Returns what ``backward_sweep``
    returns, with Tensors instead of arrays."""
    G = GraphBackend(outputs[0].backend)
    seeds = [s if isinstance(s, Tensor) else Tensor(s, outputs[0].backend) for s in seeds]
    known = {id(s._data): (s._data, None) for s in seeds if s.node is None}    # the user's arrays (tape.user_leaves)
    with Tape() as recorded, user_leaves(known):
        got = backward_sweep(outputs, seeds, retain_graph=retain_graph, capture=capture, set_grads=set_grads,
                             trace=trace, context=lambda node: GraphContext(node, G, known))
    for node in recorded:
        node.origin = "backward"
    return got
