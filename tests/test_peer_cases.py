"""The case grids of peers' QR test-suites, written here from their case lists (not their code).

* TensorFlow ``tensorflow/python/kernel_tests/linalg/qr_op_test.py`` (``QrGradOpTest``): full-Jacobian gradient
  checks of reduced QR in float32/complex64 over rows, cols in {1, 2, 5, 10}, batch (), (3,) and (3, 2), entries
  uniform in [-1, 1], central-difference step ``0.1 eps^(1/3)``, tolerance 3e-2.
* JAX ``tests/linalg_test.py`` (``testQr``): jvp of QR at (2, 200, 100), (137, 9, 5), (20000, 2, 2) against
  finite differences along the tangent.
* PyTorch ``torch/testing/_internal/opinfo/definitions/linalg.py`` (``sample_inputs_linalg_qr_geqrf``): batches
  (), (0,), (2,), (1, 1) with m, n in {5, 2}, inputs built from distinct singular values.
* BackwardsLinalg.jl ``test/qr.jl``: scalar losses ``Re sum(Q b1) + Re sum(R b2)``; here also pivoted QR at
  60x20, 20x60, 40x40 and losses on one column of Q and one row of R; pivots against ``scipy.linalg.qr``.
"""
import itertools

import numpy as np
import pytest
import scipy.linalg

import matdiff as md
from matdiff.testing import factors, mh, svd_conditioned


def _uniform(shape, dtype, seed=42):
    rng = np.random.default_rng(seed)
    a = rng.uniform(-1, 1, shape)
    if np.dtype(dtype).kind == "c":
        a = a + 1j * rng.uniform(-1, 1, shape)
    return a.astype(dtype)


# -- TensorFlow: single-precision full Jacobians -------------------------------------------------------------
TF = [(dt, batch + (m, n)) for dt in (np.float32, np.complex64) for m, n in itertools.product((1, 2, 5, 10), repeat=2)
      for batch in ((), (3,), (3, 2))]


@pytest.mark.filterwarnings("ignore::matdiff.PrecisionWarning")
@pytest.mark.parametrize("dtype, shape", TF, ids=[f"{np.dtype(d).name}-{'x'.join(map(str, s))}" for d, s in TF])
def test_tensorflow_single_precision_grid(dtype, shape):
    step = 0.1 * np.finfo(dtype).eps ** (1 / 3)
    A = md.tensor(_uniform(shape, dtype), requires_grad=True)
    for k in (0, 1):        # TF checks Q and R as separate functions
        rep = md.gradcheck(lambda A: md.qr(A)[k], [A], eps=step, atol=3e-2, rtol=3e-2)
        assert rep.ok, rep


# -- JAX: jvp at large, many-small and tall batches -----------------------------------------------------------
@pytest.mark.parametrize("shape", [(2, 200, 100), (137, 9, 5), (20000, 2, 2)])
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_jax_jvp_shapes(shape, dtype):
    a = svd_conditioned(shape[:-2], *shape[-2:], cond=10, dtype=dtype, seed=1)
    da = _uniform(shape, dtype, seed=2)
    f = lambda A: tuple(md.qr(A))  # noqa: E731
    _, (dQ, dR) = md.jvp(f, [a], [da])
    h = 1e-6
    with md.no_grad():
        (Qp, Rp), (Qm, Rm) = md.qr(a + h * da), md.qr(a - h * da)
    for tangent, plus, minus in ((dQ, Qp, Qm), (dR, Rp, Rm)):
        numeric = (plus.data - minus.data) / (2 * h)
        assert np.abs(tangent - numeric).max() <= 1e-6 * max(1.0, np.abs(numeric).max())
    A = md.tensor(a, requires_grad=True)
    assert md.check_adjoint(f, [A], n_checks=1).ok


# -- PyTorch: zero-size batches and singular-value-built inputs ----------------------------------------------
TORCH = [(batch, m, n) for batch in ((), (0,), (2,), (1, 1)) for m, n in itertools.product((5, 2), repeat=2)]


