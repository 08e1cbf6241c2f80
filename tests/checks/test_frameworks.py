"""md.gradcheck / gradgradcheck / check_adjoint on PyTorch and JAX functions (matdiff/checks/frameworks.py): the
framework's own vjp against central differences, the same Report, and blame naming the wrong piece -- a user's
custom autograd.Function, a torch op, or an equation of a jaxpr."""
import numpy as np
import pytest

import matdiff as md

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
jax.config.update("jax_enable_x64", True)

rng = np.random.default_rng(7)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Small matrices: torch's second intra-op thread only waits on two shared cores (tests/bridges/conftest.py)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def T(shape, dtype=torch.float64, grad=True):
    a = rng.standard_normal(shape) + (1j * rng.standard_normal(shape) if dtype.is_complex else 0)
    return torch.tensor(a, dtype=dtype, requires_grad=grad)


def J(shape, complex_=False):
    return jnp.asarray(rng.standard_normal(shape) + (1j * rng.standard_normal(shape) if complex_ else 0))


def copyltu(M):
    return torch.tril(M) + torch.tril(M, -1).mH


def eq3(Q, R, Qb, Rb):
    """Eq 3 written in torch (Abar = [Qbar + Q copyltu(M)] R^{-H}, real input), for the user Functions below."""
    M = R @ Rb.mH - Qb.mH @ Q
    return torch.linalg.solve_triangular(R, (Qb + Q @ copyltu(M)).mH, upper=True).mH


def make_qr_function(scale=1.0, numpy_backward=False):
    """A user's QR autograd.Function with Eq 3 as its backward (times ``scale``: 1 is right, else a bug)."""
    class UserQR(torch.autograd.Function):
        @staticmethod
        def forward(A):
            Q, R = torch.linalg.qr(A)
            d = torch.sgn(torch.diagonal(R, dim1=-2, dim2=-1))      # matdiff's gauge: diag R > 0
            return Q * d.unsqueeze(-2), R * d.unsqueeze(-1)

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(*output)

        @staticmethod
        def backward(ctx, Qb, Rb):
            Q, R = ctx.saved_tensors
            if numpy_backward:             # a common mistake: right values, but no graph -> zero second derivatives
                q, r, qb, rb = (x.detach().numpy() for x in (Q, R, Qb, Rb))
                return torch.from_numpy(eq3(*(torch.from_numpy(x) for x in (q, r, qb, rb))).numpy())
            return eq3(Q, R, Qb, Rb) * scale
    return UserQR


# -- PyTorch --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
@pytest.mark.parametrize("shape", [(5, 3), (4, 4)])
def test_torch_qr_passes_with_the_full_report(dtype, shape):
    rep = md.gradcheck(lambda A: torch.linalg.qr(A), [T(shape, dtype)])
    assert rep.ok and rep.kind == "gradcheck"
    m, n = shape
    reals = 2 if dtype.is_complex else 1
    assert rep.n_compared == (m * n * reals) * (m * n + n * n) * reals
    assert rep.worst["ratio"] < 1 and rep.rows and "din0" in rep.worst["where"]


def test_torch_modes_fast_batched_second_order_and_adjoint():
    A = T((5, 3))
    assert md.gradcheck(lambda A: torch.linalg.qr(A), [A], fast=True).kind == "gradcheck(fast)"
    rep = md.gradcheck(lambda A: torch.linalg.qr(A), [T((3, 4, 3))], batched=True)
    assert rep.ok and "matrix" in rep.summary
    assert md.gradgradcheck(lambda A: torch.linalg.qr(A), [A]).ok
    assert md.check_adjoint(lambda A: torch.linalg.qr(A), [A]).ok


def test_torch_qr_at_the_identity_fails_and_blame_names_torch_linalg_qr():
    rep = md.gradcheck(lambda A: torch.linalg.qr(A), [torch.eye(4, dtype=torch.float64, requires_grad=True)])
    assert not rep.ok
    assert [c.op for c in rep.blame] == ["torch.linalg.qr"]
    assert rep.worst["abs_err"] > 1          # LAPACK's tau = 0 flips a sign under perturbation


def test_matdiff_torch_qr_passes_where_torch_fails():
    from matdiff import torch as mdt
    for A in (torch.eye(4, dtype=torch.float64), torch.triu(T((4, 4), grad=False)) + 4 * torch.eye(4)):
        assert md.gradcheck(lambda A: mdt.qr(A), [A.clone().requires_grad_(True)]).ok


def test_a_wrong_user_function_is_named_and_the_other_calls_cleared():
    UserQR = make_qr_function(scale=1.01)

    def model(A):
        Q, R = UserQR.apply(A)
        return Q.sin() * 2, R.sum(0)
    rep = md.gradcheck(model, [T((6, 4))])
    assert not rep.ok
    assert [c.op for c in rep.blame] == ["UserQR"]
    cleared = [c.op for c in rep.node_checks if c.ok]
    assert cleared == ["torch.Tensor.sin", "torch.Tensor.mul", "torch.Tensor.sum"]
    assert "UserQR" in str(rep) and "autograd.Function" in rep.blame[0].ref
    RightQR = make_qr_function()
    assert md.gradcheck(lambda A: RightQR.apply(A), [T((6, 4))]).ok


def test_a_backward_written_in_numpy_passes_gradcheck_and_fails_gradgradcheck_by_name():
    UserQR = make_qr_function(numpy_backward=True)
    A = T((5, 3))
    assert md.gradcheck(lambda A: UserQR.apply(A), [A]).ok
    rep = md.gradgradcheck(lambda A: UserQR.apply(A), [A])
    assert not rep.ok and rep.kind == "gradgradcheck"
    assert [c.op for c in rep.blame] == ["UserQR"] and rep.blame[0].order == 2


