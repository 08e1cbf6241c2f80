"""matdiff.jax: values and gradients equal matdiff's on NumPy (JAX's complex gradient is the conjugate of
matdiff's: translated and tested); jax.test_util.check_grads to second order, forward and reverse; jit and vmap;
rank, bad input; and the pinned cases where jnp.linalg.qr itself is wrong are right here."""
import numpy as np
import pytest

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
from jax.test_util import check_grads  # noqa: E402

import matdiff as md  # noqa: E402
import matdiff.jax as mj  # noqa: E402

# square, deep, wide; deep and wide batched (a batch of each: one XLA compile per shape and case, ~0.5 s each, so no
# separate unbatched deep/wide -- those are checked against differences by check_grads below)
SHAPES = [(3, 3), (2, 4, 2), (2, 2, 4)]


def _rand(shape, cplx, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape) + (1j * rng.standard_normal(shape) if cplx else 0)


def _f(kind, pivoting):
    fn = mj.qr if kind == "qr" else mj.lq
    return lambda A: tuple(fn(A, pivoting=pivoting)[:2])


@pytest.mark.parametrize("pivoting", [False, True])
@pytest.mark.parametrize("cplx", [False, True], ids=["real", "complex"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("kind", ["qr", "lq"])
def test_values_and_gradients_equal_matdiff_on_numpy(kind, shape, cplx, pivoting):
    a, fn = _rand(shape, cplx), (mj.qr if kind == "qr" else mj.lq)
    ref = (md.qr if kind == "qr" else md.lq)(t := md.tensor(a, requires_grad=True), pivoting=pivoting)
    G = [_rand(r.shape, cplx, seed=1 + i) for i, r in enumerate(ref[:2])]
    md.backward(list(ref[:2]), G)

    def loss(A):                    # the values and the gradient from one compiled function: one XLA compile a case
        outs = fn(A, pivoting=pivoting)
        return sum(jnp.real(jnp.sum(jnp.conj(g) * o)) for g, o in zip(G, outs[:2])), tuple(outs)

    (_, outs), g = jax.jit(jax.value_and_grad(loss, has_aux=True))(jnp.asarray(a))
    g = np.asarray(g)
    np.testing.assert_allclose(np.conj(g), t.grad, rtol=0, atol=1e-12)      # JAX's convention: the conjugate
    if cplx:
        assert np.abs(g - t.grad).max() > 1e-3                              # ... which really differs
    for o, r in zip(outs, ref):
        np.testing.assert_allclose(np.asarray(o), r.data if hasattr(r, "data") else r, rtol=0, atol=1e-12)
    d = np.diagonal(np.asarray(outs[1] if kind == "qr" else outs[0]), axis1=-2, axis2=-1)
    assert np.all(d.imag == 0) and np.all(d.real >= 0)


# check_grads to order 2 costs ~10 s a case on this 2-core machine (eager tracing): one case per shape class, real
# and complex spread over them; the gradients of every case are checked against matdiff's above
@pytest.mark.parametrize("kind, shape, cplx, order", [("qr", (3, 2), True, 1), ("qr", (2, 3), False, 2),
                                                      ("lq", (3, 2), False, 1), ("lq", (2, 2, 3), True, 2)])
def test_check_grads_forward_and_reverse(kind, shape, cplx, order):
    check_grads(_f(kind, False), (jnp.asarray(_rand(shape, cplx, seed=2)),), order=order, modes=("fwd", "rev"))


@pytest.mark.parametrize("kind, shape, cplx", [("qr", (2, 2, 3), True), ("lq", (3, 2), False)])
def test_check_grads_pivoted(kind, shape, cplx):
    check_grads(_f(kind, True), (jnp.asarray(_rand(shape, cplx, seed=3)),), order=1, modes=("fwd", "rev"))


def test_jit_vmap_and_higher_order_agree():
    A = jnp.asarray(_rand((3, 4, 3), False))
    loss = lambda a: mj.qr(a, pivoting=True).R.sum() + jnp.sum(mj.lq(a).Q ** 3)  # noqa: E731
    per, g = jax.jit(jax.vmap(jax.grad(loss))), jax.jit(jax.grad(loss))
    np.testing.assert_allclose(per(A)[1], g(A[1]), rtol=0, atol=1e-12)
    cube = lambda a: jnp.sum(mj.qr(a).Q ** 3)  # noqa: E731
    a, v, h = A[0, :, :2], jnp.asarray(_rand((4, 2), False, seed=9)), 1e-5
    H = jax.jit(jax.hessian(cube))(a).reshape(8, 8)
    np.testing.assert_allclose(H, H.T, atol=1e-10)                                  # a Hessian is symmetric
    gc = jax.jit(jax.grad(cube))
    fd = (gc(a + h * v) - gc(a - h * v)) / (2 * h)                                  # H v by differences of grads
    np.testing.assert_allclose((H @ v.reshape(8)).reshape(4, 2), fd, atol=1e-6)


# -- rank and bad input ------------------------------------------------------------------------------------------
def test_rank_deficient_raises_eagerly_and_is_nan_under_jit():
    Z = jnp.zeros((3, 3))
    with pytest.raises(md.RankDeficientError, match="singular to working precision"):
        jax.grad(lambda a: mj.qr(a).R.sum())(Z)
    W = jnp.asarray([[1.0, 2.0, 3.0], [2.0, 4.0, 1.0]])
    with pytest.raises(md.RankDeficientError, match=r"matdiff.jax.qr\(A, pivoting=True\)"):
        jax.grad(lambda a: mj.qr(a).R.sum())(W)
    assert np.isfinite(jax.grad(lambda a: mj.qr(a, pivoting=True).R.sum())(W)).all()
    assert np.isnan(jax.jit(jax.grad(lambda a: mj.lq(a).Q.sum()))(Z)).all()
    with pytest.warns(md.IllConditionedWarning, match="NaN for that matrix"):
        assert np.isnan(jax.grad(lambda a: mj.qr(a, check_rank="warn").R.sum())(Z)).all()


def test_a_nan_input_under_eager_differentiation_gets_the_input_error():
    """Under eager grad/jacfwd/jvp the input reaches matdiff.jax as a tracer; the derivative still sees its values
    and refuses a NaN or inf with the input check's error -- here a NaN in a wide matrix's trailing columns, which
    the QR node (the leading block) never sees. Under jit the documented NaN policy stays."""
    W = jnp.asarray(_rand((3, 5), False)).at[1, 4].set(jnp.nan)
    for derivative in (lambda: jax.grad(lambda a: mj.qr(a).R.sum())(W), lambda: jax.jacfwd(lambda a: mj.lq(a).L)(W.T),
                       lambda: jax.jvp(lambda a: mj.qr(a).Q, (W,), (W,))):
        with pytest.raises(md.NonFiniteError, match="NaN or inf"):
            derivative()
    assert np.isnan(jax.jit(jax.grad(lambda a: mj.qr(a).R.sum()))(W)).any()


@pytest.mark.parametrize("bad, error, match", [
    (jnp.ones(3), md.ShapeError, "at least 2 axes"),
    (jnp.ones((0, 3)), md.ShapeError, "empty 0x3"),
    (jnp.ones((2, 2), dtype=jnp.int32), md.DTypeError, "float32/64 or complex64/128"),
    (jnp.asarray([[1.0, jnp.nan], [0.0, 1.0]]), md.NonFiniteError, "NaN or inf"),
    ([[1.0, 0.0], [0.0, 1.0]], md.MatdiffError, "takes a JAX array"),
])
def test_bad_input_gets_matdiffs_errors(bad, error, match):
    for fn in (mj.qr, mj.lq):
        with pytest.raises(error, match=match):
            fn(bad)


def test_complete_mode_values_and_refusal():
    A = jnp.asarray(_rand((4, 2), False))
    Q, R = mj.qr(A, mode="complete")
    assert Q.shape == (4, 4) and R.shape == (4, 2)
    np.testing.assert_allclose(Q @ R, A, atol=1e-12)
    with pytest.raises(md.MatdiffError, match="not differentiable"):
        jax.grad(lambda a: mj.qr(a, mode="complete").Q.sum())(A)


# -- pinned: where jnp.linalg.qr itself is wrong (JAX 0.10.2, measured) -------------------------------------------
def _fd_grad(f, a, h=1e-6):
    f, g = jax.jit(f), np.zeros_like(a)           # one compile for the 2 a.size evaluations
    for i in np.ndindex(a.shape):
        e = np.zeros_like(a)
        e[i] = h
        g[i] = (f(jnp.asarray(a + e)) - f(jnp.asarray(a - e))) / (2 * h)
    return g


def test_pivoted_wide_right_here_wrong_in_jax():
    a = _rand((2, 4), False, seed=0)
    mine = lambda A: jnp.sum(jnp.sin(mj.qr(A, pivoting=True).R))  # noqa: E731
    np.testing.assert_allclose(jax.grad(mine)(jnp.asarray(a)), _fd_grad(mine, a), atol=1e-6)
    theirs = lambda A: jnp.sum(jnp.sin(jax.scipy.linalg.qr(A, pivoting=True, mode="economic")[1]))  # noqa: E731
    if jax.__version__ == "0.10.2":       # the wide branch uses the unpermuted columns: 0.14-0.75 off
        assert np.abs(jax.grad(theirs)(jnp.asarray(a)) - _fd_grad(theirs, a)).max() > 1e-3


def test_pivoted_batched_works_here_crashes_in_jax():
    A = jnp.asarray(_rand((2, 4, 3), False))
    g = jax.grad(lambda a: mj.qr(a, pivoting=True).R.sum())(A)
    assert g.shape == A.shape and np.isfinite(g).all()
    if jax.__version__ == "0.10.2":
        with pytest.raises(Exception, match="same number of batch dimensions"):
            jax.grad(lambda a: jax.scipy.linalg.qr(a, pivoting=True, mode="economic")[1].sum())(A)


@pytest.mark.parametrize("which", ["triangular", "identity"])
def test_triangular_and_identity_input_right_here(which):
    a = np.triu(_rand((3, 3), False)) if which == "triangular" else np.eye(3)
    check_grads(_f("qr", False), (jnp.asarray(a),), order=1, modes=("fwd", "rev"))
    if jax.__version__ == "0.10.2":
        with pytest.raises(AssertionError):
            check_grads(lambda A: tuple(jnp.linalg.qr(A)), (jnp.asarray(a),), order=1, modes=("rev",))


_STACK_GRAD = """
import jax, jax.numpy as jnp
jax.config.update("jax_enable_x64", True)
import matdiff.jax as mj
def loss(A):
    return jnp.sum(mj.qr(A).Q ** 3) + jnp.sum(mj.qr(A).R ** 3)
A = jax.random.normal(jax.random.PRNGKey(0), (256, 32, 16), dtype=jnp.float64)
B = jax.random.normal(jax.random.PRNGKey(1), (8, 80, 70), dtype=jnp.float64)
for g, X in [(jax.jit(jax.grad(loss)), A), (jax.jit(jax.vmap(jax.grad(loss))), A), (jax.jit(jax.grad(loss)), B)]:
    for _ in range(60):
        g(X).block_until_ready()
print("ran")
"""


def test_jit_grad_of_a_stack_does_not_hang_in_jaxlibs_batched_trsm():
    """jaxlib 0.10.2's batched CPU triangular solve deadlocked within 11 calls of this (5 runs of 5, 2 cores), for
    jnp.linalg.qr's own gradient too, and under vmap of a one-matrix gradient; the backend applies a small CPU
    triangle as its inverse (batched matmuls) and solves a stack of larger ones one matrix at a time (``lax.map``)
    instead. In a process of its own, with a time limit, so that a hang fails here instead of stalling the suite."""
    import subprocess
    import sys
    try:
        r = subprocess.run([sys.executable, "-c", _STACK_GRAD], capture_output=True, text=True, timeout=240)
    except subprocess.TimeoutExpired:
        pytest.fail("jit(grad) of matdiff.jax.qr on a stack hung (60 calls each did not finish in 240 s)")
    assert r.returncode == 0 and r.stdout.strip() == "ran", r.stderr[-2000:]


@pytest.mark.parametrize("k", [3, 65], ids=["inverse", "solve"])    # the two CPU paths: k <= 64 and above
@pytest.mark.parametrize("cplx", [False, True], ids=["real", "complex"])
def test_the_backends_triangular_solve_equals_numpys(k, cplx):
    """Every side, triangle and adjoint, a stack and a 2-D T broadcast over one; the other triangle holds garbage
    that neither backend may read."""
    from matdiff.backend.jax_backend import jax_backend
    NP, JB = md.backend.get("numpy"), jax_backend()
    T = _rand((2, k, k), cplx, 4) + 3 * k ** 0.5 * np.eye(k)
    for lower in (False, True):
        for side in ("left", "right"):
            for adjoint in (False, True):
                for t, B in [(T, _rand((2, k, 3) if side == "left" else (2, 3, k), cplx, 5)),
                             (T[0], _rand((2, k, 3) if side == "left" else (2, 3, k), cplx, 6))]:
                    want = NP.solve_triangular(t, B, lower=lower, side=side, adjoint=adjoint)
                    got = JB.solve_triangular(jnp.asarray(t), jnp.asarray(B), lower=lower, side=side, adjoint=adjoint)
                    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, atol=1e-12,
                                               err_msg=f"lower={lower} side={side} adjoint={adjoint} T{t.shape}")


def test_a_large_triangle_gives_matdiffs_gradient_too():
    """Above 64 columns the backend solves (``lax.map`` for a stack): values and gradient equal matdiff on NumPy."""
    a = _rand((2, 70, 66), True, 7)
    ref = md.qr(t := md.tensor(a, requires_grad=True))
    G = [_rand(r.shape, True, seed=8 + i) for i, r in enumerate(ref)]
    md.backward(list(ref), G)
    g = jax.jit(jax.grad(lambda A: sum(jnp.real(jnp.sum(jnp.conj(w) * o)) for w, o in zip(G, mj.qr(A)))))(
        jnp.asarray(a))
    np.testing.assert_allclose(np.conj(np.asarray(g)), t.grad, rtol=0, atol=1e-11)
