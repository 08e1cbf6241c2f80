"""The NumPy backend's primitives of the QR/LQ backward against the plain NumPy formula: ``solve_triangular`` (and
``solve_right_adjoint`` / ``solve_left_adjoint``), now BLAS trsm on NumPy's OpenBLAS for one matrix, and
``tril_matmul``, now row panels of matmuls. Real and complex, float32/64, C- and F-order and non-contiguous
operands, stacks, the edge shapes n = 1 and m = n, both sides of the small-system threshold."""
import numpy as np
import pytest

import matdiff as md
from matdiff.backend import fast_qr

NP = md.backend.get("numpy")
DTYPES = [np.float32, np.float64, np.complex64, np.complex128]
TOL = {np.float32: 2e-4, np.complex64: 2e-4, np.float64: 1e-11, np.complex128: 1e-11}


def data(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        a = a + 1j * rng.standard_normal(shape)
    return a.astype(dtype)


def triangle(k, dtype, lower, seed=1, batch=()):
    """A well-conditioned triangular matrix with garbage in the other triangle (the solve must not read it)."""
    T = data(batch + (k, k), dtype, seed) / k ** 0.5
    T = T + 2 * np.eye(k, dtype=dtype)
    return T + (1e3 * np.triu(np.ones((k, k)), 1) if lower else 1e3 * np.tril(np.ones((k, k)), -1)).astype(dtype)


def layout(a, how):
    """``a`` in C order, F order, or as a non-contiguous view (every other column of a wider array)."""
    if how == "C":
        return np.ascontiguousarray(a)
    if how == "F":
        return np.asfortranarray(a)
    wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype)
    wide[..., ::2] = a
    return wide[..., ::2]


def reference(T, B, lower, side, adjoint):
    """``op(T)^{-1} B`` or ``B op(T)^{-1}`` by a general solve of the clean triangle."""
    T = np.tril(T) if lower else np.triu(T)
    if adjoint:
        T = np.conj(np.swapaxes(T, -1, -2))
    if side == "left":
        return np.linalg.solve(T.astype(np.complex128), B.astype(np.complex128))
    return np.swapaxes(np.linalg.solve(np.swapaxes(T, -1, -2).astype(np.complex128),
                                       np.swapaxes(B, -1, -2).astype(np.complex128)), -1, -2)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("lower", [False, True])
@pytest.mark.parametrize("adjoint", [False, True])
@pytest.mark.parametrize("k,p", [(1, 700), (40, 40), (150, 60), (300, 300)], ids=str)   # small and trsm paths
def test_solve_triangular_equals_the_formula(dtype, side, lower, adjoint, k, p):
    T = triangle(k, dtype, lower)
    B = data((k, p) if side == "left" else (p, k), dtype, 2)
    for how_t in ("C", "F"):
        for how_b in ("C", "F", "strided"):
            Bl, B0 = layout(B, how_b), B.copy()
            X = NP.solve_triangular(layout(T, how_t), Bl, lower=lower, side=side, adjoint=adjoint)
            assert X.dtype == dtype and X.shape == B.shape
            assert np.array_equal(Bl, B0), "B was modified without overwrite=True"
            ref = reference(T, B, lower, side, adjoint)
            assert np.linalg.norm(X - ref) <= TOL[dtype] * np.linalg.norm(ref), (how_t, how_b)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("how", ["C", "F", "strided"])
def test_solve_adjoint_overwrite_is_right_in_any_layout(dtype, how):
    """The rules' ``solve_right_adjoint(R, X)`` / ``solve_left_adjoint(L, X)`` may reuse X: right in every layout,
    and in place (no copy) for a C-ordered X -- the trsm path's point."""
    R, L = triangle(200, dtype, False), triangle(200, dtype, True)
    X = layout(data((500, 200), dtype, 3), how)
    ref = reference(R, X, False, "right", True)
    out = NP.solve_right_adjoint(R, X)
    assert np.linalg.norm(out - ref) <= TOL[dtype] * np.linalg.norm(ref)
    if how == "C" and fast_qr.available():
        assert np.shares_memory(out, X)
    Y = layout(data((200, 500), dtype, 4), how)
    ref = reference(L, Y, True, "left", True)
    assert np.linalg.norm(NP.solve_left_adjoint(L, Y) - ref) <= TOL[dtype] * np.linalg.norm(ref)


