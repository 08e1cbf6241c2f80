"""The backend contract on torch tensors, so matdiff's own rules run inside PyTorch autograd (``matdiff.torch``).

Every primitive is a torch op, so a rule run on this backend inside an ``autograd.Function.backward`` is recorded
by torch when it asks for ``create_graph=True``: double backward, ``torch.func`` and vmap need nothing more.
One instance per torch device (the contract's creators -- ``eye``, ``zeros`` -- take no device argument).
Nothing here converts to NumPy except the explicit host primitives (``to_host``, ``pivots``, the checks, and
``positive_real``'s read of a CPU diagonal). The forward's QR is ``torch.linalg.qr``, or CholeskyQR2 in torch ops
where it ran faster -- tall float64 matrices on an Intel CPU -- and proves its result (:func:`cholesky_qr2`).
"""
import math
import platform

import numpy as np
import torch

from ..errors import MatdiffError
from .base import Backend
from .fast_qr import within_hypothesis

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
        self._masks = {}

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
        """A NumPy copy of ``a`` (also of a ``torch.func.grad`` wrapper's values, :func:`unwrapped`)."""
        h = host_array(a) if isinstance(a, torch.Tensor) else np.asarray(a)
        if h is None:
            raise MatdiffError("to_host: this tensor has no values to read here (it is traced by torch.compile or "
                               "is a torch.func.vmap batch); read it outside the transform")
        return h

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

    def hcopyltu(self, M):
        """One select of a cached boolean triangle -- M on and below the diagonal, ``M^H`` above (nothing above M's
        diagonal is read) -- and, for complex M, the diagonal's imaginary part zeroed in place on that new tensor:
        one or two torch ops where the generic form takes five (``tril``, ``+``, ``mH``, and a ``diag_embed`` of the
        diagonal's real part). Complex 300x300: 0.55 against 0.95 ms for ``(H + H^H) / 2`` (2 threads, 2026-12-03)."""
        H = torch.where(self._lower(M.shape[-1]), M, M.mH)
        if H.is_complex():
            H.diagonal(dim1=-2, dim2=-1).imag.zero_()    # H is the select's new tensor: Re diag(M) in place
        return H

    def _lower(self, k):
        """The k x k lower triangle (with the diagonal) as a boolean tensor on this device, cached -- but not while
        ``torch.compile`` traces, whose tensors are placeholders that must not outlive the trace."""
        if torch.compiler.is_compiling():
            return torch.ones(k, k, dtype=torch.bool, device=self._dev).tril()
        if k not in self._masks:
            self._masks[k] = torch.ones(k, k, dtype=torch.bool, device=self._dev).tril()
        return self._masks[k]

    def tril(self, a, k=0):
        return torch.tril(a, diagonal=k)

    def triu(self, a, k=0):
        return torch.triu(a, diagonal=k)

    def where(self, cond, a, b):
        return torch.where(torch.as_tensor(cond, device=self._dev), a, b)

    def positive_real(self, d):
        """Read on the CPU, where it costs a reduction of k entries and no synchronisation (CholeskyQR2's R is in the
        gauge already: the gauge then copies nothing); False on a device or under a trace (the gauge rotates), for a
        stack, whose factors are LAPACK's with its own signs (CholeskyQR2 runs on one matrix only), and wherever
        CholeskyQR2 never runs (:data:`_MKL_CHOLESKY_PAYS`): right after ``torch.linalg.qr`` this read took 73-102 us
        of a 500x200 forward's 2.9-3.3 ms on the AMD EPYC (2026-12-03), to find LAPACK's signs."""
        if not _MKL_CHOLESKY_PAYS or d.ndim != 1 or d.is_complex() or not _concrete(d):
            return False
        return bool((d.detach().numpy() > 0).all())      # a CPU tensor's view: NumPy reads it in place (3 us)

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
        """``torch.linalg.qr`` (LAPACK Householder; MKL on the CPU), or, for a concrete tall float64 CPU matrix
        (:func:`_cholesky_pays`), CholeskyQR2 where it proves its result (:func:`cholesky_qr2`)."""
        if _cholesky_pays(A):
            fast = cholesky_qr2(A)
            if fast is not None:
                return fast
        return torch.linalg.qr(A, mode="reduced")

    def qr_complete(self, A):
        return torch.linalg.qr(A, mode="complete")

    def solve_triangular(self, T, B, *, lower, side="left", adjoint=False, overwrite=False):
        """``op(T)^{-1} B`` or ``B op(T)^{-1}`` by ``torch.linalg.solve_triangular`` (batch axes broadcast).

        A real right solve on the CPU runs as the left solve of its transpose, ``X^T = op(T)^{-T} B^T``: ``B.mT`` of
        a row-major B is the column-major operand LAPACK's trsm takes as it is. QR's backward ``X R^{-H}`` took
        0.38x the time at 500x200, 0.82x for a 256x32x16 stack, 0.35x for 64x128x64, 0.98x at 1000x1000 (torch
        2.13, MKL, 2 threads, AMD EPYC, 2026-12-04); complex lost 1.04-1.17x that way (its conjugate is a copy) and
        left solves mixed (0.9-2.8x), so they stay as they are."""
        if adjoint:
            T, lower = T.mH, not lower
        if side == "right" and T.device.type == "cpu" and not (T.is_complex() or B.is_complex()):
            return torch.linalg.solve_triangular(T.mT, B.mT, upper=lower, left=True).mT
        return torch.linalg.solve_triangular(T, B, upper=not lower, left=side == "left")

    def tril_matmul(self, A, B, upper_a=False):
        """``A @ B``, or ``(B^H A^H)^H`` (the same numbers: a mirrored gemm) where that puts more operands in row-major
        order: torch writes a row-major product, and MKL ran the row-major x row-major one fastest -- ``R Rbar^H``
        of a 256x16x16 stack 172 against 87 us as ``Rbar R^H``, ``Qbar^H Q`` (256x32x16) 227 against 123 us as
        ``Q^H Qbar`` (2 threads, 2026-12-03). Real only: a complex flip would make conjugate views to resolve."""
        if not A.is_complex() and _row_major(B.mT) + _row_major(A.mT) > _row_major(A) + _row_major(B):
            return (B.mT @ A.mT).mT
        return A @ B

    def isfinite_all(self, *arrays):
        """No NaN or inf in any array: one ``sum`` each, whose result is finite only if every entry is (a NaN or an
        inf makes it NaN or inf); only a non-finite sum -- such an entry, or finite entries whose sum overflows --
        pays for the exact ``aminmax`` test (NaN propagates to both ends, +-inf reaches one). A 500x200 float64 check
        took 16 us by the sum, 54 us by aminmax alone, 250 us by ``isfinite(a).all()`` (CPU, 2 threads, 2026-12-03)."""
        return all(_finite(a) for a in arrays)


