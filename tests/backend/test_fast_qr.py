"""The fast QR forward (matdiff/backend/fast_qr.py): CholeskyQR2 equals LAPACK Householder to round-off x condition
where it proves its result, and declines -- so the backend falls back to Householder -- on inputs built to defeat
it: cond 1e8..1e15, graded columns, exact rank deficiency, zero columns, NaN/inf, float32 beyond its hypothesis.
Bounds (docs/performance.md): ||Q^H Q - I||_F <= 6 (mn + n(n+1)) u and ||A - QR||_F <= 5 n^2 sqrt(n) u ||A||_2."""
import numpy as np
import pytest

import matdiff as md
from matdiff.backend import fast_qr
from matdiff.testing import svd_conditioned

NP = md.backend.get("numpy")
U = {np.float32: 2.0 ** -24, np.complex64: 2.0 ** -24, np.float64: 2.0 ** -53, np.complex128: 2.0 ** -53}
pytestmark = pytest.mark.skipif(not fast_qr.available(), reason="NumPy is not built on scipy-openblas64")


def gauged(Q, R):
    """LAPACK's factors rotated into matdiff's gauge (real non-negative diag R), to compare factor by factor."""
    d = np.diagonal(R).copy()
    D = np.where(d == 0, 1, d / np.where(d == 0, 1, np.abs(d)))
    return Q * D, R * np.conj(D)[:, None]


def bounds_hold(A, Q, R, slack=1.0):
    """The stated bounds on orthogonality and residual (``slack`` x them)."""
    m, n = A.shape
    u = U[A.dtype.type]
    orth = np.linalg.norm(Q.conj().T @ Q - np.eye(n))
    res = np.linalg.norm(A - Q @ R)
    return orth <= slack * 6 * (m * n + n * (n + 1)) * u and res <= slack * 5 * n ** 2.5 * u * np.linalg.norm(A, 2)


