"""CuPy on the GPU: cuSOLVER QR through cupy.linalg, cuBLAS triangular solves through cupyx.scipy.linalg."""
import math
import os

from . import cuda_qr
from .base import Backend
from .householder import householder_qr

_STACK, _SMALL = 16, 128     # a stack of at least this many matrices, none with a side above this


def qr_path(shape, choice=""):
    """Which QR a CuPy stack of ``shape`` gets: "cusolver" (one matrix, large matrices, or MATDIFF_CUDA_QR=cusolver),
    "vectorized" (the array-API batched Householder the CPU tests check against LAPACK: the default for stacks of
    small matrices) or "kernel" (the same algorithm as one CUDA kernel; opt-in with MATDIFF_CUDA_QR=kernel)."""
    count = math.prod(shape[:-2]) if len(shape) > 2 else 1
    if choice == "cusolver" or count < _STACK or max(shape[-2:]) > _SMALL:
        return "cusolver"
    return "kernel" if choice == "kernel" else "vectorized"


class CuPyBackend(Backend):
    """CuPy arrays on the GPU; cuSOLVER through cupy.linalg and cupyx.scipy.linalg."""

    name = "cupy"
    device = "gpu"

    def __init__(self):
        import cupy

        super().__init__(cupy, cupy.ndarray)

    def to_host(self, a):
        return self.xp.asnumpy(a)

    def mT(self, a):
        return a.swapaxes(-1, -2)

    def diagonal(self, a):
        return self.xp.diagonal(a, axis1=-2, axis2=-1)

    def qr(self, A):
        """cuSOLVER for one matrix or large ones; a stack of small matrices without a loop over them (see
        :func:`qr_path`): cupy.linalg.qr factors a stack one matrix at a time (~600 ms for 4096 x 64x32)."""
        path = qr_path(A.shape, os.environ.get("MATDIFF_CUDA_QR", ""))
        if path == "kernel" and cuda_qr.fits(A.shape[-2], A.shape[-1], A.dtype.itemsize,
                                             self.xp.empty((), A.dtype).real.dtype.itemsize):
            return cuda_qr.qr(self.xp, A)
        if path in ("kernel", "vectorized"):
            return householder_qr(self, A)
        return self.xp.linalg.qr(A, mode="reduced")

    def solve_triangular(self, T, B, *, lower, side="left", adjoint=False, overwrite=False):
        from cupyx.scipy.linalg import solve_triangular

        if T.ndim == 2 and B.ndim == 2:
            if side == "left":
                return solve_triangular(T, B, lower=lower, trans="C" if adjoint else "N")
            Tc = self.xp.conj(T) if adjoint else T
            return solve_triangular(Tc, B.T, lower=lower, trans="N" if adjoint else "T").T
        if T.ndim == 2:   # one T for a whole stack: fold the stack into columns (one cuBLAS trsm)
            if side == "right":
                Tc = self.xp.conj(T) if adjoint else T
                k = B.shape[-1]
                return solve_triangular(Tc, B.reshape(-1, k).T, lower=lower,
                                        trans="N" if adjoint else "T").T.reshape(B.shape)
            k = B.shape[-2]
            Bt = self.xp.moveaxis(B, -2, 0).reshape(k, -1)
            X = solve_triangular(T, Bt, lower=lower, trans="C" if adjoint else "N")
            return self.xp.moveaxis(X.reshape((k,) + B.shape[:-2] + B.shape[-1:]), 0, -2)
        return super().solve_triangular(T, B, lower=lower, side=side, adjoint=adjoint)  # batched LU solve
