"""Tensor: an array of a backend, plus what autodiff needs (``grad``, ``requires_grad``, the node that made it).

Its operators are ops (``@`` -> ``matmul``, ``+`` -> ``add``, ``A[:, :k]`` -> ``slice``, ``.mH`` -> ``adjoint`` ...),
bound by the ops layer that defines them, so everything a user writes lands on the tape as nodes.
NumPy: ``np.asarray(T)`` is T's data (not recorded); NumPy functions either dispatch to the matdiff op of the
same meaning (``np.matmul``, ``np.add``, ``np.sum``, ``np.linalg.qr``...) or raise a MatdiffError naming the fix.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import backend as _backend
from .errors import DTypeError, MatdiffError, ShapeError


class Tensor:
    """A node value on the tape. Build one with :func:`matdiff.tensor`."""

    __slots__ = ("data", "grad", "requires_grad", "name", "node", "_b", "__weakref__")

    def __init__(self, data, b, requires_grad=False, name=None, node=None):
        self.data = data
        self._b = b
        self.requires_grad = requires_grad
        self.name = name
        self.node = node
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
    def numpy(self) -> np.ndarray:
        """A NumPy array of the data (copied to the host for GPU tensors)."""
        return self._b.to_host(self.data)

    def item(self) -> float | complex:
        if int(np.prod(self.shape)) != 1:
            raise MatdiffError(f"item() needs a tensor with one element, this one has shape {self.shape}; reduce it "
                               "first (md.sum(T)) or index one entry (T[0, 0])")
        return self.numpy().reshape(()).item()

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

    def backward(self, seed: Any = None, *, retain_graph: bool | None = None, create_graph: bool = False,
                 trace: bool = False) -> None:
        """Reverse sweep from this tensor; every leaf (and intermediate) that requires grad gets ``.grad``.

        Without ``seed`` the tensor must be a real scalar (as in PyTorch); ``seed`` is its adjoint otherwise.
        ``retain_graph=True`` keeps the saved values for a second backward. ``create_graph=True`` records the
        backward pass as nodes, so ``.grad`` holds Tensors that can be differentiated again. ``trace=True`` prints
        each node as the sweep visits it: its op, the equation, the adjoints coming in and going out (values for
        small matrices, shape and norm for large ones) -- backward, watched step by step.
        """
        from .autodiff import backward  # the sweeps sit above the tensor layer
        backward([self], None if seed is None else [seed], retain_graph=retain_graph, create_graph=create_graph,
                 trace=trace)

    # -- operators: A @ B, A + B, A[...], A.T ... are the ops of matdiff/ops, bound there (ops/__init__.py) ----
    def __len__(self):
        if not self.shape:
            raise MatdiffError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    # -- NumPy interop ---------------------------------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        """``np.asarray(T)``: the data, outside the graph (nothing is recorded). A GPU tensor refuses: say
        ``T.numpy()`` to copy it to the host on purpose."""
        if self._b.device != "cpu":
            raise MatdiffError(f"np.asarray of a tensor on {self.device} would copy it to the host silently; call "
                               "T.numpy() to copy it on purpose")
        a = self.numpy()
        if dtype is not None:
            a = a.astype(dtype, copy=False)
        return a.copy() if copy else a

    def __abs__(self):
        raise MatdiffError("abs(T): matdiff has no abs node (|z| is not differentiable at 0); for a size use "
                           "md.sum(md.real(T * T.conj())), or abs(T.numpy()) for the values")

    def __pow__(self, p):
        raise MatdiffError(f"T ** {p!r}: matdiff has no power node; write the product out -- T * T (entrywise) or "
                           "T @ T (matrix) -- so each factor is a node of the graph")

    __rpow__ = __pow__

def tensor(data: Any, requires_grad: bool = False, *, name: str | None = None, device: str | None = None,
           dtype: Any = None) -> Tensor:
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


