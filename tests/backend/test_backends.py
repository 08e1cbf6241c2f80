"""What the GPU runs, run on the CPU: the batched Householder QR (array-API code, the default for CuPy stacks)
against LAPACK on NumPy and array_api_strict, the choice of QR path, the triangular solve where the library does
not broadcast batch axes (as CuPy's linalg.solve does not), and checks deferred to one host copy per sweep."""
import types

import numpy as np
import pytest

import matdiff as md
from matdiff.backend.base import Backend
from matdiff.backend.gpu import qr_path
from matdiff.backend.householder import householder_qr
from matdiff.ops.factorization import gauge as _gauge
from matdiff.testing import BACKENDS, rand, svd_conditioned

NP = md.backend.get("numpy")


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
@pytest.mark.parametrize("shape", [(4, 4), (6, 3), (3, 6), (1, 5), (5, 1), (7, 5, 4), (2, 3, 2, 6), (0, 4, 3)], ids=str)
def test_batched_householder_equals_lapack(shape, dtype, backend_name):
    b = md.backend.get(backend_name)
    a = svd_conditioned(shape[:-2], *shape[-2:], cond=50, dtype=dtype, seed=sum(shape))
    Q, R = _gauge(b, *householder_qr(b, b.from_host(a)))       # LAPACK's phases, then the nodes' gauge
    Ql, Rl = _gauge(NP, *np.linalg.qr(a))
    Q, R = b.to_host(Q), b.to_host(R)
    assert Q.shape == Ql.shape and R.shape == Rl.shape and Q.dtype == a.dtype
    tol = 50 * 50 * np.finfo(dtype).eps * max(shape[-2:])          # round-off x cond(A) = 50
    np.testing.assert_allclose(Q, Ql, rtol=0, atol=tol)
    np.testing.assert_allclose(R, Rl, rtol=0, atol=tol * max(1.0, float(np.abs(Rl).max(initial=0))))
    if R.size:
        d = np.diagonal(R, axis1=-2, axis2=-1)
        assert np.all(d.real >= 0) and np.all(np.abs(d.imag) <= tol)


def test_batched_householder_on_a_zero_column():
    a = rand((3, 5, 3), seed=1)
    a[1, :, 0] = 0                                        # reflector of a zero column: nothing to do, no NaN
    Q, R = householder_qr(NP, a)
    assert np.all(np.isfinite(Q)) and np.all(np.isfinite(R))
    np.testing.assert_allclose(Q @ R, a, atol=1e-12)


def test_the_qr_path_for_cupy_stacks():
    assert qr_path((64, 32)) == "cusolver"                       # one matrix
    assert qr_path((8, 64, 32)) == "cusolver"                    # a short stack
    assert qr_path((4096, 64, 32)) == "vectorized"               # the default for stacks of small matrices
    assert qr_path((4096, 64, 32), "kernel") == "kernel"         # opt-in
    assert qr_path((4096, 64, 32), "cusolver") == "cusolver"
    assert qr_path((64, 512, 64)) == "cusolver"                  # too large for the fast paths


class _NoBroadcastLinalg:
    """array_api_strict's linalg, except that solve refuses broadcast batch axes, as CuPy's does."""

    def __init__(self, linalg):
        self._linalg = linalg

    def solve(self, a, b):
        if tuple(a.shape[:-2]) != tuple(b.shape[:-2]):
            raise ValueError("a must have (..., M, M) shape and b must have (..., M, K) for multidimensional b")
        return self._linalg.solve(a, b)

    def __getattr__(self, name):
        return getattr(self._linalg, name)


