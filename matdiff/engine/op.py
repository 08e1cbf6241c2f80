"""``Op``: a node type (forward, vjp, jvp), and what calling one does -- the single path from a user's call to the
tape.

``A @ B`` is ``matmul.apply(A, B)``: ``Tensor.__matmul__`` *is* the op's ``apply`` (bound by the ops layer), which
checks the devices, runs ``forward`` on the arrays, wraps the outputs as Tensors and, when an input requires grad
and grad mode is on, records one :class:`~matdiff.engine.tape.Node`. ``op(...)`` (``md.registry["qr"](X)``) is the same
path plus ``name=``. Nothing is looked up by name on the way.
"""
import numbers

from .. import backend as _backend
from ..errors import DeviceError, MatdiffError
from .tape import Context, Node, per_thread, stamp
from .tensor import Tensor, _host_array, tensor


class Op:
    """A registered node type: ``forward``, ``vjp``, ``jvp`` (functions of a context and arrays) and ``ref``, the
    equation it implements. ``takes_none``: its vjp accepts None for an output nobody used (the engine then
    passes None instead of a zero array, so the rule can skip that term). ``apply`` is the call path below."""

    __slots__ = ("name", "forward", "vjp", "jvp", "ref", "takes_none", "symbols", "equation", "adjoints", "apply")

    def __init__(self, name, forward, vjp, jvp, ref, takes_none=False, notation=(None, None, None)):
        self.name, self.forward, self.vjp, self.jvp, self.ref = name, forward, vjp, jvp, ref
        self.takes_none = takes_none
        self.symbols, self.equation, self.adjoints = notation     # for printed tapes and drawings (notation.py)
        self.apply = _call_path(self)

    def __repr__(self):
        return f"<op {self.name}: {self.ref}>"

    def __call__(self, *inputs, **params):
        """Apply to Tensors (arrays and Python scalars are constants); returns a Tensor or a tuple of them.

        ``name=`` names the output (a tuple of names for several outputs): ``md.registry["qr"](X, name=("Q", "U"))``.
        """
        if "name" in params:
            return _named(self.apply(*inputs, **{k: v for k, v in params.items() if k != "name"}), params["name"], self)
        return self.apply(*inputs, **params)


def _call_path(op):
    """What calling ``op`` does, as one plain function: check the inputs' devices, run ``forward`` on their arrays,
    wrap the outputs as Tensors and, when an input requires grad and grad mode is on, record one Node.

    A closure rather than a method because a plain function binds as a method: Tensor's operators *are* this
    function (``Tensor.__neg__ = neg.apply``), one Python frame per node instead of two -- the frame is a tenth of
    a small node's cost.
    """
    def apply(*inputs, **params):
        ctx = Context()
        if len(inputs) == 1 and inputs[0].__class__ is Tensor:  # unary ops: no loop, no lists, no ** call
            x = inputs[0]
            ctx.b = b = x._b
            if x.requires_grad:
                ctx.needs_grad, record = _NEEDED, not per_thread.off
            else:
                ctx.needs_grad, record = _NOT_NEEDED, False
            out = op.forward(ctx, x._data, **params) if params else op.forward(ctx, x._data)
            leaf = x.node is None                     # a leaf input: the node stamps it (tape.stamp)
        else:
            b = _one_backend(op, inputs)
            if b is None:                             # arrays or scalars among the inputs: constants
                return apply(*_constants_as_tensors(op, inputs), **params)
            ctx.b = b
            ctx.needs_grad = tuple([x.requires_grad for x in inputs])
            record = True in ctx.needs_grad and not per_thread.off
            arrays = [x._data for x in inputs]
            out = op.forward(ctx, *(arrays if b.promotes else promoted(b, arrays)), **params)
            leaf = True                               # (stamp looks)
        if out.__class__ is not tuple:                # one output: the common case, inline
            out = Tensor(out if out.__class__ is b.array_type else _array_out(op, b, out), b, record)
            if record:
                out.node = Node(op, inputs, (out,), ctx, params, stamp(inputs) if leaf else None)
                if out._data.dtype is not inputs[0]._data.dtype and not b.is_float(out._data.dtype):
                    out.requires_grad = False         # integer outputs: no gradient
            return out
        return _outputs(op, b, inputs, out, ctx, params, record)
    return apply


_NEEDED, _NOT_NEEDED = (True,), (False,)          # a unary node's needs_grad, shared


