"""Property-based checks (hypothesis): random shapes, dtypes and split points."""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import matdiff as md

shapes = st.tuples(st.integers(1, 5), st.integers(1, 5))
batches = st.sampled_from([(), (2,)])
dtypes = st.sampled_from([np.float64, np.complex128])
SETTINGS = settings(max_examples=30, deadline=None, derandomize=True,   # reproducible in CI
                    suppress_health_check=[HealthCheck.too_slow])


def _rand(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape) + (1j * rng.standard_normal(shape) if np.dtype(dtype).kind == "c" else 0)
    return a.astype(dtype)


@SETTINGS
@given(shape=shapes, batch=batches, dtype=dtypes, kind=st.sampled_from(["qr", "lq"]), fused=st.booleans(),
       pivoting=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_decompositions_reconstruct_and_gradcheck(shape, batch, dtype, kind, fused, pivoting, seed):
    a = _rand(batch + shape, dtype, seed)
    A = md.tensor(a, requires_grad=True)
    fn = md.qr if kind == "qr" else md.lq
    out = fn(A, fused=fused, pivoting=pivoting)
    left, right = out[0].data, out[1].data
    prod = left @ right
    if pivoting:
        axis = -1 if kind == "qr" else -2
        perm = out[2][..., None, :] if kind == "qr" else out[2][..., :, None]
        a = np.take_along_axis(a, perm, axis)
    np.testing.assert_allclose(prod, a, atol=1e-10 * (1 + np.abs(a).max()))
    f = lambda A: tuple(fn(A, fused=fused, pivoting=pivoting)[:2])  # noqa: E731
    rep = md.gradcheck(f, [A])
    assert rep.ok, rep
    assert md.check_adjoint(f, [A]).ok


@SETTINGS
@given(n=st.integers(1, 8), data=st.data(), dtype=dtypes)
def test_split_then_concat_is_identity_with_identity_gradient(n, data, dtype):
    points = sorted(data.draw(st.lists(st.integers(0, n), max_size=3)))
    A = md.tensor(_rand((3, n), dtype, n), requires_grad=True)
    parts = md.split(A, points, axis=-1)
    B = md.concat(list(parts), axis=-1)
    np.testing.assert_array_equal(B.data, A.data)
    G = _rand((3, n), dtype, n + 1)
    md.backward([B], [G])
    np.testing.assert_array_equal(A.grad, G)


@SETTINGS
@given(n=st.integers(1, 7), seed=st.integers(0, 2 ** 16), axis=st.sampled_from([-1, -2]))
def test_permute_backward_is_the_inverse_permutation(n, seed, axis):
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    A = md.tensor(rng.standard_normal((n, n)), requires_grad=True)
    B = md.permute(A, perm, axis=axis)
    G = rng.standard_normal((n, n))
    md.backward([B], [G])
    inv = np.argsort(perm)
    expected = G[:, inv] if axis == -1 else G[inv, :]
    np.testing.assert_array_equal(A.grad, expected)
