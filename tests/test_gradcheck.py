"""The checkers themselves: they must fail on wrong rules, and their batched paths must equal their loops."""
import numpy as np
import pytest

import matdiff as md
import importlib
from conftest import leaf


gc = importlib.import_module("matdiff.gradcheck")


@pytest.fixture
def wrong_op():
    """A registered op whose vjp forgets the conjugate and whose jvp drops a factor: both must be caught."""
    @md.register("square_wrong", ref="C = A*A with deliberately wrong rules")
    class square_wrong:
        def forward(ctx, A):
            ctx.save(A)
            return A * A

        def vjp(ctx, Cbar):
            (A,) = ctx.saved
            return (2 * A * Cbar,)         # wrong for complex A: must be 2 conj(A) Cbar

        def jvp(ctx, dA):
            (A,) = ctx.saved
            return A * dA                  # wrong: must be 2 A dA
    yield square_wrong
    md.unregister("square_wrong")


def test_gradcheck_fails_on_a_wrong_vjp(wrong_op):
    A = leaf((2, 3), np.complex128)
    rep = md.gradcheck(wrong_op, [A])
    assert not rep.ok and "FAIL" in rep.table and rep.worst["input"].startswith("in0")
    with pytest.raises(md.GradcheckError, match="FAIL"):
        md.gradcheck(wrong_op, [A], raise_on_fail=True)
    assert not md.gradcheck(wrong_op, [A], fast=True).ok


def test_gradcheck_passes_the_same_op_on_real_input(wrong_op):
    assert md.gradcheck(wrong_op, [leaf((2, 3))]).ok      # real: no conjugate to forget


def test_check_adjoint_fails_on_a_wrong_jvp(wrong_op):
    rep = md.check_adjoint(wrong_op, [leaf((2, 3))])
    assert not rep.ok and rep.max_rel_err > 0.1


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_fast_mode_agrees_for_correct_rules(dtype):
    A = leaf((6, 4), dtype)
    rep = md.gradcheck(lambda A: tuple(md.qr(A)), [A], fast=True, n_checks=4)
    assert rep.ok and rep.n_compared == 4 and rep.max_rel_err < 1e-8


def _analytic_rows(f, ts, diff):
    rows = {}
    gc._analytic(f, ts, diff, lambda r0, blocks: rows.update({r0 + j: [B[j] for B in blocks]
                                                               for j in range(blocks[0].shape[0])}))
    return np.array([np.concatenate(rows[r]) for r in sorted(rows)])


def test_batched_jacobians_equal_the_loops(monkeypatch):
    A, B = leaf((3, 4), np.complex128, 1), leaf((4, 2), np.complex128, 2)
    f = lambda A, B: tuple(md.qr(A @ B))  # noqa: E731
    ts, diff = gc._setup([A, B])
    Ja = _analytic_rows(f, ts, diff)
    Jn = [gc._numeric(f, ts, i, 1e-6, Ja.shape[0]) for i in diff]
    monkeypatch.setattr(gc, "_BATCHED", False)
    np.testing.assert_allclose(Ja, _analytic_rows(f, ts, diff), rtol=1e-12, atol=1e-13)
    for i, J in zip(diff, Jn):
        np.testing.assert_allclose(J, gc._numeric(f, ts, i, 1e-6, Ja.shape[0]), rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(Ja, np.concatenate(Jn, axis=1), rtol=1e-5, atol=1e-6)   # and they agree


def test_functions_that_do_not_broadcast_fall_back_to_loops():
    A = leaf((4, 4))
    f = lambda A: md.sum(A[1:, :2])          # noqa: E731 - a leading batch axis would change its meaning
    rep = md.gradcheck(f, [A])
    assert rep.ok and rep.n_compared == 16


def test_float32_gradcheck_warns():
    with pytest.warns(md.PrecisionWarning):
        assert md.gradcheck(lambda A: A @ A, [leaf((3, 3), np.float32)]).ok


def test_explicit_tolerances_can_make_the_check_fail():
    A = leaf((3, 3))
    assert md.gradcheck(lambda A: A @ A @ A, [A]).ok
    assert not md.gradcheck(lambda A: A @ A @ A, [A], eps=1e-1, atol=0, rtol=1e-8).ok   # O(eps^2) truncation
