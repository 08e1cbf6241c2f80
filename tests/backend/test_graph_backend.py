"""The Tensor backend (ops/on_tensors.py) directly: each differentiable primitive gives the array backend's
numbers and is differentiable twice (gradgradcheck through it); a forward-only primitive on a Tensor is a clear
MatdiffError; the backends' fast ``hcopyltu`` equals the paper's literal ``symh(E ∘ M)``."""
import numpy as np
import pytest

import matdiff as md
from matdiff import paper
from matdiff.backend import contract
from matdiff.backend.base import Backend
from matdiff.ops.on_tensors import GraphBackend, NotRecordableError
from matdiff.testing import BACKENDS, leaf, rand

_MASK = np.array([[True, False, True, False], [False, True, True, False], [True, True, False, False]])
_PERM = np.array([2, 0, 3, 1])


def _solve(lower, side, adjoint):
    def f(b, T, B):
        T = T + 3 * b.eye(3, b.real_dtype(T.dtype))                    # well conditioned
        return b.solve_triangular(T, B if side == "left" else b.mT(B), lower=lower, side=side, adjoint=adjoint)
    return f


# name -> (input shapes, b, *inputs -> result): each differentiable primitive of the contract, called as a rule would
CALLS = {
    "mT": ([(2, 3, 4)], lambda b, A: b.mT(A)),
    "mH": ([(2, 3, 4)], lambda b, A: b.mH(A)),
    "conj": ([(3, 4)], lambda b, A: b.conj(A)),
    "real": ([(3, 4)], lambda b, A: b.real(A)),
    "imag": ([(3, 4)], lambda b, A: b.imag(A * (1 + 2j))),
    "where": ([(3, 4), (3, 4)], lambda b, A, B: b.where(b.from_host(_MASK), A, B)),
    "tril": ([(4, 4)], lambda b, A: b.tril(A, -1)),
    "triu": ([(2, 3, 4)], lambda b, A: b.triu(A, 1)),
    "diagonal": ([(2, 4, 3)], lambda b, A: b.diagonal(A)),
    "diag_embed": ([(2, 3)], lambda b, d: b.diag_embed(d)),
    "add_diagonal": ([(3, 3), (3,)], lambda b, H, d: b.add_diagonal(H * 1, d)),      # H * 1: the rule owns it
    "concat": ([(3, 2), (3, 4)], lambda b, A, B: b.concat([A, B], axis=-1)),
    "reshape": ([(4, 6)], lambda b, A: b.reshape(A, (2, 3, 4))),
    "broadcast_to": ([(1, 4)], lambda b, A: b.broadcast_to(A, (2, 3, 4))),
    "astype": ([(3, 2)], lambda b, A: b.astype(A, b.complex_dtype(A.dtype))),
    "setitem_copy": ([(2, 3)], lambda b, A: b.setitem_copy((4, 5), A.dtype, (slice(1, 3), slice(2, 5)), A)),
    "permute": ([(3, 4)], lambda b, A: b.permute(A, b.from_host(_PERM), -1)),
    "sum": ([(2, 3, 4)], lambda b, A: b.sum(A, axis=-1, keepdims=True)),
    "solve_triangular": ([(3, 3), (3, 2)], _solve(False, "left", False)),
    "solve_right_adjoint": ([(3, 3), (2, 3)], lambda b, T, X: b.solve_right_adjoint(                 # X * 1: the
        T + 3 * b.eye(3, b.real_dtype(T.dtype)), X * 1)),                                          # rule's temporary
    "solve_left_adjoint": ([(3, 3), (3, 2)], lambda b, T, X: b.solve_left_adjoint(
        T + 3 * b.eye(3, b.real_dtype(T.dtype)), X * 1)),
    "tril_matmul": ([(4, 4), (4, 4)], lambda b, A, B: b.tril(b.tril_matmul(b.triu(A), B, upper_a=True))),
    "hcopyltu": ([(4, 4)], lambda b, M: b.hcopyltu(M)),
    "each_matrix": ([(2, 4, 3)], lambda b, A: b.each_matrix(lambda b, X, Y: b.mH(X) @ X, A, None)),
}
SOLVES = {f"solve_triangular-{lo}-{side}-{adj}": ([(3, 3), (3, 2)], _solve(lo == "lower", side, adj == "H"))
          for lo in ("lower", "upper") for side in ("left", "right") for adj in ("H", "N")}
ALL = {**CALLS, **SOLVES}


def test_every_differentiable_primitive_has_a_direct_test():
    assert set(CALLS) == set(contract.of_kind(contract.DIFFERENTIABLE))


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("name", sorted(ALL))
def test_each_differentiable_primitive_on_tensors_equals_the_array_backend(name, dtype, backend_name):
    shapes, call = ALL[name]
    b = md.backend.get(backend_name)
    xs = [leaf(s, dtype, seed=3 + j, backend=backend_name) for j, s in enumerate(shapes)]
    want = b.to_host(call(b, *[x.data for x in xs]))
    got = call(GraphBackend(b), *xs)
    assert isinstance(got, md.Tensor) and got.requires_grad      # recorded (or the input itself: conj of a real)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("name", sorted(ALL))
