"""The backend contract on torch tensors, so matdiff's own rules run inside PyTorch autograd (``matdiff.torch``).

Every primitive is a torch op, so a rule run on this backend inside an ``autograd.Function.backward`` is recorded
by torch when it asks for ``create_graph=True``: double backward, ``torch.func`` and vmap need nothing more.
One instance per torch device (the contract's creators -- ``eye``, ``zeros`` -- take no device argument).
Nothing here converts to NumPy except the explicit host primitives (``to_host``, ``pivots``, the checks).
"""
import numpy as np
import torch

from .base import Backend

_INSTANCES = {}


def torch_backend(device):
    """The backend for one torch device (``torch.device`` or a string), created once."""
    device = torch.device(device)
    if device not in _INSTANCES:
        _INSTANCES[device] = TorchBackend(device)
    return _INSTANCES[device]


class TorchBackend(Backend):
    """torch tensors on one device; LAPACK/cuSOLVER QR and triangular solves from ``torch.linalg``."""

    name = "torch"
    promotes = True

    def __init__(self, device):
        super().__init__(torch, torch.Tensor)
        self._dev = torch.device(device)
        self.device = "cpu" if self._dev.type == "cpu" else "gpu"
        self.defers_checks = self._dev.type != "cpu"

    # -- creation, conversion, dtypes ---------------------------------------------------------------
    def asarray(self, x, dtype=None):
        return torch.as_tensor(x, dtype=dtype, device=self._dev)

    def zeros(self, shape, dtype):
        return torch.zeros(shape, dtype=dtype, device=self._dev)

    def ones(self, shape, dtype):
        return torch.ones(shape, dtype=dtype, device=self._dev)

    def eye(self, n, dtype):
        return torch.eye(n, dtype=dtype, device=self._dev)

    def from_host(self, a):
        return torch.as_tensor(np.asarray(a), device=self._dev)

    def to_host(self, a):
        return a.detach().resolve_conj().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)

    def own(self, x):
        return x if isinstance(x, torch.Tensor) else None          # nn.Parameter too

    def astype(self, a, dtype):
        return a if a.dtype == dtype else a.to(dtype)

    def result_type(self, *dtypes):
        return getattr(torch, np.result_type(*[self.dtype_name(d) for d in dtypes]).name)

    def eps(self, dtype):
        return float(torch.finfo(dtype).eps)

    # -- structure ------------------------------------------------------------------------------------
    def mT(self, a):
        return a.mT

    def mH(self, a):
        return a.mH

    def conj(self, a):
        return a.conj() if a.is_complex() else a

    def real(self, a):
        return a.real if a.is_complex() else a

    def diagonal(self, a):
        return torch.diagonal(a, dim1=-2, dim2=-1)

    def diag_embed(self, d):
        return torch.diag_embed(d)

    def tril(self, a, k=0):
        return torch.tril(a, diagonal=k)

    def triu(self, a, k=0):
        return torch.triu(a, diagonal=k)

    def where(self, cond, a, b):
        return torch.where(torch.as_tensor(cond, device=self._dev), a, b)

    def phase(self, d):
        """``d / |d|``, 1 at 0 (real: +-1 by copysign, two ops instead of four -- NumPy's ``fast_qr.phase`` too)."""
        if not d.is_complex():
            return torch.ones_like(d).copysign_(d)
        return torch.where(d == 0, torch.ones_like(d), torch.sgn(d))

    def amin(self, a):
        return torch.amin(a)

    def concat(self, arrays, axis):
        return torch.cat(list(arrays), dim=axis)

    def sum(self, a, axis=None, keepdims=False):
        return torch.sum(a) if axis is None else torch.sum(a, dim=axis, keepdim=keepdims)

    def _take_along_axis(self, a, idx, axis):
        return torch.take_along_dim(a, idx, dim=axis)

    def permute(self, a, perm, axis):
        return super().permute(a, torch.as_tensor(perm, device=a.device), axis)

    def argsort(self, a, axis=-1):
        return torch.argsort(a, dim=axis)

    # -- linear algebra -------------------------------------------------------------------------------
    def qr(self, A):
        return torch.linalg.qr(A, mode="reduced")

    def qr_complete(self, A):
        return torch.linalg.qr(A, mode="complete")

    def solve_triangular(self, T, B, *, lower, side="left", adjoint=False, overwrite=False):
        """``op(T)^{-1} B`` or ``B op(T)^{-1}`` by ``torch.linalg.solve_triangular`` (batch axes broadcast)."""
        if adjoint:
            T, lower = T.mH, not lower
        return torch.linalg.solve_triangular(T, B, upper=not lower, left=side == "left")

    def isfinite_all(self, *arrays):
        """No NaN or inf in any array, by one ``aminmax`` pass each (NaN propagates to both ends, +-inf reaches one):
        7x faster on the CPU than ``isfinite(a).all()`` (0.04 against 0.28 ms for 256x32x16, one thread)."""
        return all(_finite(a) for a in arrays)


def _finite(a):
    if a.numel() == 0 or not (a.is_floating_point() or a.is_complex()):
        return True
    lo, hi = torch.aminmax(torch.view_as_real(a.resolve_conj()) if a.is_complex() else a)
    return bool(torch.isfinite(lo) & torch.isfinite(hi))
