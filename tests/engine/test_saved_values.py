"""A saved value changed after the forward is never used silently (issue 19, point 5).

Three ways a value changes: ``T.data = X`` / ``T.data *= 2`` (the setter), an in-place write to a leaf's array
(``A.data[0, 0] += 5``, or to the NumPy array it was made from), an in-place write to an op's output (read-only:
NumPy refuses at the write). Each is refused; when nothing changed, gradients are what finite differences say.
"""
import numpy as np
import pytest

import matdiff as md
from matdiff.errors import GraphError


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _qr_loss_seeds(m=4, n=3):
    return _rand(m, n, seed=1), _rand(n, n, seed=2)


def _qr_grad(a):
    """dL/dA of L = <Qbar, Q> + <Rbar, R> by the engine, for a fresh leaf over a copy of ``a``."""
    A = md.tensor(a.copy(), requires_grad=True)
    Q, R = md.qr(A)
    md.backward([Q, R], list(_qr_loss_seeds(*a.shape)))
    return A.grad


def _qr_fd(a, eps=1e-6):
    """The same gradient by central differences, from NumPy's QR with R's diagonal made positive."""
    gq, gr = _qr_loss_seeds(*a.shape)

    def loss(x):
        q, r = np.linalg.qr(x)
        s = np.sign(np.diag(r))
        return np.sum(gq * (q * s)) + np.sum(gr * (s[:, None] * r))
    g = np.zeros_like(a)
    for idx in np.ndindex(*a.shape):
        e = np.zeros_like(a)
        e[idx] = eps
        g[idx] = (loss(a + e) - loss(a - e)) / (2 * eps)
    return g


# -- case 1: A.data *= 10 after C = A @ B (the setter) ---------------------------------------------------------
def test_data_scaled_in_place_after_matmul_refuses():
    A = md.tensor(_rand(4, 3), requires_grad=True, name="A")
    B = md.tensor(_rand(3, 2, seed=1), requires_grad=True, name="B")
    C = A @ B
    A.data *= 10
    with pytest.raises(GraphError) as e:
        md.sum(C).backward()
    msg = str(e.value)
    assert "node #1 (matmul)" in msg and "input 'A'" in msg and "a leaf, shape (4, 3)" in msg
    assert ".data was assigned" in msg and "Re-run the forward after changing .data" in msg
    assert A.grad is None and B.grad is None          # all or nothing: no gradient written


def test_data_replaced_after_forward_refuses():
    A = md.tensor(_rand(4, 3), requires_grad=True)
    Q, R = md.qr(A)
    A.data = _rand(4, 3, seed=5)
    with pytest.raises(GraphError, match=r"node #1 \(qr\).*\(a leaf, shape \(4, 3\)\).*assigned"):
        md.backward([Q, R], list(_qr_loss_seeds()))


# -- case 2: Q.data[:] = 0 after md.qr (an op's output is read-only) ----------------------------------------------
def test_op_output_refuses_in_place_writes_and_gradient_is_unchanged():
    a = _rand(4, 3)
    A = md.tensor(a.copy(), requires_grad=True)
    Q, R = md.qr(A)
    q = Q.numpy().copy()
    with pytest.raises(ValueError, match="read-only"):
        Q.data[:] = 0
    with pytest.raises(ValueError, match="read-only"):
        np.asarray(R)[0, 0] = 1.0
    np.testing.assert_array_equal(Q.numpy(), q)
    md.backward([Q, R], list(_qr_loss_seeds()))
    assert np.linalg.norm(A.grad) > 0.1
    np.testing.assert_allclose(A.grad, _qr_fd(a), rtol=1e-6, atol=1e-7)


def test_op_output_replaced_refuses_naming_the_output():
    A = md.tensor(_rand(4, 3), requires_grad=True)
    Q, R = md.qr(A)
    Q.data = np.zeros((4, 3))
    with pytest.raises(GraphError) as e:
        md.backward([Q, R], list(_qr_loss_seeds()))
    assert "node #1 (qr)" in str(e.value) and "its output 'Q' (output 0 of node #1 qr, shape (4, 3))" in str(e.value)