def _row_major(a):
    return a.stride(-1) == 1 and a.stride(-2) == a.shape[-1]


def _finite(a):
    if a.numel() == 0 or not (a.is_floating_point() or a.is_complex()):
        return True
    u = unwrapped(a)
    if u is None:               # no values to read (a trace): callers ask has_values first, as check_input does
        raise MatdiffError("isfinite_all: this tensor has no values to read here (torch.compile or a vmap batch)")
    with torch._C._DisableFuncTorch():               # the values under torch.func.grad too (see host_array)
        r = u.detach().resolve_conj()
        r = torch.view_as_real(r) if r.is_complex() else r
        if math.isfinite(float(r.sum())):
            return True
        lo, hi = torch.aminmax(r)
        return bool(torch.isfinite(lo) & torch.isfinite(hi))


def unwrapped(a):
    """The tensor holding ``a``'s values now: ``a`` itself, or under ``torch.func.grad``/``jacrev``/``jacfwd`` the
    tensor inside its gradient-tracking wrappers (the same shape and values); None where there are no values per
    matrix to read -- ``torch.compile`` traces, a ``vmap`` batch (its batch axis is hidden), a functionalised or meta
    tensor. 2 us, where reading one entry to find out took 15."""
    if torch.compiler.is_compiling() or a.device.type == "meta":
        return None
    functorch = torch._C._functorch
    while functorch.is_functorch_wrapped_tensor(a):
        if not functorch.is_gradtrackingtensor(a):
            return None
        a = functorch.get_unwrapped(a)
    return a


def has_values(a):
    """Whether ``a``'s values can be read now (:func:`unwrapped`)."""
    return unwrapped(a) is not None


