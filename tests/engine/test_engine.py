"""The engine: tape, sweeps, registry, Tensor API and the errors a user can cause."""
import numpy as np
import pytest

import matdiff as md
from matdiff.testing import leaf, rand


# -- the issue's opening example ------------------------------------------------------------------
def test_user_story_from_the_issue():
    A = md.tensor(rand((5, 3), seed=1), requires_grad=True, name="A")
    B = md.tensor(rand((3, 4), seed=2), requires_grad=True, name="B")
    C = A @ B
    X, Y = md.split(C, [2], axis=-1)
    loss = md.sum(X * X) + md.sum(md.real(Y.mH @ Y))
    loss.backward()
    # by hand: loss = ||X||_F^2 + ||Y 1||^2, so Cbar = [2 X | 2 Y 1 1^T], Abar = Cbar B^T, Bbar = A^T Cbar
    Cn = A.data @ B.data
    Xn, Yn = Cn[:, :2], Cn[:, 2:]
    Cbar = np.concatenate([2 * Xn, 2 * Yn @ np.ones((2, 2))], axis=1)
    np.testing.assert_allclose(A.grad, Cbar @ B.data.T, rtol=1e-12)
    np.testing.assert_allclose(B.grad, A.data.T @ Cbar, rtol=1e-12)
    rep = md.gradcheck(lambda A, B: md.split(A @ B, [2], axis=-1), [A, B])
    assert rep.ok and "analytic" in str(rep) and rep.max_rel_err < 1e-8


# -- tape -----------------------------------------------------------------------------------------
def test_tensor_used_twice_gets_the_sum_of_adjoints():
    A = leaf((3, 3))
    (md.sum(A) + md.sum(A * 2.0)).backward()
    np.testing.assert_allclose(A.grad, np.full((3, 3), 3.0))


def test_unused_outputs_get_zero_adjoints():
    A = leaf((4, 6))
    X, Y, Z = md.split(A, [1, 3], axis=-1)
    md.sum(Y).backward()
    expected = np.zeros((4, 6))
    expected[:, 1:3] = 1
    np.testing.assert_array_equal(A.grad, expected)


def test_ten_thousand_node_chain_backward_runs_in_a_loop():
    x = leaf((2, 2))
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    md.sum(y).backward()
    np.testing.assert_allclose(x.grad, np.full((2, 2), 1.0001 ** 10_000), rtol=1e-9)


def test_saved_values_freed_and_second_backward_is_a_clear_error():
    A = leaf((4, 3))
    Q, R = md.qr(A)
    loss = md.sum(R * R)
    node = R.node
    loss.backward()
    assert node.freed and node.ctx is None
    with pytest.raises(md.GraphError, match="retain_graph=True"):
        loss.backward()


def test_retain_graph_allows_a_second_backward_and_leaves_accumulate():
    A = leaf((4, 3))
    loss = md.sum(md.qr(A).R)
    loss.backward(retain_graph=True)
    g1 = A.grad.copy()
    loss.backward()
    np.testing.assert_allclose(A.grad, 2 * g1)


def test_no_grad_records_nothing():
    A = leaf((3, 3))
    with md.no_grad():
        B = A @ A
    assert B.node is None and not B.requires_grad


def test_grad_mode_is_per_thread_and_nests():
    """no_grad in one thread leaves another recording (gradcheck evaluates in threads), as torch.no_grad does;
    enable_grad inside no_grad records again, and leaving each block restores the mode around it."""
    import threading

    from matdiff.engine.tape import grad_enabled
    A = leaf((2, 2))
    inside, other = threading.Event(), {}

    def record_elsewhere():
        inside.wait()
        other["B"] = A @ A
        other["enabled"] = grad_enabled()

    t = threading.Thread(target=record_elsewhere)
    t.start()
    with md.no_grad():
        inside.set()
        t.join()
        assert not grad_enabled() and (A @ A).node is None
        with md.enable_grad():
            assert grad_enabled() and (A @ A).node is not None
        assert not grad_enabled()
    assert grad_enabled()
    assert other["enabled"] and other["B"].node is not None and other["B"].requires_grad