def test_a_copy_of_an_op_output_is_writable_and_outputs_under_no_grad_stay_writable():
    A = md.tensor(_rand(4, 3), requires_grad=True)
    Q, _ = md.qr(A)
    q = Q.numpy().copy()
    q[:] = 0                                           # the fix the error names
    with md.no_grad():
        Q2, _ = md.qr(A)
    Q2.data[:] = 0                                     # no node saved it
    assert not Q2.numpy().any()


# -- case 3: A.data[0, 0] += 5 after md.qr (an in-place write to a leaf's array) ---------------------------------
def test_leaf_written_in_place_after_qr_refuses():
    A = md.tensor(_rand(4, 3), requires_grad=True)
    Q, R = md.qr(A)
    A.data[0, 0] += 5
    with pytest.raises(GraphError) as e:
        md.backward([Q, R], list(_qr_loss_seeds()))
    msg = str(e.value)
    assert "node #1 (qr)" in msg and "written in place" in msg and "Re-run the forward" in msg
    assert "write to a copy" in msg


def test_write_to_the_numpy_array_a_leaf_was_made_from_refuses():
    x = _rand(4, 3)
    A = md.tensor(x, requires_grad=True)               # not copied: x is A's array
    Q, R = md.qr(A)
    x[1, 2] = 7.0
    assert x.flags.writeable                           # the user's array stays theirs
    with pytest.raises(GraphError, match="written in place"):
        md.backward([Q, R], list(_qr_loss_seeds()))


def test_a_non_contiguous_leaf_written_in_place_refuses():
    x = _rand(3, 4)
    A = md.tensor(x.T, requires_grad=True)             # a transposed view: not C-contiguous
    C = A @ md.tensor(_rand(3, 2, seed=1))
    x[0, 0] += 1
    with pytest.raises(GraphError, match=r"node #1 \(matmul\).*written in place"):
        md.sum(C).backward()


def test_identity_forward_keeps_the_leaf_array_writable_and_a_write_through_it_is_caught():
    a = _rand(4, 3)
    A = md.tensor(a, requires_grad=True)
    Rl = md.real(A)                                    # real of a real array is the array itself
    loss = md.sum(Rl * Rl)
    assert Rl.data is a and a.flags.writeable
    Rl.data[0, 0] = 3.0
    with pytest.raises(GraphError, match="written in place"):
        loss.backward()


def test_a_constant_changed_after_the_forward_refuses():
    W = md.tensor(_rand(3, 2, seed=1), name="W")       # does not require grad, but A's gradient uses it
    A = md.tensor(_rand(4, 3), requires_grad=True)
    C = A @ W
    W.data[0, 0] += 1
    with pytest.raises(GraphError, match="input 'W'"):
        md.sum(C).backward()


def test_the_node_number_is_the_printed_tapes():
    A = md.tensor(_rand(4, 3), requires_grad=True, name="A")
    B = md.tensor(_rand(3, 3, seed=1), requires_grad=True, name="B")
    with md.Tape() as tape:
        N = -A
        C = N @ B
        loss = md.sum(C)
    assert "matmul" in str(tape).splitlines()[1]
    B.data[1, 1] += 1
    with pytest.raises(GraphError, match=r"node #2 \(matmul\).*input 'B'"):
        loss.backward()


# -- forward mode and the checks -------------------------------------------------------------------------------------
def test_jvp_refuses_a_leaf_changed_after_it_was_used():
    W = md.tensor(_rand(3, 3, seed=1), name="W")

    def f(X):
        Y = X @ W
        W.data[0, 0] += 1                              # after the forward used W
        return Y
    with pytest.raises(GraphError, match=r"node #1 \(matmul\).*input 'W'.*written in place"):
        md.jvp(f, [md.tensor(_rand(4, 3))], [np.ones((4, 3))])


