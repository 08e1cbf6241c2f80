"""Tensor: an array of a backend, plus what autodiff needs (``grad``, ``requires_grad``, the node that made it).

Operators route to registered ops by name (``@`` -> ``matmul``, ``+`` -> ``add``, ``A[:, :k]`` -> ``slice``,
``.mH`` -> ``adjoint`` ...), so everything a user writes lands on the tape as nodes of the registry.
"""
import numbers

import numpy as np

from . import backend as _backend
from .errors import DeviceError, DTypeError, MatdiffError, ShapeError
from .registry import REGISTRY, _apply
from .tape import Context, Node, _local


class Tensor:
    """A node value on the tape. Build one with :func:`matdiff.tensor`."""

    __slots__ = ("data", "grad", "requires_grad", "name", "node", "_b", "__weakref__")
    __array_ufunc__ = None      # NumPy arrays on the left of an operator defer to Tensor

    def __init__(self, data, b, requires_grad=False, name=None, node=None):
        self.data, self._b, self.requires_grad, self.name, self.node = data, b, requires_grad, name, node
        self.grad = None

    # -- metadata ----------------------------------------------------------------------------
    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    dtype = property(lambda self: self.data.dtype)
    device = property(lambda self: self._b.device)
    backend = property(lambda self: self._b)
    is_leaf = property(lambda self: self.node is None)

    def __repr__(self):
        op = self.node.op.name if self.node is not None else "leaf"
        parts = [f"shape={self.shape}", f"dtype={self._b.dtype_name(self.dtype)}", f"device={self.device}",
                 f"op={op}"]
        if self._b.name == "array_api_strict":
            parts.append("backend=array_api_strict")
        if self.requires_grad:
            parts.append("requires_grad=True")
        if self.name:
            parts.append(f"name={self.name!r}")
        head = f"Tensor({', '.join(parts)})"
        if int(np.prod(self.shape)) <= 16:
            body = np.array2string(self.numpy(), precision=4, suppress_small=True, separator=", ")
            head += "\n" + body
        return head

    # -- conversion ----------------------------------------------------------------------------
    def numpy(self):
        """A NumPy array of the data (copied to the host for GPU tensors)."""
        return self._b.to_host(self.data)

    def item(self):
        if int(np.prod(self.shape)) != 1:
            raise MatdiffError(f"item() needs a tensor with one element, this one has shape {self.shape}; reduce it "
                               "first (md.sum(T)) or index one entry (T[0, 0])")
        return self.numpy().reshape(()).item()

    def detach(self):
        """The same data as a new leaf that does not require grad."""
        return Tensor(self.data, self._b, False, self.name)

    def to(self, device):
        """This tensor's data on ``device`` ("cpu" or "gpu") as a new leaf (moving is not differentiated)."""
        target = _backend.for_device(device)
        if target is self._b:
            return self
        data = target.from_host(self._b.to_host(self.data))
        return Tensor(data, target, self.requires_grad, self.name)

    def backward(self, seed=None, *, retain_graph=False, trace=False):
        """Reverse sweep from this tensor. Without ``seed`` it must be a real scalar (as in PyTorch)."""
        from .autodiff import backward
        backward([self], None if seed is None else [seed], retain_graph=retain_graph, trace=trace)

    # -- operators -> registered ops -------------------------------------------------------------
    def __matmul__(self, other):
        return REGISTRY["matmul"](self, other)

    def __rmatmul__(self, other):
        return REGISTRY["matmul"](other, self)

    def __add__(self, other):
        return REGISTRY["add"](self, other)

    def __radd__(self, other):
        return REGISTRY["add"](other, self)

    def __sub__(self, other):
        return REGISTRY["sub"](self, other)

    def __rsub__(self, other):
        return REGISTRY["sub"](other, self)

    def __mul__(self, other):
        if isinstance(other, numbers.Number):
            return REGISTRY["scale"](self, s=other)
        return REGISTRY["mul"](self, other)

    def __rmul__(self, other):
        if isinstance(other, numbers.Number):
            return REGISTRY["scale"](self, s=other)
        return REGISTRY["mul"](other, self)

    def __truediv__(self, other):
        if not isinstance(other, numbers.Number):
            raise MatdiffError("a Tensor can only be divided by a scalar; for a matrix use md.solve_triangular (or build the solve from nodes)")
        return REGISTRY["scale"](self, s=1 / other)

    def __neg__(self):
        return REGISTRY["neg"](self)

    def __getitem__(self, key):
        return REGISTRY["slice"](self, key=key)

    def __len__(self):
        if not self.shape:
            raise MatdiffError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    T = property(lambda self: REGISTRY["transpose"](self), doc="Swap the last two axes.")
    mH = property(lambda self: REGISTRY["adjoint"](self), doc="Conjugate transpose of the last two axes.")
    real = property(lambda self: REGISTRY["real"](self), doc="Real part (a node).")

    def conj(self):
        return REGISTRY["conj"](self)

    def sum(self, axis=None):
        return REGISTRY["sum"](self, axis=axis)