def test_a_tape_records_only_its_own_threads_nodes_and_only_inside_its_with():
    """The recorder is per thread, like grad mode: two threads each inside their own ``with md.Tape()`` at the same
    time get only their own nodes (a module-global list of tapes gave each both threads' nodes)."""
    import threading

    A = leaf((2, 2))
    both_inside, done, tapes = threading.Barrier(2), threading.Barrier(2), {}

    def record(label, op):
        with md.Tape() as tape:
            both_inside.wait()
            op(A)
            done.wait()                  # the other thread has recorded its node by now
        tapes[label] = tape

    ts = [threading.Thread(target=record, args=("neg", lambda A: -A)),
          threading.Thread(target=record, args=("matmul", lambda A: A @ A))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert [n.op.name for n in tapes["neg"]] == ["neg"] and [n.op.name for n in tapes["matmul"]] == ["matmul"]
    with md.Tape() as outer:
        with md.Tape() as inner:
            -A
        A @ A
    -A
    assert [n.op.name for n in inner] == ["neg"] and [n.op.name for n in outer] == ["neg", "matmul"]


def test_no_grad_and_enable_grad_are_one_definition_and_work_as_decorators():
    from matdiff.engine import tape
    assert tape.no_grad.__code__.co_names == tape.enable_grad.__code__.co_names == ("_grad_mode",)
    A = leaf((2, 2))
    quiet = md.no_grad()(lambda: A @ A)
    assert quiet().node is None and (A @ A).node is not None


def test_tape_lists_nodes_in_execution_order():
    A = leaf((3, 5), name="A")
    with md.Tape() as tape:
        Q, R = md.qr(A)
    assert [n.op.name for n in tape.nodes] == ["split", "qr", "adjoint", "matmul", "concat"]
    assert "Eq 3" in str(tape) and "split" in str(tape)


def test_intermediates_hold_their_adjoint_for_learners():
    A = leaf((4, 3))
    Q, R = md.qr(A)
    seedQ, seedR = rand((4, 3), seed=5), rand((3, 3), seed=6)
    md.backward([Q, R], [seedQ, seedR])
    np.testing.assert_array_equal(Q.grad, seedQ)
    np.testing.assert_array_equal(R.grad, seedR)


def test_commit_intermediates_overwrite_leaves_accumulate_unused_outputs_get_zeros():
    """What backward writes: an intermediate's .grad is this sweep's total adjoint (overwritten by the next sweep),
    a leaf's accumulates, an output nobody used of a node the sweep went through gets zeros, and the outputs of a
    node nothing flowed through keep None."""
    A = leaf((4, 6))
    X, Y, Z = md.split(A, [1, 3], axis=-1)
    B = Y * 2.0
    C = B + B                                         # B used twice: its adjoint is the sum
    D = Z * 3.0                                       # nothing flows through this node
    seed = rand((4, 2), seed=7)
    C.backward(seed, retain_graph=True)
    np.testing.assert_array_equal(B.grad, 2 * seed)
    np.testing.assert_array_equal(Y.grad, 4 * seed)
    np.testing.assert_array_equal(X.grad, np.zeros((4, 1)))
    np.testing.assert_array_equal(Z.grad, np.zeros((4, 3)))
    assert D.grad is None and D.node.ctx is not None
    C.backward(seed)
    np.testing.assert_array_equal(B.grad, 2 * seed)   # intermediates: the last sweep's adjoint
    expected = np.zeros((4, 6))
    expected[:, 1:3] = 2 * 4 * seed                   # leaves: the sum over both sweeps
    np.testing.assert_array_equal(A.grad, expected)
    assert C.node.freed and B.node.freed and not D.node.freed


def test_grad_returns_gradients_without_touching_dot_grad():
    A = leaf((3, 3))
    B = A @ A
    (gA,) = md.grad([B], [A], [np.ones((3, 3))])
    assert A.grad is None
    np.testing.assert_allclose(gA, np.ones((3, 3)) @ A.data.T + A.data.T @ np.ones((3, 3)))


def test_grad_of_an_intermediate():
    A = leaf((3, 3))
    B = A * 3.0
    C = md.sum(B * B)
    (gB,) = md.grad(C, [B])
    np.testing.assert_allclose(gB, 2 * B.data)


def test_jvp_forward_mode_matches_hand_derivative():
    A, dA = rand((3, 3), seed=1), rand((3, 3), seed=2)
    out, dout = md.jvp(lambda A: A @ A, [A], [dA])
    np.testing.assert_allclose(dout, dA @ A + A @ dA)
    np.testing.assert_allclose(out.data, A @ A)


def test_complex_gradient_follows_pytorch_convention():
    # L = |z|^2 summed: dL/dRe + i dL/dIm = 2 z
    z = leaf((2, 2), np.complex128, 3)
    md.sum(md.real(z * z.conj())).backward()
    np.testing.assert_allclose(z.grad, 2 * z.data)


# -- registry -------------------------------------------------------------------------------------
def test_user_registered_op_is_differentiable_and_checked():
    @md.register("cube_test", ref="C = A^3 (elementwise)")
    class cube:
        def forward(ctx, A):
            ctx.save(A)
            return A * A * A

        def vjp(ctx, Cbar):
            (A,) = ctx.saved
            return (3 * ctx.b.conj(A * A) * Cbar,)

        def jvp(ctx, dA):
            (A,) = ctx.saved
            return 3 * A * A * dA

    try:
        assert "cube_test" in md.registry
        A = leaf((2, 3), np.complex128)
        assert md.gradcheck(lambda A: md.registry["cube_test"](A), [A]).ok
        assert md.check_adjoint(lambda A: cube(A), [A]).ok
        with pytest.raises(md.MatdiffError, match="already registered"):
            md.register("cube_test")(cube)
    finally:
        md.unregister("cube_test")
    assert "cube_test" not in md.registry


# -- Tensor API -----------------------------------------------------------------------------------
def test_tensor_attributes_and_repr():
    A = md.tensor(rand((2, 3), np.complex64), requires_grad=True, name="A")
    assert A.shape == (2, 3) and A.ndim == 2 and A.dtype == np.complex64 and A.device == "cpu"
    B = A.mH @ A
    r = repr(B)
    assert "shape=(3, 3)" in r and "complex64" in r and "device=cpu" in r and "op=matmul" in r
    assert B.numpy().shape == (3, 3) and B.detach().node is None
    assert md.sum(md.real(B)).item() == pytest.approx(float(np.sum((A.data.conj().T @ A.data).real)), rel=1e-5)


def test_numpy_array_on_the_left_defers_to_tensor():
    A = leaf((3, 3))
    for C in (np.eye(3) @ A, np.eye(3) + A, np.eye(3) - A, np.eye(3) * A):
        assert isinstance(C, md.Tensor) and C.requires_grad


def test_scalars_on_either_side():
    A = leaf((2, 2))
    C = 2 * A + 1 - A / 4
    np.testing.assert_allclose(C.data, 2 * A.data + 1 - A.data / 4)
    md.sum(C).backward()
    np.testing.assert_allclose(A.grad, np.full((2, 2), 1.75))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
def test_dtypes_flow_through(dtype):
    A = md.tensor(rand((3, 3), dtype), requires_grad=True)
    B = A @ A
    assert B.dtype == dtype
    md.sum(md.real(B)).backward()
    assert A.grad.dtype == dtype


# -- devices (the rest of the bad-input catalogue is tests/test_bad_inputs.py) ----------------------
def test_gpu_device_without_cupy_is_a_clear_error():
    if md.backend.gpu_available():
        pytest.skip("a GPU is present: the error path cannot be exercised here")
    with pytest.raises(md.DeviceError):
        md.tensor(np.ones((2, 2)), device="gpu")


def test_seeded_non_leaf_outputs_keep_their_dtype():
    A = md.tensor(np.eye(3, dtype=np.float32) + 1, requires_grad=True)
    B = A @ A                                           # a non-leaf float32 output
    md.backward([B], [np.ones((3, 3), dtype=np.float64)])
    assert B.grad.dtype == np.float32 and A.grad.dtype == np.float32
    Z = md.tensor(np.ones((2, 2), np.complex64), requires_grad=True)
    W = Z * 2.0
    md.backward([W], [np.ones((2, 2))])                 # a real float64 seed of a complex64 output
    assert W.grad.dtype == np.complex64 and Z.grad.dtype == np.complex64


def test_rules_that_take_none_get_none_for_an_unused_output_others_get_zeros():
    seen = {}

    def make(name, takes_none):
        class two:
            def forward(ctx, A):
                return A * 1.0, A * 2.0

            def vjp(ctx, Xbar, Ybar):
                seen[name] = Xbar
                return (Ybar * 2.0 if Xbar is None else Xbar + Ybar * 2.0,)

            def jvp(ctx, dA):
                return dA, 2.0 * dA
        two.takes_none = takes_none
        return md.register(name)(two)
    try:
        for name, flag in (("two_none", True), ("two_zeros", False)):
            A = leaf((2, 2))
            X, Y = make(name, flag)(A)
            md.backward([Y], [np.ones((2, 2))])
            np.testing.assert_array_equal(A.grad, 2 * np.ones((2, 2)))
        assert seen["two_none"] is None
        np.testing.assert_array_equal(seen["two_zeros"], np.zeros((2, 2)))
    finally:
        md.unregister("two_none")
        md.unregister("two_zeros")


def test_numpy_asarray_is_the_data_and_records_nothing():
    A = leaf((3, 4))
    with md.Tape() as tape:
        a = np.asarray(A)
    assert a.dtype == np.float64 and a.shape == (3, 4) and len(tape) == 0
    np.testing.assert_array_equal(a, A.data)


def test_numpy_functions_dispatch_to_matdiff_ops():
    A, B = leaf((3, 4), seed=1), leaf((4, 2), seed=2)
    for y in (np.matmul(A, B), A.data @ B, np.add(A, 1.0), np.multiply(A, 2.0), np.negative(A), np.sum(A, axis=0),
              np.concatenate([A, A]), np.linalg.qr(A.T)[1], np.conjugate(A)):
        assert isinstance(y, md.Tensor) and y.node is not None
    Q, R = np.linalg.qr(A.T)
    md.sum(R).backward()
    assert A.grad.shape == (3, 4)
    assert np.concatenate([A, A]).shape == (6, 4)                 # NumPy's default axis, in a NumPy call


def test_to_always_returns_a_leaf():
    A = leaf((2, 2))
    assert A.to("cpu") is A
    B = A * 2.0
    C = B.to("cpu")
    assert C.is_leaf and C.requires_grad and C is not B
    np.testing.assert_array_equal(C.data, B.data)


def test_tensor_operators_are_the_ops_call_paths():
    """One frame from an operator to the tape: Tensor's dunders are the ops' ``apply`` functions themselves."""
    for dunder, op in [("__neg__", "neg"), ("__matmul__", "matmul"), ("__add__", "add"), ("__sub__", "sub"),
                       ("conj", "conj")]:
        assert getattr(md.Tensor, dunder) is md.registry[op].apply
    A = md.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    for Y in (-A, md.registry["neg"](A), md.registry["neg"].apply(A)):
        assert Y.node.op is md.registry["neg"] and np.array_equal(Y.data, -A.data)
    assert md.registry["neg"](A, name="N").name == "N"


def test_a_tensor_subclass_goes_through_every_call_path():
    """A user's Tensor subclass (a Parameter, say) is a Tensor to the ops, unary and binary (it used to recurse
    forever: the fast path tests the exact class, so the general path must accept subclasses)."""
    class Parameter(md.Tensor):
        __slots__ = ()

    a = np.arange(1.0, 7.0).reshape(3, 2)
    f = lambda X: md.sum((-X) * X + X @ md.qr(X).R)  # noqa: E731 - unary, binary and a decomposition
    P, A = Parameter(a, md.backend.get("numpy"), True), md.tensor(a, requires_grad=True)
    f(P).backward()
    f(A).backward()
    assert P.grad is not None
    np.testing.assert_allclose(P.grad, A.grad, rtol=1e-13)


def test_backward_leaves_the_callers_lists_alone_and_sums_by_identity():
    a = np.ones((2, 2))
    A, B = md.tensor(a, requires_grad=True), md.tensor(a.copy(), requires_grad=True)   # equal data, two tensors
    Y = A @ B + A
    outs, seeds = [Y], [np.ones((2, 2))]
    md.backward(outs, seeds)
    assert outs == [Y] and len(seeds) == 1 and seeds[0].shape == (2, 2)
    np.testing.assert_array_equal(A.grad, np.ones((2, 2)) @ B.data.T + 1)
    np.testing.assert_array_equal(B.grad, A.data.T @ np.ones((2, 2)))