class _NoBroadcastXP:
    def __init__(self, xp):
        self._xp, self.linalg = xp, _NoBroadcastLinalg(xp.linalg)

    def __getattr__(self, name):
        return getattr(self._xp, name)


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("adjoint", [False, True])
@pytest.mark.parametrize("lower", [False, True])
@pytest.mark.parametrize("shapes", [((2, 3, 3), (3, 4)), ((3, 3), (2, 3, 4)), ((2, 1, 3, 3), (5, 3, 4))], ids=str)
def test_the_generic_triangular_solve_broadcasts_batches_itself(shapes, lower, adjoint, side, monkeypatch):
    from matdiff.backend.base import Backend
    strict = md.backend.get("array_api_strict")
    monkeypatch.setattr(strict, "xp", _NoBroadcastXP(strict.xp))
    tshape, bshape = shapes
    T = np.tril(rand(tshape, seed=1)) + 3 * np.eye(3) if lower else np.triu(rand(tshape, seed=1)) + 3 * np.eye(3)
    B = rand(bshape, seed=2)
    if side == "right":
        B = np.swapaxes(B, -1, -2)
    X = Backend.solve_triangular(strict, strict.from_host(T), strict.from_host(B), lower=lower, side=side,
                                 adjoint=adjoint)
    opT = np.conj(np.swapaxes(T, -1, -2)) if adjoint else T
    expected = np.linalg.solve(opT, B) if side == "left" else np.swapaxes(
        np.linalg.solve(np.swapaxes(opT, -1, -2), np.swapaxes(B, -1, -2)), -1, -2)
    np.testing.assert_allclose(strict.to_host(X), expected, rtol=1e-12, atol=1e-12)


def _count_host_copies(monkeypatch, b):
    calls = []
    real = type(b).to_host
    monkeypatch.setattr(type(b), "to_host", lambda self, a: calls.append(tuple(np.shape(a))) or real(self, a))
    return calls


def test_deferred_checks_reach_the_host_once_per_backward(monkeypatch):
    monkeypatch.setattr(NP, "defers_checks", True)            # what CuPy does, on the CPU
    A = md.tensor(rand((3, 6), seed=3), requires_grad=True)
    loss = md.sum(md.qr(A).R) + md.sum(md.lq(A).L) + md.sum(md.qr(A.mH).R)   # three rank checks
    calls = _count_host_copies(monkeypatch, NP)
    loss.backward()
    assert len(calls) == 1 and A.grad.shape == (3, 6)


def test_a_deferred_rank_error_still_writes_nothing(monkeypatch):
    monkeypatch.setattr(NP, "defers_checks", True)
    a = rand((4, 4), seed=4)
    a[:, 3] = a[:, 0] - 2 * a[:, 1]                           # rank 3: |r_44| ~ 1e-16, not exactly 0
    A = md.tensor(a, requires_grad=True)
    Q, R = md.qr(A)
    with pytest.raises(md.RankDeficientError, match="4x4 input is singular.*smallest"):
        md.backward([Q, R], [np.ones((4, 4)), np.ones((4, 4))])
    assert A.grad is None and Q.grad is None and not R.node.freed


def test_seeds_and_solve_checks_take_one_host_copy(monkeypatch):
    # the generic finiteness test (CuPy's): NumPy's own needs no host copy at all
    monkeypatch.setattr(NP, "isfinite_all", types.MethodType(Backend.isfinite_all, NP))
    T = md.tensor(np.triu(rand((4, 4), seed=5)) + 3 * np.eye(4), requires_grad=True)
    B = md.tensor(rand((4, 2), seed=6), requires_grad=True)
    calls = _count_host_copies(monkeypatch, NP)
    X = md.solve_triangular(T, B)
    assert len(calls) == 1                                     # finiteness and the zero-diagonal test together
    Y = X * 2.0
    calls.clear()
    md.backward([X, Y], [np.ones((4, 2)), np.ones((4, 2))])
    assert len(calls) == 1                                     # both seeds checked in one copy


def test_pivoting_copies_the_matrix_to_the_host_once_and_never_the_permutation(monkeypatch):
    A = md.tensor(rand((2, 3, 5), seed=7), requires_grad=True)
    calls = _count_host_copies(monkeypatch, NP)
    Q, R, perm = md.qr(A, pivoting=True)
    assert calls.count((2, 3, 5)) == 1                 # A, once, for geqp3
    assert (2, 5) not in calls                         # the permutation never travels back
    assert type(perm) is np.ndarray and perm.shape == (2, 5)


