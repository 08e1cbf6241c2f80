"""NumPy functions applied to Tensors: the ones with a matdiff op of the same meaning dispatch to it (and are
recorded); every other raises a MatdiffError that names the fix. ``np.asarray(T)`` (``Tensor.__array__``) is the
data, outside the graph.

NumPy calls ``Tensor.__array_ufunc__`` for ufuncs (``np.add``, ``ndarray + Tensor``) and
``Tensor.__array_function__`` for the rest (``np.sum``, ``np.linalg.qr``, ``np.allclose``).
"""
import numpy as np

from ..errors import MatdiffError
from . import elementary, structural
from .qr import qr as _qr

_UFUNCS = {np.add: elementary.add_op, np.subtract: elementary.sub_op, np.multiply: elementary.times,
           np.matmul: elementary.matmul_op, np.negative: elementary.neg_op, np.conjugate: elementary.conj_op,
           np.divide: elementary.divide_op}

_FUNCTIONS = {
    np.sum: lambda a, axis=None: elementary.sum_op(a, axis=axis),
    np.real: lambda a: elementary.real_op(a),
    np.conj: lambda a: elementary.conj_op(a),
    np.matrix_transpose: lambda a: elementary.transpose_op(a),
    np.concatenate: lambda arrays, axis=0: structural.concat_op(*arrays, axis=axis),
    np.split: lambda a, indices_or_sections, axis=0: structural.split_op(a, indices=indices_or_sections, axis=axis),
    np.linalg.qr: lambda a, mode="reduced": _qr(a, mode=mode),
}


def _refuse(what):
    return MatdiffError(f"{what} does not take Tensors: matdiff records only its own ops. For the values, give it "
                        "the data -- T.numpy() (or np.asarray(T) on the CPU); for a differentiable result, use the "
                        "matdiff op (md.matmul, md.sum, md.qr, md.concat ...)")


def array_ufunc(self, ufunc, method, *inputs, **kwargs):
    op = _UFUNCS.get(ufunc)
    if op is None or method != "__call__" or kwargs:
        raise _refuse(f"np.{ufunc.__name__}" + (f".{method}" if method != "__call__" else "")
                      + (f" with {', '.join(kwargs)}=" if kwargs else ""))
    return op(*inputs)


def array_function(self, func, types, args, kwargs):
    fn = _FUNCTIONS.get(func)
    name = f"np.{'linalg.' if 'linalg' in getattr(func, '__module__', '') else ''}{func.__name__}"
    if fn is None:
        raise _refuse(name)
    try:
        return fn(*args, **kwargs)
    except TypeError:
        raise _refuse(f"{name} with these arguments ({', '.join(kwargs) or 'positional'})") from None