def test_gradgradcheck_through_each_differentiable_primitive(name, dtype):
    shapes, call = ALL[name]
    G = GraphBackend(md.backend.get("numpy"))
    xs = [leaf(s, dtype, seed=3 + j) for j, s in enumerate(shapes)]
    f = lambda *ts: call(G, *ts) * call(G, *ts)       # noqa: E731  (squared: a second derivative that is not zero)
    rep = md.gradgradcheck(f, xs)
    assert rep.ok, rep


def test_a_forward_only_primitive_on_a_tensor_names_itself_and_the_fix():
    G = GraphBackend(md.backend.get("numpy"))
    A = leaf((3, 3))
    for call in (lambda: G.phase(A), lambda: G.qr(A), lambda: G.abs(A), lambda: G.to_host(A)):
        with pytest.raises(md.MatdiffError, match="cannot be recorded under create_graph=True") as e:
            call()
        assert isinstance(e.value, NotRecordableError) and "differentiable primitives" in str(e.value)
    np.testing.assert_array_equal(G.argsort(np.array([2, 0, 1])), [1, 2, 0])      # constants: the array backend's
    with pytest.raises(md.MatdiffError, match="`where` cannot be recorded .* Tensor as its condition"):
        G.where(A, A, A)


def test_a_rule_using_a_forward_only_primitive_fails_only_under_create_graph_with_its_name():
    @md.register("abs_in_vjp", ref="C = A ∘ A whose vjp wrongly takes |A|")
    class sq:
        def forward(ctx, A):
            ctx.save(A)
            return A * A

        def vjp(ctx, Cbar):
            (A,) = ctx.saved
            return (2 * ctx.b.abs(A) * Cbar,)           # right for A >= 0 only, and not recordable

        def jvp(ctx, dA):
            (A,) = ctx.saved
            return 2 * A * dA
    try:
        A = md.tensor(rand((2, 2)) ** 2 + 1, requires_grad=True)
        assert md.gradcheck(sq, [A]).ok
        with pytest.raises(md.MatdiffError, match="`abs` cannot be recorded under create_graph=True"):
            md.grad([sq(A)], [A], [np.ones((2, 2))], create_graph=True)
    finally:
        md.unregister("abs_in_vjp")


def test_where_in_a_rule_is_recorded_under_create_graph():
    # before the contract, GraphBackend forwarded `where` to np.where with Tensors: it passed gradcheck and failed
    # only under create_graph=True
    @md.register("relu_where", ref="C = max(A, 0);  Abar = where(A > 0, Cbar, 0)")
    class relu:
        def forward(ctx, A):
            ctx.save(A)
            ctx.pos = A > 0                               # the condition: a constant of the forward
            return ctx.b.where(ctx.pos, A, 0 * A)

        def vjp(ctx, Cbar):
            return (ctx.b.where(ctx.pos, Cbar, 0 * Cbar),)

        def jvp(ctx, dA):
            return ctx.b.where(ctx.pos, dA, 0 * dA)
    try:
        A = leaf((3, 4), seed=2)
        rep = md.gradgradcheck(lambda A: relu(A) * relu(A) * A, [A])
        assert rep.ok, rep
    finally:
        md.unregister("relu_where")


@pytest.mark.parametrize("dtype", ["float32", "float64", "complex64", "complex128"])
@pytest.mark.parametrize("shape", [(1, 1), (5, 5), (3, 4, 4)])
def test_every_backends_hcopyltu_equals_the_papers_literal_definition(dtype, shape):
    M = rand(shape, dtype, seed=17)
    W = M.copy()
    W[..., np.triu_indices(shape[-1], 1)[0], np.triu_indices(shape[-1], 1)[1]] = np.inf     # never read
    want = paper.hcopyltu(M)                                            # symh(E ∘ M), Section 4.2
    assert np.array_equal(paper.hcopyltu(W), want)                      # the literal one reads no upper entry either
    tol = 4 * np.finfo(dtype).eps
    for name in BACKENDS:
        b = md.backend.get(name)
        np.testing.assert_allclose(b.to_host(b.hcopyltu(b.from_host(W))), want, rtol=tol, atol=tol)
        np.testing.assert_allclose(b.to_host(paper.hcopyltu(b.from_host(M), b)), want, rtol=tol, atol=tol)
    np.testing.assert_allclose(Backend(np).hcopyltu(W), want, rtol=tol, atol=tol)
    G = GraphBackend(md.backend.get("numpy"))
    np.testing.assert_allclose(G.hcopyltu(md.tensor(M, requires_grad=True)).numpy(), want, rtol=tol, atol=tol)