def test_the_cupy_backends_qr_dispatch_runs_on_numpy(monkeypatch):
    """CuPyBackend.qr's own code, with NumPy standing in for CuPy (the array API calls are the same)."""
    from matdiff.backend.base import Backend
    from matdiff.backend.gpu import CuPyBackend
    fake = object.__new__(CuPyBackend)
    Backend.__init__(fake, np)
    fake.array_type = np.ndarray
    monkeypatch.setattr(CuPyBackend, "to_host", lambda self, a: np.asarray(a))
    a = svd_conditioned((32,), 12, 7, cond=20, dtype=np.complex128, seed=3)
    monkeypatch.delenv("MATDIFF_CUDA_QR", raising=False)
    Q, R = _gauge(fake, *fake.qr(a))                         # a stack of 32 small matrices: the vectorized path
    Ql, Rl = _gauge(NP, *np.linalg.qr(a))
    np.testing.assert_allclose(Q, Ql, atol=1e-12)
    np.testing.assert_allclose(R, Rl, atol=1e-12)
    monkeypatch.setenv("MATDIFF_CUDA_QR", "cusolver")        # the library's own QR (here NumPy's), then gauged
    Q2, R2 = _gauge(fake, *fake.qr(a))
    np.testing.assert_allclose(Q2 @ R2, a, atol=1e-12)


# -- NumPy's direct LAPACK/BLAS path for one small matrix ----------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64", "complex64", "complex128"])
@pytest.mark.parametrize("shape", [(1, 1), (8, 4), (4, 8), (5, 5), (64, 64), (4096, 1)])
def test_small_qr_calls_lapack_directly_and_agrees_with_numpy_linalg(shape, dtype, monkeypatch):
    from matdiff.backend import cpu
    a = rand(shape, dtype, seed=11)
    calls = []
    real = cpu._qr_small
    monkeypatch.setattr(cpu, "_qr_small", lambda A: calls.append(A.shape) or real(A))
    Q, R = NP.qr(a)
    assert calls == [(shape[0], min(shape))]         # the small path ran (on a wide one's leading square block)
    Qn, Rn = np.linalg.qr(a)
    tol = 50 * max(shape) * np.finfo(dtype).eps
    # same factorisation up to LAPACK's phases: compare the gauged factors
    d = np.diagonal(R)
    assert np.all(d.real > 0) and not d.imag.any(), "geqrfp's factors leave in matdiff's gauge"
    Qg, Rg = _gauge(NP, Q, R)
    assert Qg is Q and Rg is R, "the gauge found something to rotate"
    Qn, Rn = _gauge(NP, Qn, Rn)
    assert Q.dtype == R.dtype == np.dtype(dtype) and Q.shape == Qn.shape and R.shape == Rn.shape
    assert np.abs(Q - Qn).max() < tol and np.abs(R - Rn).max() < tol * np.abs(a).max()
    assert np.array_equal(R, np.triu(R))


@pytest.mark.parametrize("dtype", ["float64", "complex128"])
def test_small_qr_of_a_rank_deficient_matrix(dtype):
    """geqrfp on a zero column and a repeated one: diag R >= 0 (a zero where the rank drops), Q orthonormal, QR = A."""
    a = rand((12, 6), dtype, seed=13)
    a[:, 2], a[:, 4] = 0, a[:, 1]
    Q, R = NP.qr(a)
    d = np.diagonal(R)
    assert np.all(d.real >= 0) and not d.imag.any() and abs(d[2]) < 1e-14 and abs(d[4]) < 1e-14
    np.testing.assert_allclose(Q.conj().T @ Q, np.eye(6), atol=1e-14)
    np.testing.assert_allclose(Q @ R, a, atol=1e-14)


def test_qr_beyond_the_small_path_uses_numpy_linalg(monkeypatch):
    from matdiff.backend import cpu
    monkeypatch.setattr(cpu, "_qr_small", lambda A: pytest.fail("the small path ran"))
    for shape in [(65, 64), (2, 8, 4), (4097, 1)]:
        Q, R = NP.qr(rand(shape, seed=12))
        assert Q.shape == shape and R.shape == shape[:-2] + (shape[-1], shape[-1])


@pytest.mark.parametrize("dtype", ["float32", "float64", "complex64", "complex128"])
@pytest.mark.parametrize("lower", [False, True])
@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("adjoint", [False, True])
def test_small_triangular_solve_by_trsm_equals_the_blocked_solve(dtype, lower, side, adjoint):
    k = 6
    T = rand((k, k), dtype, seed=13) + 4 * np.eye(k, dtype=dtype)
    T = np.tril(T) if lower else np.triu(T)
    B = rand((k, 3) if side == "left" else (3, k), dtype, seed=14)
    junk = (np.triu(np.ones((k, k)), 1) if lower else np.tril(np.ones((k, k)), -1)).astype(dtype)
    X = NP.solve_triangular(T + junk, B, lower=lower, side=side, adjoint=adjoint)   # the other triangle is not read
    opT = T.conj().T if adjoint else T
    back = opT @ X if side == "left" else X @ opT
    assert X.dtype == np.dtype(dtype) and np.abs(back - B).max() < 100 * np.finfo(dtype).eps
    stacked = NP.solve_triangular(T[None], B[None], lower=lower, side=side, adjoint=adjoint)   # the blocked path
    assert np.abs(stacked[0] - X).max() < 100 * np.finfo(dtype).eps