def _one_backend(op, inputs):
    """The backend of ``inputs`` if all are Tensors (subclasses too) of one backend; None if some are not Tensors
    (or there are none); a DeviceError if they live on different devices."""
    b = None
    for x in inputs:
        if not isinstance(x, Tensor):
            return None
        if b is None:
            b = x._b
        elif x._b is not b:
            raise DeviceError(f"{op.name} mixes a tensor on {b.device} ({b.name}) with one on {x.device} "
                              f"({x._b.name}); move them to one device with .to('cpu') or .to('gpu')")
    return b


def _outputs(op, b, inputs, out, ctx, params, record):
    """Several outputs as a tuple of Tensors, recorded as one node."""
    outs = []
    for o in out:
        outs.append(Tensor(o if o.__class__ is b.array_type else _array_out(op, b, o), b, record))
    outs = tuple(outs)
    if record:
        node, like = Node(op, inputs, outs, ctx, params, stamp(inputs)), inputs[0]._data.dtype
        for o in outs:
            o.node = node
            if o._data.dtype is not like and not b.is_float(o._data.dtype):
                o.requires_grad = False               # integer outputs: no gradient
    return outs


def _named(out, names, op):
    """Give the outputs of a call their names (one, or a tuple for several outputs); returns ``out``."""
    outs = out if isinstance(out, tuple) else (out,)
    names = (names,) if isinstance(names, str) or names is None else tuple(names)
    if len(names) != len(outs):
        what = op.name if op is not None else "this call"
        example = tuple("XYZW"[:len(outs)]) if len(outs) > 1 else "V"
        raise MatdiffError(f"{what} has {len(outs)} output(s) but name= gave {len(names)}; give one name per output, "
                           f"e.g. name={example!r}")
    for o, n in zip(outs, names):
        if n is not None:
            o.name = n
    return out


def _constants_as_tensors(op, inputs):
    """Arrays and Python scalars among ``inputs`` as constant Tensors of the backend of the first Tensor (or of the
    first array, when there is no Tensor: ``md.solve_triangular(T, b)`` on NumPy arrays works like ``md.qr(a)``)."""
    first = next((x for x in inputs if isinstance(x, Tensor)), None)
    if first is None:
        lead = next((x for x in inputs if not isinstance(x, numbers.Number)), None)
        if lead is None:
            raise MatdiffError(f"{op.name} needs at least one Tensor or array input (got "
                               f"{[type(x).__name__ for x in inputs]}); wrap the data with md.tensor(...)")
        first = tensor(lead)
        inputs = [first if x is lead else x for x in inputs]
    b, dtype = first._b, first._data.dtype
    return [x if isinstance(x, Tensor) else _as_tensor(x, b, dtype) for x in inputs]


def _as_tensor(x, b, like_dtype):
    """A constant input (array or Python scalar) as a Tensor of backend ``b``."""
    if isinstance(x, numbers.Number):
        dtype = like_dtype
        if isinstance(x, complex) and not b.is_complex(dtype):
            dtype = b.complex_dtype(dtype)
        elif not b.is_float(dtype) and not isinstance(x, int):     # int tensor + 2.5: float64, as NumPy, not 2
            dtype = b.float64
        return Tensor(b.asarray(x, dtype=dtype), b)
    xb = _backend.owner(x)
    if xb is None:
        return Tensor(b.asarray(_host_array(x)), b)
    if xb is not b:
        raise DeviceError(f"an array of backend {xb.name} ({xb.device}) cannot meet tensors of backend {b.name} "
                          f"({b.device}) in one op; move one with md.tensor(x, device=...) or .to(...)")
    return Tensor(x, b)


def promoted(b, arrays):
    """Operands cast to NumPy's result type -- for backends (array_api_strict) that refuse mixed kinds.

    Only the arrays handed to the forward are cast; the node keeps the original tensors, and the engine casts
    each adjoint back to its input's dtype (a float32 input gets a float32 gradient, as in NumPy/PyTorch).
    """
    common = b.result_type(*[a.dtype for a in arrays])
    return [b.astype(a, common) for a in arrays]


def _array_out(op, b, o):
    """A forward's output as an array of ``b`` (a NumPy scalar, what reductions return, becomes 0-d), or an error."""
    a = b.own(o)
    if a is not None:
        return a
    raise MatdiffError(f"op {op.name!r}: its forward returned a {type(o).__name__}; a forward must return an array "
                       f"of the inputs' backend ({b.name}) or a tuple of them")