def test_only_the_tensors_that_require_grad_are_checked():
    A, B = T((3, 3)), T((3, 3), grad=False)
    rep = md.gradcheck(lambda A, B: A @ B, [A, B])
    assert rep.ok and rep.n_compared == 9 * 9


def test_a_function_that_does_not_broadcast_is_checked_slice_by_slice():
    def f(A):
        if A.dim() != 2:
            raise ValueError("2-D only")
        return A.T @ A
    assert md.gradcheck(f, [T((4, 3))]).ok


def test_a_complex_conjugation_bug_in_a_user_function_is_caught():
    class Square(torch.autograd.Function):
        @staticmethod
        def forward(z):
            return z * z.conj()

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])

        @staticmethod
        def backward(ctx, g):
            z, = ctx.saved_tensors
            return 2 * g.real * z.conj()             # should be 2 Re(g) z
    rep = md.gradcheck(lambda z: Square.apply(z).real, [T((3,), torch.complex128)])
    assert not rep.ok and [c.op for c in rep.blame] == ["Square"]


def test_check_adjoint_of_a_function_without_a_jvp_says_so():
    with pytest.raises(md.MatdiffError, match="jvp"):
        md.check_adjoint(lambda A: make_qr_function().apply(A), [T((4, 3))])


def test_bad_calls_get_matdiff_errors():
    with pytest.raises(md.MatdiffError, match="mix"):
        md.gradcheck(lambda a, b: a, [T((2, 2)), J((2, 2))])
    with pytest.raises(md.MatdiffError, match="returned"):
        md.gradcheck(lambda A: A.sum().item(), [T((2, 2))])


def test_float32_warns_and_checks():
    with pytest.warns(md.PrecisionWarning):
        assert md.gradcheck(lambda A: torch.linalg.qr(A), [T((4, 3), torch.float32)]).ok


# -- JAX --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("complex_", [False, True])
def test_jax_qr_passes_and_the_complex_convention_is_translated(complex_):
    A = J((5, 3), complex_)
    assert md.gradcheck(lambda A: jnp.linalg.qr(A), [A]).ok
    assert md.gradgradcheck(lambda A: jnp.linalg.qr(A), [A]).ok
    assert md.check_adjoint(lambda A: jnp.linalg.qr(A), [A]).ok


def test_jax_convention_a_rule_in_torch_convention_fails_and_jaxs_passes():
    def abs2(z):
        return (z * jnp.conj(z)).real

    def rule(conjugate):
        f = jax.custom_vjp(abs2)
        f.defvjp(lambda z: (abs2(z), z), lambda z, g: (2 * g * (jnp.conj(z) if conjugate else z),))
        return f
    z = J((3,), True)
    assert md.gradcheck(rule(conjugate=True), [z]).ok          # JAX's cotangent: the conjugate of torch's .grad
    rep = md.gradcheck(rule(conjugate=False), [z])             # PyTorch's convention inside a JAX rule: wrong
    assert not rep.ok and rep.blame[0].op.startswith("abs2")


def test_jax_blame_names_a_wrong_custom_vjp_and_clears_the_rest():
    @jax.custom_vjp
    def my_qr(A):
        return jnp.linalg.qr(A)

    def fwd(A):
        QR = jnp.linalg.qr(A)
        return QR, tuple(QR)

    def bwd(res, g):
        Q, R = res
        Qb, Rb = g
        M = R @ Rb.T - Qb.T @ Q
        M = jnp.tril(M) + jnp.tril(M, -1).T
        return (jax.scipy.linalg.solve_triangular(R, (Qb + Q @ M).T, lower=False, trans=1).T * 1.01,)
    my_qr.defvjp(fwd, bwd)

    @jax.jit
    def head(x):
        return jnp.sin(x) * 2

    def model(A):
        Q, R = my_qr(A)
        return head(Q) @ R
    rep = md.gradcheck(model, [J((6, 4))])
    assert not rep.ok
    assert [c.op for c in rep.blame] == ["my_qr (custom_vjp_call)"]
    assert "head (jit)" in [c.op for c in rep.node_checks if c.ok]
    assert "test_frameworks.py" in rep.blame[0].ref
    whole = md.gradcheck(jax.jit(model), [J((6, 4))])          # one jit equation: blame opens it
    assert [(c.number, c.op) for c in whole.blame] == [("1.1", "my_qr (custom_vjp_call)")]
    assert [c.op for c in whole.node_checks][:1] == ["model (jit)"]


def test_jax_pivoted_wide_qr_is_wrong_and_matdiff_jax_is_right():
    from matdiff import jax as mdj
    A = J((3, 5))
    rep = md.gradcheck(lambda A: jax.scipy.linalg.qr(A, pivoting=True, mode="economic")[:2], [A])
    assert not rep.ok                                        # JAX's own rule: the wide branch ignores the pivots
    assert rep.blame[-1].op == "qr" and rep.blame[-1].number.count(".") == 1     # the qr primitive, inside a jit
    assert md.gradcheck(lambda A: tuple(mdj.qr(A, pivoting=True))[:2], [A]).ok


def test_jax_batched_through_vmap():
    rep = md.gradcheck(lambda A: jax.vmap(jnp.linalg.qr)(A), [J((3, 5, 4))], batched=True)
    assert rep.ok and rep.kind == "gradcheck(batched)"