def test_solve_mixed_dtypes_promote():
    """A real T with a complex B (and float32 with float64) promotes as NumPy does."""
    T = triangle(100, np.float64, False)
    B = data((300, 100), np.complex128, 5)
    X = NP.solve_triangular(T, B, lower=False, side="right", adjoint=True)
    assert X.dtype == np.complex128
    ref = reference(T, B, False, "right", True)
    assert np.linalg.norm(X - ref) <= 1e-11 * np.linalg.norm(ref)
    X = NP.solve_triangular(T.astype(np.float32), B.real.T, lower=False, side="left")
    assert X.dtype == np.float64
    assert np.linalg.norm(np.triu(T) @ X - B.real.T) <= 1e-5 * np.linalg.norm(B.real)    # T was float32: round-off


@pytest.mark.parametrize("side", ["left", "right"])
def test_solve_of_mismatched_shapes_raises_instead_of_reading_past_T(side):
    """A 100x100 T against a 300x100 B on the left (or 100x300 on the right): BLAS trsm through ctypes would read a
    300x300 T out of a 100x100 buffer; the backend refuses, as the NumPy blocking did."""
    T = triangle(100, np.float64, False)
    B = data((300, 100) if side == "left" else (100, 300), np.float64, 5)
    with pytest.raises(ValueError):
        NP.solve_triangular(T, B, lower=False, side=side)


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_solve_stack_of_right_hand_sides(dtype):
    T = triangle(120, dtype, False)
    B = data((3, 200, 120), dtype, 6)
    X = NP.solve_right_adjoint(T, B.copy())
    ref = reference(np.broadcast_to(T, (3, 120, 120)), B, False, "right", True)
    assert np.linalg.norm(X - ref) <= 1e-11 * np.linalg.norm(ref)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("lower", [False, True])
@pytest.mark.parametrize("adjoint", [False, True])
@pytest.mark.parametrize("nb,m,k", [(64, 32, 16), (256, 32, 16), (600, 32, 32), (40, 8, 4)], ids=str)
def test_a_stack_of_triangles_by_substitution_or_one_trsm_each(dtype, lower, adjoint, nb, m, k, monkeypatch):
    """A stack of different triangles, right side: substitution over the stack while it fits the cache, one trsm
    per matrix beyond (complex from 2 MB, real with 32 columns from 4 MB); either way the formula's answer, and
    only the triangle is read (the other holds 1e3s)."""
    if not fast_qr.available():
        pytest.skip("NumPy is not built on scipy-openblas64")
    T, B = triangle(k, dtype, lower, seed=7, batch=(nb,)), data((nb, m, k), dtype, 8)
    calls = []
    real = fast_qr.trsm_each
    monkeypatch.setattr(fast_qr, "trsm_each", lambda *a: calls.append(1) or real(*a))
    X = NP.solve_triangular(T, B, lower=lower, side="right", adjoint=adjoint)
    cplx = np.dtype(dtype).kind == "c"
    assert bool(calls) == (B.nbytes >= 1 << 21 if cplx else k >= 32 and B.nbytes >= 1 << 22)
    ref = reference(T, B, lower, "right", adjoint)
    assert X.shape == B.shape and np.linalg.norm(X - ref) <= TOL[dtype] * np.linalg.norm(ref)