def test_numpy_finiteness_test_sees_nan_inf_and_survives_an_overflowing_sum():
    big = np.full((3, 3), 1e308)                                   # finite entries whose sum is inf
    assert NP.isfinite_all(big, rand((2, 2)))
    for bad in (np.nan, np.inf, -np.inf, complex(0, np.nan)):
        a = rand((3, 3), "complex128" if isinstance(bad, complex) else "float64")
        a[1, 2] = bad
        assert not NP.isfinite_all(rand((2, 2)), a)
    assert NP.isfinite_all(np.zeros((0, 3)))


@pytest.mark.parametrize("n", [5, 300, 600])
@pytest.mark.parametrize("upper_a", [False, True])
@pytest.mark.parametrize("dtype", ["float64", "complex128"])
def test_tril_matmul_gives_the_lower_triangle_of_the_product(n, upper_a, dtype):
    A = rand((n, n), dtype, seed=15)
    A = np.triu(A) if upper_a else A
    B = rand((n, n), dtype, seed=16)
    for b in (NP, Backend(np)):                                    # NumPy's blocked gemmt and the generic one
        got, want = b.tril_matmul(A, B, upper_a=upper_a), A @ B
        assert got.shape == (n, n) and np.isfinite(got).all()
        assert np.abs(np.tril(got - want)).max() < 1e-12 * n * np.abs(want).max()


@pytest.mark.parametrize("dtype", ["float32", "float64", "complex64", "complex128"])
@pytest.mark.parametrize("shape", [(1, 1), (5, 5), (3, 4, 4)])
def test_every_backends_hcopyltu_is_symh_of_E_times_M(dtype, shape):
    M = rand(shape, dtype, seed=17)
    k = shape[-1]
    E = np.tril(np.ones((k, k)), -1) * 2 + np.eye(k)
    want = (E * M + np.conj(np.swapaxes(E * M, -1, -2))) / 2           # the definition, Section 4.2
    for b in (NP, Backend(np)):
        W = M.copy()
        W[..., np.triu_indices(k, 1)[0], np.triu_indices(k, 1)[1]] = np.inf    # never read
        got = b.hcopyltu(W)
        assert got.dtype == np.dtype(dtype) and np.array_equal(got, want), type(b)


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("shape", [(8, 4), (4, 8), (500, 200), (200, 200), (6, 5, 3), (3, 5, 6)], ids=str)
def test_qr_returns_new_arrays_which_the_gauge_may_overwrite(shape, dtype, backend_name):
    """The contract's ``qr``/``qr_complete`` return new arrays: the gauge rotates them in place (``Q *= D``), so a
    factor that were a view of A -- or of anything the backend keeps -- would be written through. Every QR path
    (8x4: geqrfp direct; wide: the leading block's QR + a product; 500x200: CholeskyQR2; 200x200: Householder;
    stacks) on every CPU backend: A is untouched, the factors share no memory with it, and a second call's
    factors none with the first's."""
    b = md.backend.get(backend_name)
    a = rand(shape, dtype, seed=7)
    A = b.from_host(a)
    for qr in (b.qr, b.qr_complete):
        first = _gauge(b, *qr(A))
        second = _gauge(b, *qr(A))
        np.testing.assert_array_equal(b.to_host(A), a)
        for F, G in zip(first, second):
            if backend_name == "numpy":
                assert not np.shares_memory(F, A) and not np.shares_memory(F, G)
            np.testing.assert_array_equal(b.to_host(F), b.to_host(G))
        Q, R = (b.to_host(F) for F in first)
        assert np.all(np.diagonal(R, axis1=-2, axis2=-1).real >= 0)
        np.testing.assert_allclose(Q @ R, a, atol=1e-12 * np.abs(a).max())
