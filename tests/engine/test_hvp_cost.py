"""Hessian-vector products through QR: what they recompute (issue 22, point 5), and that the savings keep them right.

A create_graph sweep fingerprints a leaf of a node it records only if the leaf is the user's (reusing the fingerprint
it has just verified) or a view of one; an array the sweep made itself is made read-only instead. A sweep computes a
large leaf's CRC once, however many nodes stamp it. hcopyltu records 3 nodes and tril_matmul one matmul. Values are
checked against central differences of the gradient, never against the implementation.
"""
import zlib

import numpy as np
import pytest

import matdiff as md
from matdiff.engine import tape as _tape
from matdiff.errors import GraphError


def _rand(shape, dtype="float64", seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape)
    if dtype == "complex128":
        a = a + 1j * rng.standard_normal(shape)
    return a


def _problem(shape, dtype):
    """benchmarks/worker.py's hvp_problem, smaller: A, WQ, WR, V."""
    k = min(shape)
    return (_rand(shape, dtype, 20), _rand((shape[0], k), dtype, 21), _rand((k, shape[1]), dtype, 22),
            _rand(shape, dtype, 23))


def _loss(WQ, WR):
    def loss(A):
        Q, R = md.qr(A)
        return md.sum(md.real(Q * WQ)) + md.sum(md.real(R * R * WR))
    return loss


def _grad(loss, a):
    A = md.tensor(a.copy(), requires_grad=True)
    return md.grad(loss(A), [A])[0]


def _hvp(loss, a, v):
    A = md.tensor(a.copy(), requires_grad=True)
    g, = md.grad(loss(A), [A], create_graph=True)
    return md.grad([g], [A], [v])[0]


@pytest.mark.parametrize("shape, dtype", [((9, 5), "float64"), ((5, 9), "float64"), ((6, 6), "complex128")])
def test_hvp_through_qr_matches_central_differences_of_the_gradient(shape, dtype):
    a, WQ, WR, V = _problem(shape, dtype)
    loss, eps = _loss(WQ, WR), 1e-5
    fd = (_grad(loss, a + eps * V) - _grad(loss, a - eps * V)) / (2 * eps)      # H V = d/dt grad(A + t V)
    hv = _hvp(loss, a, V)
    # H is the Hessian of a real function of the real and imaginary parts: <V, grad> pairs as Re <V, .>
    np.testing.assert_allclose(hv, fd, rtol=1e-6, atol=1e-6 * np.abs(fd).max())


def test_an_hvp_fingerprints_each_large_leaf_once_per_sweep(monkeypatch):
    a, WQ, WR, V = _problem((80, 40), "float64")      # every array above the 4 KiB of a bytes stamp
    loss = _loss(WQ, WR)
    _hvp(loss, a, V)                                   # warm
    sizes = []
    real = zlib.crc32
    monkeypatch.setattr(_tape.zlib, "crc32", lambda x, *r: sizes.append(np.asarray(x).shape) or real(x, *r))
    hv = _hvp(loss, a, V)
    # forward: A, WQ, WR; the create_graph sweep verifies the same three; the second sweep verifies A. (Before:
    # 27 -- every mask and every adjoint made from constants, in both sweeps.)
    assert len(sizes) <= 7, sizes
    np.testing.assert_array_equal(hv, _hvp(loss, a, V))


def test_a_leaf_written_in_place_between_the_two_sweeps_is_refused():
    a, WQ, WR, V = _problem((80, 40), "float64")
    A = md.tensor(a.copy(), requires_grad=True)
    g, = md.grad(_loss(WQ, WR)(A), [A], create_graph=True)
    A.data[3, 2] += 1.0                                # large: a CRC stamp, kept from the forward by the sweep
    with pytest.raises(GraphError, match="written in place"):
        md.grad([g], [A], [V])


def test_a_seed_written_in_place_between_the_two_sweeps_is_refused():
    a = _rand((80, 40), seed=1)
    sq, sr = _rand((80, 40), seed=2), _rand((40, 40), seed=3)      # the user's seeds; the sweep uses sq^H, a view
    A = md.tensor(a, requires_grad=True)
    Q, R = md.qr(A)
    g, = md.grad([Q, R], [A], [sq, sr], create_graph=True)
    sq[5, 7] -= 2.0
    with pytest.raises(GraphError, match="written in place"):
        md.grad([g], [A], [_rand((80, 40), seed=4)])