@pytest.mark.parametrize("dtype", [np.float64, np.complex128], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("nb,m,k", [(40, 8, 4), (256, 32, 16), (600, 32, 32)], ids=str)
@pytest.mark.parametrize("how", ["C", "strided", "other dtype", "no overwrite"])
def test_a_stack_solve_writes_into_its_temporary_only_where_allowed(dtype, nb, m, k, how):
    """The rules' ``solve_right_adjoint(R, X)`` on a stack: in X itself (substitution or one trsm per matrix) when X
    is C-ordered and of the result's dtype -- the same answer as out of place -- and never into an X it may not
    reuse: a strided view, an X of a narrower dtype than R's, or ``overwrite=False`` (B is then left as it was)."""
    if not fast_qr.available():
        pytest.skip("NumPy is not built on scipy-openblas64")
    T = triangle(k, dtype, False, seed=9, batch=(nb,))
    other = np.float32 if dtype == np.float64 else np.float64            # the result's dtype is T's, not X's
    X0 = data((nb, m, k), dtype if how != "other dtype" else other, 10)
    X = layout(X0.copy(), "strided") if how == "strided" else X0.copy()
    ref = reference(T, X0, False, "right", True)
    if how == "no overwrite":
        out = NP.solve_triangular(T, X, lower=False, side="right", adjoint=True)
        assert np.array_equal(X, X0)
    else:
        out = NP.solve_right_adjoint(T, X)
    assert np.shares_memory(out, X) == (how == "C")
    assert out.shape == X0.shape and np.linalg.norm(out - ref) <= TOL[dtype] * np.linalg.norm(ref)


@pytest.mark.parametrize("dtype", [np.float64, np.complex128], ids=lambda d: np.dtype(d).name)
def test_a_stack_left_solve_writes_into_its_temporary_by_substitution(dtype):
    """``solve_left_adjoint(L, X)`` (Eq 17) of a stack that substitution solves: in X itself (its transpose is the
    right solve's C-ordered B), the same answer as out of place."""
    L = triangle(16, dtype, True, seed=11, batch=(64,))
    X0 = data((64, 16, 32), dtype, 12)
    X = X0.copy()
    out = NP.solve_left_adjoint(L, X)
    ref = reference(L, X0, True, "left", True)
    assert np.shares_memory(out, X) and np.linalg.norm(out - ref) <= TOL[dtype] * np.linalg.norm(ref)


def _lower_equal(out, ref, dtype):
    low = np.tril(np.ones(out.shape[-2:], dtype=bool))
    err = np.linalg.norm(np.where(low, out - ref, 0))
    return err <= TOL[dtype] * max(1.0, np.linalg.norm(np.where(low, ref, 0)))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("n,inner", [(1, 7), (16, 16), (256, 300), (257, 257), (300, 1000), (500, 500)], ids=str)
@pytest.mark.parametrize("upper_a", [False, True])
def test_tril_matmul_lower_triangle_equals_the_product(dtype, n, inner, upper_a):
    """Only the lower triangle (with the diagonal) is the contract; above it: zeros or the product, never NaN."""
    if upper_a:
        inner = n
    A = data((n, inner), dtype, 7)
    if upper_a:
        A = np.triu(A)
    B = data((inner, n), dtype, 8)
    ref = A @ B
    for how_a, how_b in (("C", "C"), ("F", "C"), ("C", "F"), ("strided", "F")):
        out = NP.tril_matmul(layout(A, how_a), layout(B, how_b), upper_a=upper_a)
        assert out.shape == (n, n) and out.dtype == dtype
        assert _lower_equal(out, ref, dtype), (how_a, how_b)
        assert np.all(np.isfinite(out))


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_tril_matmul_of_adjoint_views_and_stacks(dtype):
    """The rules pass ``mH`` views (``Qbar^H Q``, ``R Rbar^H``) and stacks; a 2-D operand broadcasts."""
    Qb, Q = data((3, 600, 300), dtype, 9), data((3, 600, 300), dtype, 10)
    out = NP.tril_matmul(NP.mH(Qb), Q)
    assert _lower_equal(out, np.conj(np.swapaxes(Qb, -1, -2)) @ Q, dtype)
    R, Rb = np.triu(data((300, 300), dtype, 11)), data((3, 300, 300), dtype, 12)
    out = NP.tril_matmul(R, NP.mH(Rb), upper_a=True)
    assert out.shape == (3, 300, 300)
    assert _lower_equal(out, R @ np.conj(np.swapaxes(Rb, -1, -2)), dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("shape", [(300, 200), (200, 200), (200, 500)], ids=str)
def test_qr_gradient_through_the_new_primitives_matches_finite_differences(shape, dtype):
    """Shapes large enough for the trsm and panel paths: md.gradcheck (central differences on random directions)."""
    A = md.tensor(data(shape, dtype, 13), requires_grad=True)
    rep = md.gradcheck(lambda A: tuple(md.qr(A)), [A], fast=True, n_checks=4)
    assert rep.ok, rep
    B = md.tensor(data(shape[::-1], dtype, 14), requires_grad=True)
    rep = md.gradcheck(lambda B: tuple(md.lq(B)), [B], fast=True, n_checks=4)
    assert rep.ok, rep
