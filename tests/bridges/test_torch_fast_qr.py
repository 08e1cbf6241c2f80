"""matdiff.torch's fast forward (matdiff/backend/torch_backend.py): CholeskyQR2 in torch ops for a concrete tall
float64 CPU matrix, proved a posteriori as NumPy's (matdiff/backend/fast_qr.py) -- it equals LAPACK Householder to
round-off x condition where it proves its result, declines on inputs built to defeat it (cond 1e10..1e15, zero or
repeated columns, rank deficiency, NaN, inf, overflow) so the backend gives torch.linalg.qr's answer, and never runs
where the values are not concrete (vmap, compile). Bounds (docs/performance.md): ||Q^T Q - I||_F <= 6 (mn + n(n+1)) u,
||A - QR||_F <= 5 n^2 sqrt(n) u ||A||_2. And the host-side checks it leans on: positive_real, the finiteness sum."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import matdiff.torch as mt  # noqa: E402
from matdiff.backend import torch_backend as tbm  # noqa: E402
from matdiff.testing import svd_conditioned  # noqa: E402

TB = tbm.torch_backend("cpu")
U = 2.0 ** -53
SHAPE = (500, 200)          # m >= 2n, m n >= 1e5: where the fast path runs


@pytest.fixture(autouse=True)
def fast_path_on(monkeypatch):
    """The path's own tests run wherever they run: on a CPU that is not Intel's the dispatch never takes it
    (``_MKL_CHOLESKY_PAYS``, measured slower there) -- :func:`test_off_intel_the_dispatch_takes_torchs_qr` pins that."""
    monkeypatch.setattr(tbm, "_MKL_CHOLESKY_PAYS", True)


def bounds_hold(A, Q, R):
    m, n = A.shape
    orth = torch.linalg.matrix_norm(Q.mT @ Q - torch.eye(n, dtype=A.dtype))
    res = torch.linalg.matrix_norm(A - Q @ R)
    return orth <= 6 * (m * n + n * (n + 1)) * U and res <= 5 * n ** 2.5 * U * torch.linalg.matrix_norm(A, 2)


def gauged(Q, R):
    D = torch.ones_like(R.diagonal()).copysign_(R.diagonal())
    return Q * D, R * D[:, None]


@pytest.mark.parametrize("cond", [1, 1e3, 1e6])
def test_cholesky_qr2_equals_householder(cond):
    A = torch.as_tensor(svd_conditioned((), *SHAPE, cond=cond, seed=int(np.log10(cond))))
    A0 = A.clone()
    Q, R = tbm.cholesky_qr2(A)
    assert torch.equal(A, A0), "the input was modified"
    assert Q.shape == SHAPE and R.shape == (200, 200) and Q.dtype == R.dtype == torch.float64
    assert bool((R.diagonal() > 0).all()) and not R.tril(-1).any(), "R is not upper triangular in matdiff's gauge"
    assert bounds_hold(A, Q, R)
    Qh, Rh = gauged(*torch.linalg.qr(A))
    tol = 100 * 500 * U * cond
    assert torch.linalg.matrix_norm(Q - Qh) <= tol * 200 ** 0.5
    assert torch.linalg.matrix_norm(R - Rh) <= tol * torch.linalg.matrix_norm(A)


def _defeat(defect):
    A = torch.as_tensor(np.random.default_rng(4).standard_normal(SHAPE))
    if defect.startswith("cond"):
        return torch.as_tensor(svd_conditioned((), *SHAPE, cond=float(defect[5:]), seed=1))
    if defect == "zero column":
        A[:, 7] = 0
    elif defect == "repeated column":
        A[:, 9] = A[:, 2]
    elif defect == "rank 30":
        A = A[:, :30] @ A[:30, :]
    elif defect in ("nan", "inf"):
        A[5, 5] = float(defect)
    else:
        A = A * 1e160                       # A^T A overflows
    return A


@pytest.mark.parametrize("defect", ["cond 2e8", "cond 1e10", "cond 1e15", "zero column", "repeated column", "rank 30",
                                    "nan", "inf", "huge"])
def test_fast_path_declines_and_the_backend_gives_householders_answer(defect):
    """cond 2e8: the first Cholesky factorisation succeeds, but ||Q1^T Q1 - I||_F ~ 1-2 > 1/2 -- only the
    orthogonality test of the proof declines it; beyond, potrf refuses."""
    A = _defeat(defect)
    if defect == "cond 2e8":
        assert int(torch.linalg.cholesky_ex(A.mT @ A).info) == 0
    assert tbm._cholesky_pays(A)
    assert tbm.cholesky_qr2(A) is None, f"CholeskyQR2 accepted {defect}"
    Q, R = TB.qr(A)
    Qh, Rh = torch.linalg.qr(A)
    torch.testing.assert_close(Q, Qh, rtol=0, atol=0, equal_nan=True)        # bit for bit (NaN where it is NaN)
    torch.testing.assert_close(R, Rh, rtol=0, atol=0, equal_nan=True)


def test_which_path_each_input_takes():
    A = torch.randn(SHAPE, dtype=torch.float64)
    assert tbm._cholesky_pays(A) and tbm._cholesky_pays(torch.randn(1000, 100, dtype=torch.float64))
    for other in (A.to(torch.complex128), A.float(), A[:300, :180], A[:256, :128], A.reshape(2, 250, 200)):
        assert not tbm._cholesky_pays(other), tuple(other.shape)
    Q, R = TB.qr(A)                         # taken: the factors are CholeskyQR2's, bit for bit
    Qc, Rc = tbm.cholesky_qr2(A)
    assert torch.equal(Q, Qc) and torch.equal(R, Rc)
    assert TB.positive_real(R.diagonal())   # ... already in the gauge, so the node's gauge copies nothing
    Q2, R2 = mt.qr(A)
    assert torch.equal(Q2, Q) and torch.equal(R2, R)
    wide = torch.randn(200, 500, dtype=torch.float64)      # LQ of a wide A is the QR of A^T: the same path
    L, Ql = mt.lq(wide)
    torch.testing.assert_close(L, tbm.cholesky_qr2(wide.mT)[1].mT, rtol=0, atol=1e-13)


def test_off_intel_the_dispatch_takes_torchs_qr(monkeypatch):
    monkeypatch.setattr(tbm, "_MKL_CHOLESKY_PAYS", False)
    A = torch.randn(SHAPE, dtype=torch.float64)
    assert not tbm._cholesky_pays(A)
    assert not TB.positive_real(torch.tensor([1.0, 2.0], dtype=torch.float64))    # no factors are in the gauge: no read
    Q, R = mt.qr(A)
    Qh, Rh = gauged(*torch.linalg.qr(A))
    torch.testing.assert_close(Q, Qh, rtol=0, atol=0)            # torch's factors in the gauge, bit for bit
    torch.testing.assert_close(R, Rh, rtol=0, atol=0)


def test_vmap_and_compile_take_householder_and_agree():
    """Under vmap the per-matrix A is a functorch wrapper and under torch.compile a trace: no values to prove the
    fast path with, so both take torch.linalg.qr -- and the gauge makes the answers agree with the eager ones."""
    B = torch.randn((2,) + SHAPE, dtype=torch.float64)
    seen = []
    real = tbm._cholesky_pays
    per = torch.func.vmap(lambda a: seen.append(real(a)) or mt.qr(a).R)(B)
    assert seen == [False]
    for i in range(2):
        torch.testing.assert_close(per[i], mt.qr(B[i]).R, rtol=0, atol=1e-12)
    f = torch.compile(lambda a: mt.qr(a).R, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(f(B[0]), mt.qr(B[0]).R, rtol=0, atol=1e-12)


def test_gradient_through_the_fast_forward_equals_torchs_own_rule():
    A = torch.randn(SHAPE, dtype=torch.float64, requires_grad=True)
    GQ, GR = torch.randn(SHAPE, dtype=torch.float64), torch.randn(200, 200, dtype=torch.float64)
    Q, R = mt.qr(A)
    (g,) = torch.autograd.grad([Q, R], [A], [GQ, GR])
    A2 = A.detach().clone().requires_grad_()
    Qh, Rh = torch.linalg.qr(A2)
    D = torch.ones_like(Rh.diagonal()).copysign_(Rh.diagonal()).detach()
    (gh,) = torch.autograd.grad([Qh * D, Rh * D[:, None]], [A2], [GQ, GR])     # torch's own rule, in our gauge
    torch.testing.assert_close(g, gh, rtol=0, atol=1e-10)


def test_positive_real_reads_cpu_values_only():
    d = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    assert TB.positive_real(d) and not TB.positive_real(-d) and not TB.positive_real(torch.tensor([1.0, 0.0]))
    assert not TB.positive_real(torch.tensor([1.0, float("nan")])) and not TB.positive_real(d.to(torch.complex128))
    assert torch.func.vmap(lambda x: torch.tensor(TB.positive_real(x)))(d[None]).tolist() == [False]
    assert not TB.positive_real(d.expand(2, 3))      # a stack: LAPACK's signs, rotated without a look


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128, torch.float32])
def test_finiteness_by_a_sum_survives_an_overflowing_sum(dtype):
    big = torch.finfo(torch.float32 if dtype == torch.float32 else torch.float64).max / 2
    A = torch.full((4, 5), big, dtype=dtype)        # every entry finite, the sum inf: the exact test decides
    assert TB.isfinite_all(A) and TB.isfinite_all(-A)
    A[1, 2] = float("inf")
    assert not TB.isfinite_all(A)
    if dtype.is_complex:
        B = torch.ones(3, 3, dtype=dtype)
        B[0, 1] = complex(0, float("nan"))
        assert not TB.isfinite_all(B)


@pytest.mark.parametrize("shape", [(500, 200), (300, 300), (8, 4), (4, 8), (256, 32, 16), (3, 16, 32)], ids=str)
def test_the_in_place_gauge_writes_only_the_factors(shape):
    """The gauge rotates the factorisation's new tensors in place: the input (a leaf that requires grad, or not)
    keeps its values and version, and the factors share no storage with it (CholeskyQR2, LAPACK, wide, stacks)."""
    a = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    for A in (a.clone(), a.clone().requires_grad_()):
        version = A._version
        for F in (*mt.qr(A), *mt.lq(A)):
            assert F.untyped_storage().data_ptr() != A.untyped_storage().data_ptr()
        assert A._version == version and torch.equal(A.detach(), a)