def test_an_array_the_sweep_made_is_read_only_not_stamped():
    a, WQ, WR, V = _problem((80, 40), "float64")
    A = md.tensor(a, requires_grad=True)
    L = _loss(WQ, WR)(A)
    with md.Tape() as recorded:
        md.grad(L, [A], create_graph=True)
    made = [t for n in recorded for t in n.inputs if t.node is None and t is not A]
    assert made and all(not t._data.flags.writeable for t in made)
    stamped = {id(s[0]) for n in recorded for s in (n.stamps or ())}
    assert not stamped & {id(t) for t in made}
    with pytest.raises(ValueError, match="read-only"):
        made[0]._data[...] = 0


def test_qr_backward_recorded_by_create_graph_is_small():
    a, WQ, WR, V = _problem((9, 5), "float64")
    A = md.tensor(a, requires_grad=True)
    L = _loss(WQ, WR)(A)
    with md.Tape() as recorded:
        md.grad(L, [A], create_graph=True)
    names = [n.op.name for n in recorded]
    # Eq 3's M: 2 matmuls (no masks); hcopyltu: mul, adjoint, add; Q hcopyltu(M): matmul; R^{-H}: a solve
    assert names.count("matmul") == 3 and "sum" not in names[names.index("matmul"):], names
    assert len(names) <= 18, names                     # 25 with masks and the generic hcopyltu


@pytest.mark.parametrize("lower", [False, True])
def test_solve_triangular_vjp_of_a_large_triangle_matches_central_differences(lower):
    n, p = 150, 3                                      # above tril_matmul's 128-row leaf: its panels run
    rng = np.random.default_rng(7)
    T = np.tril(rng.standard_normal((n, n))) if lower else np.triu(rng.standard_normal((n, n)))
    T += 4 * n ** 0.5 * np.eye(n)
    B, W, dT = rng.standard_normal((n, p)), rng.standard_normal((n, p)), rng.standard_normal((n, n))
    dT = np.tril(dT) if lower else np.triu(dT)
    Tt = md.tensor(T, requires_grad=True)
    Bt = md.tensor(B, requires_grad=True)
    md.sum(md.solve_triangular(Tt, Bt, lower=lower) * W).backward()

    def f(t):
        return np.sum(np.linalg.solve(t, B) * W)
    eps = 1e-6
    fd = (f(T + eps * dT) - f(T - eps * dT)) / (2 * eps)
    np.testing.assert_allclose(np.sum(Tt.grad * dT), fd, rtol=1e-7)
    off = np.triu(np.ones((n, n)), 1) if lower else np.tril(np.ones((n, n)), -1)
    assert np.all(Tt.grad * off == 0)                  # the other triangle is never read: no gradient there


def test_an_array_a_user_op_stored_is_stamped_not_frozen():
    """A user op's ctx attribute is the user's memory: the sweep stamps it where a recorded node uses it (a write
    before the second sweep is refused) and leaves it writable."""
    W = _rand((80, 40), seed=5)

    @md.register("times_w_hvp_test", ref="C = A ∘ W (W a constant attribute);  Abar = Cbar ∘ W")
    class times_w:
        def forward(ctx, A):
            ctx.W = W
            return A * W

        def vjp(ctx, Cbar):
            return (Cbar * ctx.W,)

        def jvp(ctx, dA):
            return dA * ctx.W
    try:
        A = md.tensor(_rand((80, 40), seed=6), requires_grad=True)
        C = times_w(A)
        g, = md.grad(md.sum(C * C), [A], create_graph=True)     # g = 2 (A ∘ W) ∘ W: a recorded node reads W
        assert W.flags.writeable
        hv, = md.grad([g], [A], [np.ones((80, 40))], retain_graph=True)
        np.testing.assert_allclose(hv, 2 * W * W, rtol=1e-15)
        W[0, 0] += 1.0
        with pytest.raises(GraphError, match="written in place"):
            md.grad([g], [A], [np.ones((80, 40))])
    finally:
        md.unregister("times_w_hvp_test")