@pytest.mark.parametrize("kind", ["qr", "lq"])
@pytest.mark.parametrize("form", ["graph", "fused", "pivoted"])
@pytest.mark.parametrize("batch, m, n", TORCH)
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_pytorch_opinfo_samples(batch, m, n, dtype, kind, form):
    a = svd_conditioned(batch, m, n, cond=30, dtype=dtype, seed=m * 10 + n)
    f = factors(kind, fused=form == "fused", pivoting=form == "pivoted")
    A = md.tensor(a, requires_grad=True)
    out = f(A)
    seeds = [np.ones(o.shape, dtype) for o in out]
    md.backward(list(out), seeds)
    assert A.grad.shape == a.shape and A.grad.dtype == a.dtype        # an empty batch: an empty gradient
    _, dots = md.jvp(f, [a], [np.ones_like(a)])
    assert [d.shape for d in dots] == [o.shape for o in out]
    if 0 not in batch:
        rep = md.gradcheck(f, [md.tensor(a, requires_grad=True)])
        assert rep.ok and rep.max_rel_err < 1e-6, rep


def test_an_empty_batch_checks_as_empty():
    A = md.tensor(np.zeros((0, 4, 3)), requires_grad=True)
    rep = md.gradcheck(lambda A: tuple(md.qr(A)), [A])
    assert rep.ok and rep.n_compared == 0


def test_an_empty_matrix_is_still_an_error():
    with pytest.raises(md.ShapeError, match="empty"):
        md.qr(md.tensor(np.zeros((2, 0, 3)), requires_grad=True))


# -- BackwardsLinalg.jl: scalar losses, pivoted shapes, pivots against SciPy ------------------------------------
PIVOTED = [(60, 20), (20, 60), (40, 40)]


def _losses(m, n, dtype, rng):
    k = min(m, n)
    b1 = rng.standard_normal((k, 1)).astype(dtype)
    b2 = rng.standard_normal((n, 1)).astype(dtype)
    w = rng.standard_normal((m, 1)).astype(dtype)
    j = k // 2
    def total(X):           # summed over the matrix axes only, so gradcheck's leading axis of perturbations broadcasts
        return md.sum(md.real(X), axis=(-2, -1))
    return {
        "Q b1 + R b2": lambda Q, R: total(Q @ b1) + total(R @ b2),
        "one column of Q": lambda Q, R: total(Q[..., j:j + 1] * w),
        "one row of R": lambda Q, R: total(R[..., k - 1:k, :] @ b2),
    }


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("m, n", PIVOTED)
def test_backwardslinalg_pivoted_losses(m, n, dtype):
    a = _uniform((m, n), dtype, seed=m + n)
    rng = np.random.default_rng(7)
    for name, loss in _losses(m, n, dtype, rng).items():
        for kind in (("qr", "lq") if name == "Q b1 + R b2" else ("qr",)):
            def f(A):
                if kind == "qr":
                    Q, R, _ = md.qr(A, pivoting=True)
                    return loss(Q, R)
                L, Q, _ = md.lq(md.adjoint(A), pivoting=True)   # LQ of A^H = (QR of A)^H: the same loss
                return loss(Q.mH, L.mH)
            rep = md.gradcheck(f, [md.tensor(a, requires_grad=True)])
            assert rep.ok and rep.max_rel_err < 1e-6, (name, kind, rep)


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("m, n", PIVOTED + [(5, 5), (3, 8), (8, 3)])
def test_pivots_equal_scipy(m, n, dtype):
    a = _uniform((2, m, n), dtype, seed=3)
    with md.no_grad():
        Q, R, perm = md.qr(a, pivoting=True)
        L, Q2, rperm = md.lq(a, pivoting=True)
    for i in range(2):
        np.testing.assert_array_equal(perm[i], scipy.linalg.qr(a[i], mode="r", pivoting=True)[1])
        np.testing.assert_array_equal(rperm[i], scipy.linalg.qr(mh(a[i]), mode="r", pivoting=True)[1])
    np.testing.assert_allclose(Q.data @ R.data, np.take_along_axis(a, perm[:, None, :], axis=-1), atol=1e-12)
    np.testing.assert_allclose(L.data @ Q2.data, np.take_along_axis(a, rperm[:, :, None], axis=-2), atol=1e-12)