def data(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        a = a + 1j * rng.standard_normal(shape)
    return a.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("shape,cond", [((400, 100), 1), ((300, 150), 1e3), ((250, 100), 1e6), ((120, 120), 1e4)],
                         ids=str)
def test_cholesky_qr2_equals_householder(shape, cond, dtype):
    A = svd_conditioned((), *shape, cond=cond, dtype=dtype, seed=shape[0])
    A0 = A.copy()
    Q, R = fast_qr.cholesky_qr2(A)          # well conditioned: the fast path proves its result and returns it
    assert np.array_equal(A, A0), "the input was modified"
    assert Q.dtype == R.dtype == A.dtype and Q.shape == shape and R.shape == (shape[1],) * 2
    assert np.all(np.diagonal(R).real > 0) and not np.diagonal(R).imag.any(), "R is not in matdiff's gauge"
    assert not np.tril(R, -1).any()
    assert bounds_hold(A, Q, R)
    Qh, Rh = gauged(*np.linalg.qr(A))
    tol = 100 * max(shape) * U[dtype] * cond     # round-off x condition (QR's factors are cond-sensitive)
    assert np.linalg.norm(Q - Qh) <= tol * np.sqrt(shape[1])
    assert np.linalg.norm(R - Rh) <= tol * np.linalg.norm(A)


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("cond,trtri", [(1, False), (30, False), (1e5, True), (1e7, True)])
def test_second_pass_inverse_both_routes(cond, trtri, dtype, monkeypatch):
    """R2^{-1} is I - E (no trtri) where ||E||_F <= sqrt(u), LAPACK's trtri beyond: the route taken is the one the
    size of E calls for, and either way the bounds hold and Q R equals LAPACK's to round-off x condition."""
    calls = []
    inv = fast_qr._INV[fast_qr._CH[np.dtype(dtype).char]]
    monkeypatch.setitem(fast_qr._INV, fast_qr._CH[np.dtype(dtype).char], lambda *a: calls.append(a) or inv(*a))
    A = svd_conditioned((), 300, 80, cond=cond, dtype=dtype, seed=int(np.log10(cond)) + 40)
    Q, R = fast_qr.cholesky_qr2(A)
    assert bool(calls) == trtri, f"cond {cond:g}: trtri {'not ' if trtri else ''}called"
    assert bounds_hold(A, Q, R)
    Qh, Rh = gauged(*np.linalg.qr(A))
    tol = 100 * 300 * U[dtype] * cond
    assert np.linalg.norm(Q - Qh) <= tol * np.sqrt(80) and np.linalg.norm(R - Rh) <= tol * np.linalg.norm(A)


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("cond", [1e8, 1e10, 1e12, 1e15])
@pytest.mark.parametrize("shape", [(300, 60), (150, 150)], ids=str)     # deep, and square (CholeskyQR2 to 256 columns)
def test_ill_conditioned_inputs_hold_the_bounds(shape, cond, dtype):
    """cond 1e8..1e15: whatever path runs, the result holds the bounds; beyond 1e10 CholeskyQR2 must decline."""
    A = svd_conditioned((), *shape, cond=cond, dtype=dtype, seed=int(np.log10(cond)))
    fast = fast_qr.cholesky_qr2(A)
    if cond >= 1e10:
        assert fast is None, f"CholeskyQR2 accepted cond {cond:g}"
    Q, R = NP.qr(A)
    assert bounds_hold(A, Q, R)
    if fast is not None:
        assert bounds_hold(A, *fast)


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_graded_columns(dtype):
    """Columns scaled 1 .. 1e-15: cond ~ 1e15 but CholeskyQR is column-scaling invariant; accepted or not, the
    bounds hold, Q matches Householder's to round-off x cond(B) and R column by column relative to A's columns."""
    A = data((300, 40), dtype, 3) * np.logspace(0, -15, 40)
    B = A / np.logspace(0, -15, 40)
    tol = 100 * 300 * U[dtype] * np.linalg.cond(B)    # Q of A D is Q of A: its sensitivity is cond(B), not cond(A)
    Qh, Rh = gauged(*np.linalg.qr(A))
    for Q, R in (NP.qr(A), fast_qr.cholesky_qr2(A)):
        Q, R = gauged(Q, R)
        assert bounds_hold(A, Q, R)
        assert np.linalg.norm(Q - Qh) <= tol * np.sqrt(40)
        assert np.all(np.linalg.norm(R - Rh, axis=0) <= tol * np.linalg.norm(A, axis=0))   # column by column


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("defect", ["zero column", "repeated column", "rank 30 of 60", "nan", "inf", "huge"])
@pytest.mark.parametrize("shape", [(300, 60), (150, 150)], ids=str)
def test_fast_path_declines_and_backend_falls_back(shape, defect, dtype):
    A = data(shape, dtype, 4)
    if defect == "zero column":
        A[:, 7] = 0
    elif defect == "repeated column":
        A[:, 9] = A[:, 2]
    elif defect == "rank 30 of 60":
        A = A[:, :30] @ data((30, shape[1]), dtype, 5)
    elif defect == "nan":
        A[5, 5] = np.nan
    elif defect == "inf":
        A[5, 5] = np.inf
    else:
        A = A * 1e160                         # A^H A overflows
    assert fast_qr.cholesky_qr2(A) is None
    Q, R = NP.qr(A)                           # the backend's answer is the Householder fallback's, bit for bit:
    wy = fast_qr.blocked_householder(A) if shape[1] >= fast_qr._WY_MIN else None     # None: a NaN in a panel
    Qh, Rh = wy if wy is not None else fast_qr.householder(A)
    np.testing.assert_array_equal(Q, Qh)
    np.testing.assert_array_equal(R, Rh)
    if defect in ("nan", "inf"):              # NaN where LAPACK on the whole matrix gives NaN
        assert np.isnan(Q).any() == np.isnan(np.linalg.qr(A)[0]).any()
    else:                                     # rank-deficient: Q's trailing columns are arbitrary, the bounds hold
        assert bounds_hold(A, Q, R)


@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
def test_single_precision(dtype):
    """float32: the hypothesis 8 sqrt(3) sqrt((mn + n(n+1)) u) <= 1 holds for small matrices only."""
    A = data((120, 30), dtype, 6)
    Q, R = fast_qr.cholesky_qr2(A)
    assert Q.dtype == A.dtype and bounds_hold(A, Q, R)
    big = data((1000, 100), dtype, 7)
    assert fast_qr.cholesky_qr2(big) is None
    Q, R = NP.qr(big)
    assert Q.dtype == big.dtype and bounds_hold(big, Q, R, slack=1.0)


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("shape", [(400, 100), (100, 100), (150, 100), (80, 300), (1, 5000)], ids=str)
def test_backend_qr_every_shape(shape, dtype):
    """NumPy backend's qr (deep: CholeskyQR2; near-square: Householder; wide: square block + one matmul) equals
    LAPACK on the whole matrix, after the gauge; LQ's input (a conjugate-transposed view) too."""
    for A in (data(shape, dtype, 8), np.conj(data(shape[::-1], dtype, 9)).T):
        Q, R = gauged(*NP.qr(A))
        Qh, Rh = gauged(*np.linalg.qr(A))
        tol = 1e3 * max(shape) * U[dtype]
        assert Q.shape == Qh.shape and R.shape == Rh.shape and Q.dtype == A.dtype
        np.testing.assert_allclose(Q, Qh, rtol=0, atol=tol)
        np.testing.assert_allclose(R, Rh, rtol=0, atol=tol * np.abs(A).max())


def test_deep_backend_qr_is_already_in_the_gauge():
    """2000x500 takes CholeskyQR2: R's diagonal comes out positive (LAPACK's geqrf gives negative ones)."""
    A = data((2000, 500), np.float64, 10)
    Q, R = NP.qr(A)
    assert np.all(np.diagonal(R) > 0)
    assert bounds_hold(A, Q, R)


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_the_gauge_rotates_only_what_needs_it(dtype):
    """CholeskyQR2's factors pass the gauge untouched (the same arrays: no copy); LAPACK's, whose diag R has other
    phases, are rotated to a real non-negative diagonal with Q R unchanged -- and a single phase off 1 is enough."""
    from matdiff.ops.factorization import gauge
    A = data((500, 200), dtype, 12)
    Q, R = NP.qr(A)
    assert NP.positive_real(np.diagonal(R))
    Qg, Rg = gauge(NP, Q, R)
    assert Qg is Q and Rg is R
    Qh, Rh = gauged(*np.linalg.qr(A))                                  # all phases 1 but the first ...
    Rh[0], Qh[:, 0] = -Rh[0], -Qh[:, 0]                                 # ... which is -1
    assert not NP.positive_real(np.diagonal(Rh)) and NP.positive_real(np.diagonal(Rh)[1:])
    r00 = Rh[0, 0]
    Qg, Rg = gauge(NP, Qh, Rh)
    assert Qg is Qh and Rg is Rh                                        # rotated in place: b.qr's arrays are new
    d = np.diagonal(Rg)
    assert np.all(d.real >= 0) and not d.imag.any() and Rg[0, 0] == -r00
    np.testing.assert_allclose(Qg @ Rg, A, atol=1e-12 * np.abs(A).max())


def test_stacks_and_complete_mode():
    A = data((6, 300, 40), np.complex128, 11)
    Q, R = NP.qr(A)
    for i in range(6):
        np.testing.assert_allclose(Q[i] @ R[i], A[i], rtol=0, atol=1e-12)
    Q, R = NP.qr_complete(A[0])
    assert Q.shape == (300, 300) and np.allclose(Q @ R, A[0]) and np.allclose(Q.conj().T @ Q, np.eye(300))


def test_thread_count_is_restored():
    user = fast_qr.get_threads()
    NP.qr(data((300, 200), np.float64, 12))                  # Householder on one thread
    assert fast_qr.get_threads() == user
    with pytest.raises(ValueError):
        fast_qr.householder(np.zeros((0, 3, 0, 0)), mode="bad")   # an exception inside still restores it
    assert fast_qr.get_threads() == user


def test_gradient_through_the_fast_path_matches_finite_differences():
    """md.qr's backward on a matrix that takes CholeskyQR2, against a central difference along a direction V."""
    A, WQ, WR, V = data((200, 40), np.float64, 13), data((200, 40), np.float64, 14), data((40, 40), np.float64, 15), \
        data((200, 40), np.float64, 16)
    assert fast_qr.cholesky_qr2(A) is not None

    def f(a):
        Q, R = md.qr(md.tensor(a, requires_grad=True))
        return Q, R, md.sum(Q * WQ) + md.sum(R * WR)

    At = md.tensor(A, requires_grad=True)
    Q, R = md.qr(At)
    g, = md.grad(md.sum(Q * WQ) + md.sum(R * WR), [At])
    h = 1e-6
    fd = (float(f(A + h * V)[2].data) - float(f(A - h * V)[2].data)) / (2 * h)
    assert abs(np.vdot(np.asarray(g.data if hasattr(g, "data") else g), V) - fd) <= 1e-6 * max(1, abs(fd))


@pytest.mark.parametrize("dtype", [np.float64, np.complex128, np.float32, np.complex64])
@pytest.mark.parametrize("shape,nb,cond", [((300, 300), 64, 1), ((257, 200), 64, 1e3), ((400, 130), 128, 1e12),
                                           ((130, 130), 128, 1e15), ((200, 70), 32, 10)], ids=str)
def test_blocked_householder_equals_lapack(shape, nb, cond, dtype):
    """Compact-WY Householder (panels by geqrt3, updates by gemm): LAPACK's factors to round-off x condition, and
    the bounds at any condition (it is Householder: backward stable however ill-conditioned A is)."""
    A = svd_conditioned((), *shape, cond=cond, dtype=dtype, seed=shape[1])
    A0 = A.copy()
    Q, R = fast_qr.blocked_householder(A, nb)
    assert np.array_equal(A, A0) and Q.dtype == R.dtype == A.dtype and not np.tril(R, -1).any()
    assert bounds_hold(A, Q, R)
    assert NP.positive_real(np.diagonal(R)), "the factors leave in matdiff's gauge (Q from [D; 0])"
    if cond * U[dtype] < 1e-3:                # the factors are determined to round-off x cond: compare them
        Qh, Rh = gauged(*np.linalg.qr(A))
        tol = 100 * max(shape) * U[dtype] * cond
        assert np.linalg.norm(Q - Qh) <= tol * np.sqrt(shape[1])
        assert np.linalg.norm(R - Rh) <= tol * np.linalg.norm(A)


@pytest.mark.parametrize("defect", ["zero column", "rank 30 of 100", "nan"])
def test_blocked_householder_defects(defect):
    A = data((200, 100), np.float64, 17)
    if defect == "zero column":
        A[:, 70] = 0
    elif defect == "rank 30 of 100":
        A = A[:, :30] @ data((30, 100), np.float64, 18)
    else:
        A[150, 90] = np.nan                   # in the second panel: found there, the caller then runs geqrf
        assert fast_qr.blocked_householder(A, 64) is None
        assert np.isnan(NP.qr(A)[0]).any()
        return
    assert bounds_hold(A, *fast_qr.blocked_householder(A, 64))
    assert bounds_hold(A, *NP.qr(A))


@pytest.mark.parametrize("cond", [1e2, 1e5, 1e7])
def test_gradient_accuracy_matches_the_householder_forward(cond, monkeypatch):
    """The backward from CholeskyQR2's factors is as accurate as from Householder's: the two gradients agree to the
    first-order propagation of round-off x cond through R^{-1} (u cond^2)."""
    A, WQ, WR = svd_conditioned((), 300, 60, cond=cond, seed=19), data((300, 60), np.float64, 20), \
        data((60, 60), np.float64, 21)
    assert fast_qr.cholesky_qr2(A) is not None

    def grad():
        At = md.tensor(A, requires_grad=True)
        Q, R = md.qr(At)
        return np.asarray(md.grad(md.sum(Q * WQ) + md.sum(R * WR), [At])[0].data)

    fast = grad()
    monkeypatch.setattr(fast_qr, "cholesky_qr2", lambda A: None)
    slow = grad()
    assert np.linalg.norm(fast - slow) <= 100 * 300 * U[np.float64] * cond ** 2 * np.linalg.norm(slow)


def test_other_threads_leave_the_thread_count_alone():
    """The BLAS thread count is process-wide: only the main thread changes (and restores) it."""
    import threading
    seen = []
    t = threading.Thread(target=lambda: (seen.append(fast_qr.get_threads()), seen.append(NP.qr(
        data((300, 200), np.float64, 22)))))
    t.start()
    t.join()
    assert seen[0] is None and bounds_hold(data((300, 200), np.float64, 22), *seen[1])
    assert fast_qr.get_threads() is not None


@pytest.mark.parametrize("shape,dtype,path", [((150, 150), np.float64, "cholesky"),
                                              ((256, 256), np.float64, "cholesky"),
                                              ((300, 300), np.float64, "householder"),
                                              ((100, 100), np.complex128, "cholesky"),
                                              ((200, 200), np.complex128, "householder"),
                                              ((400, 200), np.complex128, "cholesky")], ids=str)
def test_which_path_a_well_conditioned_matrix_takes(shape, dtype, path):
    """CholeskyQR2 for every m >= n up to _CHOL_COLS columns (256 real, 128 complex) and for m >= 2n; else
    blocked Householder. The backend's factors are that path's, bit for bit."""
    A = data(shape, dtype, 11)
    Q, R = NP.qr(A)
    want = fast_qr.cholesky_qr2(A) if path == "cholesky" else fast_qr.blocked_householder(A)
    np.testing.assert_array_equal(Q, want[0])
    np.testing.assert_array_equal(R, want[1])
