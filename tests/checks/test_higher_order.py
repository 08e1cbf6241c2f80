"""Higher order: the backward pass recorded as a graph (create_graph=True) and differentiated again.

Hessian-vector products through every decomposition form against central differences of the gradient,
gradgradcheck on every registered op (NumPy and array_api_strict), a third derivative, agreement with JAX's
``jvp(grad(f))`` where JAX has the case, and the errors a user can meet.
"""
import itertools

import numpy as np
import pytest

import matdiff as md
from matdiff.suite import CASES
from matdiff.testing import BACKENDS, factors, leaf, rand


def _c(rng, shape, dtype):
    a = rng.standard_normal(shape)
    return (a + 1j * rng.standard_normal(shape) if np.dtype(dtype).kind == "c" else a).astype(dtype)


def _loss(kind, form, W):
    f = factors(kind, fused=form == "fused", pivoting=form == "pivoted")

    def L(A):
        F1, F2 = f(A)
        return md.sum(md.real(F1 * W[0])) + md.sum(md.real(F2 * F2 * W[1]))   # F2 enters twice: a real Hessian
    return L


def _gradient(L, a):
    A = md.tensor(a, requires_grad=True)
    return md.grad(L(A), [A])[0]


FORMS = list(itertools.product(["qr", "lq"], ["graph", "fused", "pivoted"], [(4, 4), (5, 3), (3, 5), (2, 3, 4)],
                               [np.float64, np.complex128]))


@pytest.mark.parametrize("kind, form, shape, dtype", FORMS,
                         ids=[f"{k}-{f}-{'x'.join(map(str, s))}-{np.dtype(d).name}" for k, f, s, d in FORMS])
def test_hessian_vector_products_equal_differences_of_the_gradient(kind, form, shape, dtype):
    rng = np.random.default_rng(sum(shape) + len(form))
    a = _c(rng, shape, dtype)
    with md.no_grad():
        outs = factors(kind)(md.tensor(a))
    L = _loss(kind, form, [_c(rng, o.shape, dtype) for o in outs])
    A = md.tensor(a, requires_grad=True)
    g, = md.grad(L(A), [A], create_graph=True)
    assert isinstance(g, md.Tensor) and g.node is not None
    np.testing.assert_allclose(g.data, _gradient(L, a), rtol=1e-12, atol=1e-12)       # the same first derivative
    V = _c(rng, shape, dtype)
    hv, = md.grad([g], [A], [V])                                                        # H V
    h = 1e-5
    fd = (_gradient(L, a + h * V) - _gradient(L, a - h * V)) / (2 * h)
    assert np.abs(hv - fd).max() <= 1e-6 * max(1.0, np.abs(fd).max())


OPS = [(op, i, be) for op in sorted(CASES) for i, case in enumerate(CASES[op])
       for be in (case[3] if len(case) > 3 else BACKENDS)]


@pytest.mark.parametrize("op, i, backend_name", OPS, ids=[f"{o}-{i}-{b}" for o, i, b in OPS])
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_gradgradcheck_of_every_op(op, i, backend_name, dtype):
    label, shapes, f, *_ = CASES[op][i]
    xs = [leaf(s, dtype, seed=j + 3, backend=backend_name) for j, s in enumerate(shapes)]
    rep = md.gradgradcheck(f, xs)
    assert rep.ok and rep.kind == "gradgradcheck", rep


def test_gradgradcheck_fast_and_its_report():
    A = leaf((5, 3), np.complex128)
    rep = md.gradgradcheck(lambda A: tuple(md.qr(A)), [A], fast=True, n_checks=4)
    assert rep.ok and rep.kind == "gradgradcheck(fast)" and rep.n_compared == 4 and "random directions" in rep.summary


def test_gradgradcheck_catches_a_wrong_second_derivative_and_blames_the_node():
    @md.register("sq_bad_jvp2", ref="C = A ∘ A whose vjp is right only to first order")
    class sq:
        def forward(ctx, A):
            ctx.save(A)
            return A * A

        def vjp(ctx, Cbar):
            (A,) = ctx.saved
            frozen = ctx.b.own(A.data if isinstance(A, md.Tensor) else A)   # A's *values*: their derivative is lost
            return (2 * ctx.b.conj(frozen) * Cbar,)

        def jvp(ctx, dA):
            (A,) = ctx.saved
            return 2 * A * dA
    try:
        A = leaf((2, 2), seed=5)
        assert md.gradcheck(sq, [A]).ok                     # right to first order ...
        rep = md.gradgradcheck(lambda A: md.sum(sq(A) @ A, axis=-1), [A])
        assert not rep.ok                                    # ... wrong to second
        assert [c.op for c in rep.blame] == ["sq_bad_jvp2"] and rep.blame[0].order == 2
        assert "differentiated again" in str(rep) and "`matmul`" in str(rep)
    finally:
        md.unregister("sq_bad_jvp2")


