"""The registered ops and their functional spellings (``md.split(A, [2])``, ``md.concat([U, V])``...)."""
from ..registry import REGISTRY
from . import elementary, structural, decompositions, solve  # noqa: F401  (registers the ops)
from .decompositions import lq, qr  # noqa: F401


def matmul(A, B):
    """``A @ B`` on the last two axes, broadcasting leading axes."""
    return REGISTRY["matmul"](A, B)


def add(A, B):
    return REGISTRY["add"](A, B)


def sub(A, B):
    return REGISTRY["sub"](A, B)


def mul(A, B):
    """Elementwise product."""
    return REGISTRY["mul"](A, B)


def neg(A):
    return REGISTRY["neg"](A)


def scale(A, s):
    """``s * A`` for a Python scalar ``s`` (real or complex)."""
    return REGISTRY["scale"](A, s=s)


def sum(A, axis=None):  # noqa: A001 - the NumPy name on purpose
    """Sum of all entries, or over ``axis`` (an int or a tuple)."""
    return REGISTRY["sum"](A, axis=axis)


def transpose(A):
    """Swap the last two axes (``A.T``)."""
    return REGISTRY["transpose"](A)


def adjoint(A):
    """Conjugate transpose of the last two axes (``A.mH``)."""
    return REGISTRY["adjoint"](A)


def conj(A):
    return REGISTRY["conj"](A)


def real(A):
    """Real part; its adjoint is the real adjoint seen as complex."""
    return REGISTRY["real"](A)


def split(A, indices, axis=-1):
    """Cut ``A`` along ``axis`` at the points ``indices`` (a list, as ``np.split``) or into that many equal parts."""
    return REGISTRY["split"](A, indices=indices, axis=axis)


def concat(parts, axis=-1):
    """Join tensors along ``axis``: ``md.concat([U, V], axis=-1)`` is the paper's ``[U|V]``."""
    return REGISTRY["concat"](*parts, axis=axis)


def permute(A, perm, axis=-1):
    """Reorder columns (``axis=-1``: ``A[..., :, perm]``) or rows (``axis=-2``: ``A[..., perm, :]``)."""
    return REGISTRY["permute"](A, perm=perm, axis=axis)


def solve_triangular(T, B, lower=False):
    """``T^{-1} B`` for triangular ``T`` (upper unless ``lower``): ``x = md.solve_triangular(R, Q.mH @ b)``."""
    return REGISTRY["solve_triangular"](T, B, lower=lower)
