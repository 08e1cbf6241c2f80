"""Tensor: an array of a backend, plus what autodiff needs (``grad``, ``requires_grad``, the node that made it).

Its operators are ops (``@`` -> ``matmul``, ``+`` -> ``add``, ``A[:, :k]`` -> ``slice``, ``.mH`` -> ``adjoint`` ...),
so everything a user writes lands on the tape as nodes. The class holds the state, the metadata and the conversions;
everything else a user calls on a Tensor -- operators, ``.T``, ``.mH``, ``reshape``, ``backward``, ``float(T)``,
``==``, NumPy's protocols -- is bound in one table, ``SURFACE`` in ``matdiff/autodiff.py`` (the lowest layer that
sees the ops and the sweeps).
NumPy: ``np.asarray(T)`` is T's data (not recorded); NumPy functions either dispatch to the matdiff op of the
same meaning (``np.matmul``, ``np.add``, ``np.sum``, ``np.linalg.qr``...) or raise a MatdiffError naming the fix.
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .. import backend as _backend
from ..errors import ConversionError, DTypeError, MatdiffError, ShapeError
from . import show
from . import tape as _tape


class Tensor:
    """A node value on the tape. Build one with :func:`matdiff.engine.tensor`.

    ``grad``: None until a backward reaches the tensor, then an array of its backend, shape and dtype (a Tensor
    after ``create_graph=True``). A leaf's ``grad`` *accumulates* over backward calls, as in PyTorch (two
    ``loss.backward()`` give twice the gradient); reset it with ``T.grad = None`` before the next one. An
    intermediate that requires grad holds the adjoint of the latest backward only.

    ``data``: the array -- a leaf's stays the user's and writable, an op output's is read-only; a saved value
    changed after the forward makes backward raise instead of giving a wrong gradient (``Tensor.data``).
    """

    __slots__ = ("_data", "grad", "requires_grad", "name", "node", "_b", "__weakref__")

    def __init__(self, data, b, requires_grad=False, name=None, node=None):
        self._data = data
        self._b = b
        self.requires_grad = requires_grad
        self.name = name
        self.node = node
        self.grad = None

    def _get_data(self):
        return self._data if self.node is None else _tape.exposed(self)

    def _set_data(self, value):
        self._data = value
        _tape.note_write(self)

    data = property(_get_data, _set_data, doc="""The array. A leaf's is the one given to ``md.tensor`` (not copied)
        and stays writable; an op output's is read-only, since the nodes that saved it need it unchanged (a write
        raises NumPy's "assignment destination is read-only": copy it first, ``T.numpy().copy()``). Changing a
        leaf's data -- ``T.data = X``, ``T.data *= 2``, ``T.data[0, 0] += 5`` -- is fine between a backward and
        the next forward; after a forward that used it, backward (and jvp) raise a GraphError: re-run the
        forward.""")

    # -- metadata ----------------------------------------------------------------------------
    shape = property(lambda self: self._data.shape)
    ndim = property(lambda self: self._data.ndim)
    dtype = property(lambda self: self._data.dtype)
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
        if int(np.prod(self.shape)) <= show.SMALL:
            head += "\n" + show.text(self.numpy(), separator=", ")
        return head

    # -- conversion ----------------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """A NumPy array of the data (copied to the host for GPU tensors)."""
        return self._b.to_host(self.data)

    def item(self) -> float | complex:
        """The one entry of a one-element tensor as a Python number (``loss.item()``); copies from a GPU."""
        if int(np.prod(self.shape)) != 1:
            raise MatdiffError(_one_element("item()", self))
        return self.numpy().reshape(()).item()

    def _number(self, what):
        if int(np.prod(self.shape)) != 1:
            raise ConversionError(_one_element(what, self))
        return self.numpy().reshape(()).item()

    __hash__ = object.__hash__     # by identity, as the engine's dicts of adjoints and tangents need (``equals``)

    def named(self, name: str) -> Tensor:
        """Give this tensor a name (for printed tapes and drawings) and return it: ``V = (Q.mH @ Y).named("V")``."""
        self.name = name
        return self

    def detach(self) -> Tensor:
        """The same data as a new leaf that does not require grad."""
        return Tensor(self.data, self._b, False, self.name)

    def to(self, device: str) -> Tensor:
        """This tensor's data on ``device`` ("cpu" or "gpu") as a leaf -- always a leaf (moving is not
        differentiated): ``self`` if it already is a leaf on that device, else a new leaf with the same
        ``requires_grad`` and name."""
        target = _backend.for_device(device)
        if target is self._b and self.node is None:
            return self
        data = self.data if target is self._b else target.from_host(self._b.to_host(self.data))
        return Tensor(data, target, self.requires_grad, self.name)


# -- what Python and NumPy call on a Tensor: defined here, bound with the rest of Tensor's surface in one table
# (``matdiff/autodiff.py``, ``SURFACE``). float(T), complex(T), int(T) are T.item(); truth values and orderings
# refuse; ``==`` is identity; ``np.asarray(T)`` is the data.
def as_float(T):
    """``float(loss)``: ``loss.item()`` as a float; a complex entry must have a zero imaginary part."""
    v = T._number("float()")
    if isinstance(v, complex):
        if v.imag != 0:
            raise DTypeError(f"float() of a complex tensor whose entry {v} has a nonzero imaginary part would drop "
                             "it; take the part you mean first (md.real(T), or complex(T) / T.item())")
        v = v.real
    return float(v)


def as_complex(T):
    """``complex(T)``: ``T.item()`` as a complex number."""
    return complex(T._number("complex()"))


def as_int(T):
    """``int(T)``: the one entry truncated towards zero, as ``int(T.item())`` (a complex one needs imag 0)."""
    v = T._number("int()")
    return int(v) if isinstance(v, int) else int(as_float(T))      # int(bool) too: 1, not True


def refuses(what):
    """The method for a truth value or an ordering (``what`` as the user wrote it): a ConversionError."""
    def refuse(T, *other):
        raise ConversionError(_truth(what, T))
    return refuse


def equals(T, other):
    """``T == U`` for two Tensors is identity (``T is U``): the engine keys dicts and sets by tensor, as Python
    objects; ``T == 1`` or ``T == array`` refuses (it is not elementwise here) -- compare ``T.item()`` or
    ``T.numpy()``. Anything else (``T == None``) is not equal."""
    if isinstance(other, Tensor):
        return T is other
    if isinstance(other, numbers.Number) or hasattr(other, "__array_namespace__") or hasattr(other, "shape"):
        raise ConversionError(_truth("T == x", T))
    return NotImplemented


def not_equals(T, other):
    eq = equals(T, other)
    return eq if eq is NotImplemented else not eq


def length(T):
    if not T.shape:
        raise MatdiffError("len() of a 0-d tensor")
    return T.shape[0]


def rows(T):
    return (T[i] for i in range(length(T)))


def as_array(T, dtype=None, copy=None):
    """``np.asarray(T)``: the data, outside the graph (nothing is recorded). A GPU tensor refuses: say
    ``T.numpy()`` to copy it to the host on purpose."""
    if T._b.device != "cpu":
        raise MatdiffError(f"np.asarray of a tensor on {T.device} would copy it to the host silently; call "
                           "T.numpy() to copy it on purpose")
    a = T.numpy()
    if dtype is not None:
        a = a.astype(dtype, copy=False)
    return a.copy() if copy else a


def no_abs(T):
    raise MatdiffError("abs(T): matdiff has no abs node (|z| is not differentiable at 0); for a size use "
                       "md.sum(md.real(T * T.conj())), or abs(T.numpy()) for the values")


def no_power(T, p):
    raise MatdiffError(f"T ** {p!r}: matdiff has no power node; write the product out -- T * T (entrywise) or "
                       "T @ T (matrix) -- so each factor is a node of the graph")


def _one_element(what, T):
    return (f"{what} needs a tensor with one element, this one has shape {T.shape}; reduce it first (md.sum(T)) or "
            "index one entry (T[0, 0]); T.numpy() gives all the values")


def _truth(what, T):
    """Why ``what`` (a truth value or an ordering of a Tensor) refuses, and what to write instead."""
    return (f"{what}: a Tensor (shape {T.shape}) has no truth value or order in matdiff -- comparisons are not nodes "
            "and have no gradient. Compare its values: T.item() for one element (float(T) < 1, `if loss.item() < "
            "tol:`), T.numpy() for an array (np.all(T.numpy() > 0))")


def tensor(data: Any, requires_grad: bool = False, *, name: str | None = None, device: str | None = None,
           dtype: Any = None) -> Tensor:
    """Make a leaf Tensor from an array (NumPy, CuPy, array_api_strict), a list or a scalar.

    The device follows the array (NumPy -> "cpu", CuPy -> "gpu") unless ``device`` asks to move it.
    The array is not copied: it stays yours and writable, and a change to it is seen -- but once a forward has used
    the tensor, backward and jvp refuse (a GraphError: re-run the forward after changing it); ``md.tensor(x.copy())``
    keeps a graph apart from later writes to ``x``. (An op's output, by contrast, is read-only: see ``Tensor.data``.)
    Only float32/64 and complex64/128 data can require grad.
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