def test_a_third_derivative():
    a = rand((3, 3), seed=2)
    A = md.tensor(a, requires_grad=True)
    L = md.sum(A * A * A * A)                                 # d3L/dA3 [u, u] at A = 24 A u u (entrywise)
    g, = md.grad(L, [A], create_graph=True)
    u = np.ones((3, 3))
    h1, = md.grad([g], [A], [u], create_graph=True)           # 12 A^2 u
    h2, = md.grad([h1], [A], [u])
    np.testing.assert_allclose(h2, 24 * a * u * u, rtol=1e-12)


def test_backward_with_create_graph_leaves_tensors_in_grad():
    A = leaf((4, 3), name="A")
    L = md.sum(md.real(md.qr(A).R * md.qr(A).R))
    L.backward(create_graph=True)
    assert isinstance(A.grad, md.Tensor)
    V = rand((4, 3), seed=9)
    hv, = md.grad([A.grad], [A], [V])
    assert hv.shape == (4, 3) and np.isfinite(hv).all()


def test_backward_nodes_are_marked_for_drawings():
    A = leaf((3, 5), name="A")
    with md.Tape() as tape:
        g, = md.grad(md.sum(md.qr(A).R), [A], create_graph=True)
    kinds = {n.origin for n in tape}
    assert kinds == {None, "backward"}
    assert "solve_triangular" in {n.op.name for n in tape if n.origin == "backward"}   # Eq 3's R^{-H}, as a node


def test_an_op_that_saves_derived_arrays_cannot_be_differentiated_twice():
    @md.register("saves_derived", ref="C = 2 A, saving A^2 (derived)")
    class op:
        def forward(ctx, A):
            ctx.save(A * A)
            return 2 * A

        def vjp(ctx, Cbar):
            return (2 * Cbar,)

        def jvp(ctx, dA):
            return 2 * dA
    try:
        A = leaf((2, 2))
        with pytest.raises(md.MatdiffError, match="neither one of its inputs nor one of its outputs.*create_graph"):
            md.grad(md.sum(op(A)), [A], create_graph=True)
        assert md.grad(md.sum(op(A)), [A])[0].shape == (2, 2)           # first order is unaffected
    finally:
        md.unregister("saves_derived")


# -- JAX, where it has the case: deep/square QR, real and complex, gauge-invariant losses --------------------
@pytest.mark.parametrize("shape", [(5, 3), (4, 4)])
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_agrees_with_jax_jvp_of_grad(shape, dtype):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    rng = np.random.default_rng(11)
    a, V = _c(rng, shape, dtype), _c(rng, shape, dtype)
    k = min(shape)
    WQ, WR = rng.standard_normal((shape[0], k)), rng.standard_normal((k, shape[1]))

    def loss_jax(x):            # |Q|^2 and |R|^2 weighted: invariant under the sign/phase gauge of each column
        Q, R = jnp.linalg.qr(x)
        return jnp.sum(jnp.abs(Q) ** 2 * WQ) + jnp.sum(jnp.abs(R) ** 2 * WR)

    def loss_md(A):
        Q, R = md.qr(A)
        return md.sum(md.real(Q * Q.conj()) * WQ) + md.sum(md.real(R * R.conj()) * WR)

    A = md.tensor(a, requires_grad=True)
    g, = md.grad(loss_md(A), [A], create_graph=True)
    hv, = md.grad([g], [A], [V])
    # JAX's gradient of a real function of complex x is conj of PyTorch's convention; its jvp(grad) likewise
    _, hv_jax = jax.jvp(jax.grad(loss_jax), (jnp.asarray(a),), (jnp.asarray(V),))
    hv_jax = np.asarray(hv_jax)
    expected = np.conj(hv_jax) if np.iscomplexobj(a) else hv_jax
    np.testing.assert_allclose(hv, expected, rtol=1e-9, atol=1e-9)