def test_jvp_unchanged_matches_finite_differences():
    a, d = _rand(4, 3), _rand(4, 3, seed=3)
    (Q, R), (dQ, dR) = md.jvp(md.qr, [md.tensor(a)], [d])
    eps = 1e-6
    qp, rp = np.linalg.qr(a + eps * d)
    qm, rm = np.linalg.qr(a - eps * d)
    sp, sm = np.sign(np.diag(rp)), np.sign(np.diag(rm))
    np.testing.assert_allclose(dQ, (qp * sp - qm * sm) / (2 * eps), atol=1e-6)
    np.testing.assert_allclose(dR, (sp[:, None] * rp - sm[:, None] * rm) / (2 * eps), atol=1e-6)


def test_gradcheck_refuses_a_function_that_changes_a_saved_value():
    W = md.tensor(_rand(3, 3, seed=1), name="W")

    def f(X):
        Y = X @ W
        W.data = W.data + 1.0                          # a new array after the forward used the old one
        return Y
    with pytest.raises(GraphError, match="input 'W'"):
        md.gradcheck(f, [md.tensor(_rand(4, 3), requires_grad=True)])


# -- nothing changed: gradients as before; retain_graph, create_graph, optimiser steps -----------------------------
def test_unchanged_gradient_matches_finite_differences_and_reading_data_changes_nothing():
    a = _rand(5, 3)
    A = md.tensor(a.copy(), requires_grad=True)
    Q, R = md.qr(A)
    _ = (A.data.sum(), Q.data.sum(), R.numpy().sum())  # reads: freeze Q and R, leave A alone
    md.backward([Q, R], list(_qr_loss_seeds(5, 3)))
    np.testing.assert_allclose(A.grad, _qr_fd(a), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(A.grad, _qr_grad(a))  # bit for bit as a graph nobody looked at


def test_retain_graph_double_backward_accumulates_then_a_change_refuses():
    A = md.tensor(_rand(4, 3), requires_grad=True)
    Q, R = md.qr(A)
    seeds = list(_qr_loss_seeds())
    md.backward([Q, R], seeds, retain_graph=True)
    g1 = A.grad.copy()
    md.backward([Q, R], seeds, retain_graph=True)
    np.testing.assert_allclose(A.grad, 2 * g1, rtol=1e-14)
    A.data[2, 1] -= 1
    with pytest.raises(GraphError, match="written in place"):
        md.backward([Q, R], seeds)
    np.testing.assert_allclose(A.grad, 2 * g1, rtol=1e-14)


def test_hessian_vector_product_still_works():
    a, v = _rand(3, 3), _rand(3, 3, seed=4)
    A = md.tensor(a.copy(), requires_grad=True)
    (g,) = md.grad(md.sum(A * A * A), [A], create_graph=True)
    (hv,) = md.grad(md.sum(g * md.tensor(v)), [A])
    np.testing.assert_allclose(hv, 6 * a * v, rtol=1e-12)   # d/dA <3 A^2, v> = 6 A v


def test_optimiser_step_between_backward_and_next_forward_is_fine():
    a = _rand(4, 3)
    W = md.tensor(a.copy(), requires_grad=True)
    for _ in range(3):
        W.grad = None
        Q, R = md.qr(W)
        md.backward([Q, R], list(_qr_loss_seeds()))
        g = W.grad
        W.data -= 0.01 * g                             # in place, through the setter: the PyTorch idiom
        a = a - 0.01 * g
    np.testing.assert_allclose(W.numpy(), a, rtol=1e-15)
    W.grad = None
    Q, R = md.qr(W)
    md.backward([Q, R], list(_qr_loss_seeds()))
    np.testing.assert_array_equal(W.grad, _qr_grad(W.numpy()))


def test_a_freed_graph_says_freed_even_after_a_change():
    A = md.tensor(_rand(4, 3), requires_grad=True)
    Q, R = md.qr(A)
    md.backward([Q, R], list(_qr_loss_seeds()))
    A.data[0, 0] += 1                                  # an optimiser step, in place ...
    with pytest.raises(GraphError, match="freed by an earlier backward"):
        md.backward([Q, R], list(_qr_loss_seeds()))
    A.data -= 0.1                                      # ... or through the setter
    with pytest.raises(GraphError, match="freed by an earlier backward"):
        md.backward([Q, R], list(_qr_loss_seeds()))