def tensor(data, requires_grad=False, *, name=None, device=None, dtype=None):
    """Make a leaf Tensor from an array (NumPy, CuPy, array_api_strict), a list or a scalar.

    The device follows the array (NumPy -> "cpu", CuPy -> "gpu") unless ``device`` asks to move it.
    The array is not copied. Only float32/64 and complex64/128 data can require grad.
    """
    if isinstance(data, Tensor):
        data = data.data
    b = _backend.owner(data)
    if b is None:
        data, b = _host_array(data), _backend.get("numpy")
    if device is not None and _backend.for_device(device) is not b:
        target = _backend.for_device(device)
        data, b = target.from_host(b.to_host(data)), target
    if dtype is not None:
        data = b.astype(data, dtype)
    if requires_grad and not b.is_float(data.dtype):
        raise DTypeError(f"a tensor of dtype {b.dtype_name(data.dtype)} cannot require grad: only float32, "
                         "float64, complex64 and complex128 data are differentiable; convert it first "
                         "(e.g. md.tensor(x, dtype=np.float64, requires_grad=True))")
    return Tensor(data, b, bool(requires_grad), name)


def _host_array(data):
    """A list/scalar as a NumPy array of numbers, or a clear error (ragged lists, strings, objects)."""
    try:
        a = np.asarray(data)
    except ValueError as e:
        raise ShapeError(f"cannot make a tensor from this {type(data).__name__}: its rows have different lengths "
                         f"({e}); give a rectangular list or an array") from None
    if a.dtype.kind not in "biufc":
        raise DTypeError(f"cannot make a tensor of {a.dtype} data ({type(data).__name__}); matdiff holds numbers "
                         "only -- convert strings/objects with np.asarray(x, dtype=float) first")
    return a


def _as_tensor(x, b, like_dtype):
    """A constant input (array or Python scalar) as a Tensor of backend ``b``."""
    if isinstance(x, numbers.Number):
        dtype = like_dtype
        if isinstance(x, complex) and not b.is_complex(dtype):
            dtype = b.complex_dtype(dtype)
        return Tensor(b.asarray(x, dtype=dtype), b)
    xb = _backend.owner(x)
    if xb is None:
        return Tensor(b.asarray(_host_array(x)), b)
    if xb is not b:
        raise DeviceError(f"an array of backend {xb.name} ({xb.device}) cannot meet tensors of backend {b.name} "
                          f"({b.device}) in one op; move one with md.tensor(x, device=...) or .to(...)")
    return Tensor(x, b)


def _promoted(b, arrays):
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


def apply(op, inputs, params):
    """Run ``op`` on Tensors: check devices, call its forward on arrays, wrap outputs, record a node."""
    b = first = None
    mixed = False
    for x in inputs:
        if isinstance(x, Tensor):
            if b is None:
                b, first = x._b, x
            elif x._b is not b:
                raise DeviceError(f"{op.name} mixes a tensor on {b.device} ({b.name}) with one on {x.device} "
                                  f"({x._b.name}); move them to one device with .to('cpu') or .to('gpu')")
        else:
            mixed = True
    if b is None:                  # arrays only (md.solve_triangular(T, B) on NumPy arrays): the first array leads
        lead = next((x for x in inputs if not isinstance(x, numbers.Number)), None)
        if lead is None:
            raise MatdiffError(f"{op.name} needs at least one Tensor or array input (got "
                               f"{[type(x).__name__ for x in inputs]}); wrap the data with md.tensor(...)")
        first = tensor(lead)
        b = first._b
        inputs = [first if x is lead else x for x in inputs]
    if mixed:
        inputs = [x if isinstance(x, Tensor) else _as_tensor(x, b, first.data.dtype) for x in inputs]
    needs = tuple([t.requires_grad for t in inputs])
    record = True in needs and not _local.off
    ctx = Context(b, needs if record else ())
    arrays = [t.data for t in inputs]
    if len(arrays) > 1 and not b.promotes:
        arrays = _promoted(b, arrays)
    out = op.forward(ctx, *arrays, **params)
    multi = isinstance(out, tuple)
    if multi:
        out = tuple(o if type(o) is b.array_type else _array_out(op, b, o) for o in out)
    elif type(out) is not b.array_type:
        out = _array_out(op, b, out)
    outs = tuple(Tensor(o, b, record and b.is_float(o.dtype)) for o in out) if multi \
        else (Tensor(out, b, record and b.is_float(out.dtype)),)
    if record:
        node = Node(op, tuple(inputs), outs, ctx, params)
        for o in outs:
            o.node = node
    return outs if multi else outs[0]


_apply.append(apply)