def host_array(a):
    """``a``'s values as a NumPy array (a view where torch allows), or None (:func:`unwrapped`). The read runs with
    functorch's dispatch off: inside a ``torch.func.grad`` the unwrapped tensor is plain, but torch still refuses its
    storage to NumPy while the transform's layer is active."""
    u = unwrapped(a)
    if u is None:
        return None
    with torch._C._DisableFuncTorch():
        return u.detach().resolve_conj().cpu().numpy()


def _concrete(a):
    """A plain CPU tensor with values to read now: :func:`unwrapped` is ``a`` itself, no ``torch.func`` wrapper of
    any kind (the fast paths' host reads run inside the Function's forward on plain tensors only)."""
    return a.device.type == "cpu" and unwrapped(a) is a


def _cholesky_pays(A):
    """Where CholeskyQR2 ran faster than ``torch.linalg.qr`` (MKL, 2 threads, in one process, interleaved, 2026-12-03),
    on an Intel CPU only (:data:`_MKL_CHOLESKY_PAYS`): one float64 CPU matrix with ``m >= 2n`` and ``m n >= 1e5`` --
    on the Intel Xeon 500x200 0.82-0.85x, 1000x100 0.47x, 1000x300 0.36x, 2000x500 0.79x, 4000x64 0.45x; below that
    size it lost (256x128 1.11x, 400x150 1.08x), and complex (500x200 1.21x), squarer shapes (300x300 1.24x) and
    stacks (256x32x16 0.98x, complex 1000x8x4 2.2x) gain nothing."""
    if not _MKL_CHOLESKY_PAYS or A.ndim != 2 or A.dtype != torch.float64 or not _concrete(A):
        return False
    m, n = A.shape
    return m >= 2 * n and m * n >= 100_000


def _genuine_intel():
    """Whether this is an Intel CPU (``vendor_id`` of /proc/cpuinfo; elsewhere ``platform.processor()``)."""
    try:
        with open("/proc/cpuinfo") as f:
            return "GenuineIntel" in f.read(1 << 12)
    except OSError:
        return "Intel" in platform.processor()


#: Whether torch's CholeskyQR2 pays at all here. On an AMD EPYC the same shapes took 0.84-1.29x torch.linalg.qr's
#: time -- 500x200 1.28, 1000x200 1.29, 2000x500 1.19, 1000x300 1.17, 3000x300 1.22, 1000x100 0.84, 4000x64 0.89
#: (per-pair medians, in one process, interleaved, 2 threads, 2026-12-03) -- with no aspect ratio that reliably won:
#: MKL's syrk and trsm take slower code paths on a CPU that is not Intel's, its geqrf less so.
_MKL_CHOLESKY_PAYS = _genuine_intel()


def cholesky_qr2(A):
    """``(Q, R)`` of a 2-D real float64 torch tensor (m >= n) by CholeskyQR2, with the a-posteriori proof of NumPy's
    :func:`matdiff.backend.fast_qr.cholesky_qr2` (its docstring states the bounds and the analysis); None where the
    proof fails -- potrf refuses (a zero column, rank deficiency, cond(A) >~ 1e8, an overflow), a NaN or an inf,
    ``||Q1^H Q1 - I||_F > 1/2`` -- and the caller runs Householder. R's diagonal is positive (matdiff's gauge).
    Both passes solve with ``torch.linalg.solve_triangular`` (trsm, backward stable); one host read decides."""
    m, n = A.shape
    if m < n or not within_hypothesis(m, n, torch.finfo(A.dtype).eps / 2):
        return None
    R1, info1 = torch.linalg.cholesky_ex(A.mT @ A, upper=True)
    Q1 = torch.linalg.solve_triangular(R1, A, upper=True, left=False)                # A R1^{-1}
    G2 = Q1.mT @ Q1
    diag = G2.diagonal()
    diag -= 1
    delta = torch.linalg.matrix_norm(G2)                                               # ||Q1^H Q1 - I||_F
    diag += 1
    R2, info2 = torch.linalg.cholesky_ex(G2, upper=True)
    if not bool((delta <= 0.5) & (info1 == 0) & (info2 == 0)):                      # a NaN fails too
        return None
    return torch.linalg.solve_triangular(R2, Q1, upper=True, left=False), R2 @ R1     # Q1 R2^{-1}, R2 R1
