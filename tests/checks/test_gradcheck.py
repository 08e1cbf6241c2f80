"""The checkers themselves: they must fail on wrong rules, name the worst entry and the node at fault, check
batches per matrix, and their batched evaluation paths must equal their loops."""
import inspect
import time

import numpy as np
import pytest

import matdiff as md
import matdiff.checks.jacobians as fd
from matdiff.checks.report import percent
from matdiff.testing import leaf


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


@pytest.fixture
def graded_op():
    """``C = A * W`` (W = 1, 2, 3, ... entrywise) whose vjp is off by 1 % *per entry*: entry k is wrong by 0.01 k."""
    @md.register("graded_wrong", ref="C = A ∘ W, vjp off by 1 % of W")
    class graded_wrong:
        def forward(ctx, A):
            b = ctx.b
            ctx.W = b.astype(b.from_host(np.arange(1.0, 1.0 + np.prod(A.shape)).reshape(A.shape)), A.dtype)
            return A * ctx.W

        def vjp(ctx, Cbar):
            return (Cbar * ctx.b.conj(ctx.W) * 1.01,)

        def jvp(ctx, dA):
            return dA * ctx.W
    yield graded_wrong
    md.unregister("graded_wrong")


def test_gradcheck_fails_on_a_wrong_vjp(wrong_op):
    A = leaf((2, 3), np.complex128)
    rep = md.gradcheck(wrong_op, [A])
    assert not rep.ok and "FAIL" in rep.table and rep.worst["input"].startswith("in0")
    with pytest.raises(md.GradcheckError, match="FAIL"):
        md.gradcheck(wrong_op, [A], raise_on_fail=True)
    assert not md.gradcheck(wrong_op, [A], fast=True).ok


def test_gradcheck_passes_the_same_op_on_real_input(wrong_op):
    rep = md.gradcheck(wrong_op, [leaf((2, 3))])      # real: no conjugate to forget
    assert rep.ok and rep.blame == [] and rep.node_checks == []


def test_check_adjoint_fails_on_a_wrong_jvp_and_blames_it(wrong_op):
    rep = md.check_adjoint(lambda A: wrong_op(A) @ A.T, [leaf((2, 3))])
    assert not rep.ok and rep.max_rel_err > 0.1
    assert [c.op for c in rep.blame] == ["square_wrong"]
    assert "the jvp of `square_wrong`" in str(rep) and "`matmul`" in str(rep)


def _used(row):
    """The "tol used" column of a report row, as a ratio."""
    return float(row[-2].rstrip("%").replace(",", "")) / 100


def test_the_worst_entry_uses_the_largest_fraction_of_its_tolerance(graded_op):
    A = leaf((3, 4), name="A")
    rep = md.gradcheck(graded_op, [A])
    assert not rep.ok
    # the analytic entry (k, k) is 1.01 W_k, the numeric W_k: 0.01 W / (1e-5 + 1e-4 W) is largest at W = 12
    assert rep.worst["input"] == "A[2, 3]" and rep.worst["output"] == "out0[2, 3]"
    assert rep.worst["abs_err"] == pytest.approx(0.12, rel=1e-6)
    assert rep.worst["abs_err"] == pytest.approx(rep.max_abs_err)
    assert rep.worst["ratio"] == pytest.approx(0.12 / (1e-5 + 1e-4 * 12), rel=1e-6)
    used = [_used(r) for r in rep.rows]
    assert used == sorted(used, reverse=True) and len(rep.rows) == 12
    assert "A[2, 3]" in rep.summary and "1.20e-01" in rep.summary       # the header quotes the worst row
    assert rep.rows[0][0] == "A[2, 3]"


@pytest.fixture
def offset_op():
    """``make(W, D)`` registers ``C = A ∘ W`` whose vjp uses ``W + D``: the analytic derivative of entry k is off by
    exactly ``D_k``, the numeric one is ``W_k``, and every off-diagonal derivative is exactly 0 on both sides."""
    names = []

    def make(W, D):
        name = f"offset_wrong_{len(names)}"

        @md.register(name, ref="C = A ∘ W, vjp uses W + D")
        class offset_wrong:
            def forward(ctx, A):
                ctx.W, ctx.WD = (ctx.b.astype(ctx.b.from_host(np.asarray(x, float)), A.dtype) for x in (W, W + D))
                return A * ctx.W                  # W broadcasts over gradcheck's leading axis of perturbations

            def vjp(ctx, Cbar):
                return (Cbar * ctx.WD,)

            def jvp(ctx, dA):
                return dA * ctx.W
        names.append(name)
        return offset_wrong
    yield make
    for name in names:
        md.unregister(name)


def _ranked_by_ratio(rep):
    used = [_used(r) for r in rep.rows]
    assert used == sorted(used, reverse=True)
    assert rep.worst["ratio"] == pytest.approx(rep.worst["abs_err"] / rep.worst["tolerance"])
    assert rep.worst["ratio"] == pytest.approx(used[0], rel=0.06, abs=1e-12)    # rows[0] is worst (2 digits shown)


def _summary_quotes_the_worst(rep):
    w = rep.worst
    for figure in (w["where"], f"{w['abs_err']:.2e}", f"{w['tolerance']:.2e}", percent(w["ratio"])):
        assert figure in rep.summary, figure
    assert ("nearest to its tolerance" if rep.ok else "furthest past its tolerance") in rep.summary


@pytest.mark.parametrize("batched", [False, True])
def test_a_passing_check_ranks_the_largest_errors_not_the_exact_zeros(offset_op, batched):
    shape = (5, 2, 3) if batched else (3, 4)
    W = np.arange(1.0, 1.0 + np.prod(shape)).reshape(shape)
    rep = md.gradcheck(offset_op(W, 1e-7 * W**2), [leaf(shape, name="A")], batched=batched)
    # every derivative off the diagonal is exactly 0 (the smallest tolerance, atol): ranked by violation
    # |a - n| - (atol + rtol |n|) those came first; by the fraction of the tolerance, the diagonal comes first
    assert rep.ok and rep.worst["abs_err"] > 0 and rep.worst["numeric"] != 0
    assert all(float(r[3]) != 0 and float(r[4]) > 0 for r in rep.rows)            # numeric and |difference|
    # entry k: 1e-7 W_k^2 / (1e-5 + 1e-4 W_k) grows with W_k, so the last entry is nearest its tolerance
    last = "A[4, 1, 2]" if batched else "A[2, 3]"
    assert rep.worst["input"] == last and rep.rows[0][0] == last
    assert rep.worst["ratio"] == pytest.approx(1e-7 * W.max()**2 / (1e-5 + 1e-4 * W.max()), rel=1e-3)
    assert rep.worst["batch"] == ((4,) if batched else None)
    _ranked_by_ratio(rep)
    _summary_quotes_the_worst(rep)


@pytest.mark.parametrize("batched", [False, True])
def test_a_failing_check_names_the_entry_furthest_past_its_tolerance(offset_op, batched):
    W, D = np.ones((3, 2, 3)), np.zeros((3, 2, 3))
    W[0, 0, 0], D[0, 0, 0] = 1000.0, 0.2    # tolerance 0.10001: twice past it, violation 0.1
    W[2, 1, 1], D[2, 1, 1] = 1e-3, 1e-3     # tolerance 1.01e-5: 99 times past it, violation 1e-3
    big, small = 0.2 - (1e-5 + 1e-4 * 1000), 1e-3 - (1e-5 + 1e-4 * 1e-3)
    assert big > small                       # ranked by violation, the large entry would be the worst
    if not batched:
        W, D = W.reshape(6, 3), D.reshape(6, 3)
    rep = md.gradcheck(offset_op(W, D), [leaf(W.shape, name="A")], batched=batched, blame=False)
    assert not rep.ok
    assert rep.worst["input"] == ("A[2, 1, 1]" if batched else "A[5, 1]")
    assert rep.worst["ratio"] == pytest.approx(1e-3 / (1e-5 + 1e-7), rel=1e-4)
    assert [r[-1] for r in rep.rows[:2]] == ["FAIL", "FAIL"] and rep.rows[2][-1] == "ok"
    assert rep.rows[1][0] == ("A[0, 0, 0]" if batched else "A[0, 0]")
    assert rep.worst["batch"] == ((2,) if batched else None)
    _ranked_by_ratio(rep)
    _summary_quotes_the_worst(rep)
    if batched:
        assert "matrix [2] of the batch" in rep.summary


def test_fast_mode_ranks_directions_by_the_fraction_of_tolerance(offset_op):
    W = np.array([[10.0, 0.1, 1.0], [3.0, 0.01, 5.0]])
    f = offset_op(W, np.full_like(W, 1e-3))              # <J^H v, u> off by 1e-3 sum(v u)
    rep = md.gradcheck(f, [leaf((2, 3))], fast=True, n_checks=6, seed=0, blame=False)
    assert not rep.ok and rep.kind == "gradcheck(fast)"
    pairs = {r[0]: (float(r[1]), float(r[2])) for r in rep.rows}
    tol = {c: 1e-5 + 1e-4 * abs(n) for c, (a, n) in pairs.items()}
    ratio = {c: abs(a - n) / tol[c] for c, (a, n) in pairs.items()}
    violation = {c: abs(a - n) - tol[c] for c, (a, n) in pairs.items()}
    assert max(ratio, key=ratio.get) != max(violation, key=violation.get)     # the two rankings disagree here
    assert [r[0] for r in rep.rows] == sorted(ratio, key=ratio.get, reverse=True)
    assert rep.worst["where"] == f"direction {rep.rows[0][0]}"
    assert rep.worst["ratio"] == pytest.approx(max(ratio.values()), rel=1e-4)
    _ranked_by_ratio(rep)
    _summary_quotes_the_worst(rep)


def test_check_adjoint_and_gradgradcheck_rank_by_the_fraction_of_tolerance():
    rep = md.check_adjoint(lambda A: tuple(md.qr(A)), [leaf((5, 3))], n_checks=6)
    assert rep.ok and rep.worst["where"] == f"direction {rep.rows[0][0]}"
    for r in rep.rows:           # the tolerance of a pair is rtol max(|jvp side|, |vjp side|)
        assert float(r[4]) == pytest.approx(1e-9 * max(abs(float(r[1])), abs(float(r[2]))), rel=1e-2)
    _ranked_by_ratio(rep)
    _summary_quotes_the_worst(rep)
    # the second derivatives of A ∘ A ∘ A are 0 off the diagonal: the rows are the diagonal's rounding errors
    rep = md.gradgradcheck(lambda A: A * A * A, [leaf((3, 3))])
    assert rep.ok and rep.worst["abs_err"] > 0 and rep.worst["numeric"] != 0 and float(rep.rows[0][3]) != 0
    _ranked_by_ratio(rep)
    _summary_quotes_the_worst(rep)


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_blame_names_the_wrong_node_inside_a_wide_qr_graph(graded_op, dtype):
    A, B = leaf((3, 3), dtype, 1, name="A"), md.tensor(leaf((3, 5), dtype, 2).data, name="B")
    rep = md.gradcheck(lambda A: tuple(md.qr(graded_op(A) @ B)), [A])
    assert not rep.ok
    assert [(c.op, c.number) for c in rep.blame] == [("graded_wrong", 1)]
    culprit = rep.blame[0]
    assert not culprit.vjp.ok and not culprit.jvp.ok   # a wrong vjp breaks the trace identity too
    assert culprit.inputs == [f"3x3 {np.dtype(dtype).name}"]
    assert culprit.ref == "C = A ∘ W, vjp off by 1 % of W"
    cleared = {c.op for c in rep.node_checks if c.ok}
    assert {"matmul", "split", "qr", "adjoint", "concat"} <= cleared
    text = str(rep)
    assert "the vjp of `graded_wrong` (node #1" in text and "disagrees with finite differences" in text
    w = culprit.vjp.worst              # the node's own entry furthest past its tolerance, quoted with its fraction
    assert w["ratio"] > 1 and w["ratio"] == pytest.approx(max(_used(r) for r in culprit.vjp.rows), rel=0.06)
    assert f"{w['where']}, analytic" in text and f"({percent(w['ratio'])} of its tolerance)" in text
    assert "`qr`" in text and "pass their own checks" in text


def test_blame_is_empty_when_every_node_passes_but_the_step_is_too_large():
    rep = md.gradcheck(lambda A: A @ A @ A, [leaf((3, 3))], eps=1e-1, atol=0, rtol=1e-8)
    assert not rep.ok and rep.blame == [] and all(c.ok for c in rep.node_checks)
    assert "every recorded node passes its own check" in str(rep)


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_batched_check_equals_the_full_jacobian_where_both_are_affordable(dtype):
    A = leaf((3, 4, 2), dtype, 4, name="A")
    f = lambda A: tuple(md.qr(A))  # noqa: E731
    full, batched = md.gradcheck(f, [A]), md.gradcheck(f, [A], batched=True)
    assert full.ok and batched.ok and batched.kind == "gradcheck(batched)"
    assert batched.n_compared * 3 == full.n_compared          # only the diagonal blocks
    assert batched.max_abs_err == pytest.approx(full.max_abs_err, rel=1e-3, abs=1e-12)


def test_batched_check_names_the_worst_matrix(graded_op):
    A = leaf((5, 2, 3), name="A")
    rep = md.gradcheck(graded_op, [A], batched=True)
    assert not rep.ok and rep.worst["batch"] == (4,) and rep.worst["input"] == "A[4, 1, 2]"
    assert "matrix [4] of the batch" in rep.summary


def test_batched_check_of_64_qrs_is_fast_where_the_full_jacobian_takes_minutes():
    A = leaf((64, 16, 8), seed=5)
    t0 = time.perf_counter()
    rep = md.gradcheck(lambda A: tuple(md.qr(A)), [A], batched=True)
    assert rep.ok and rep.n_compared == 64 * 16 * 8 * (16 * 8 + 8 * 8)
    assert time.perf_counter() - t0 < 3.0      # the cross-batch Jacobian has 64x more derivatives (~16 s)


def test_batched_check_refuses_a_function_that_mixes_the_batch():
    with pytest.raises(md.MatdiffError, match="mixes the matrices of the batch"):
        md.gradcheck(lambda A: A + md.sum(A, axis=0), [leaf((3, 2, 2))], batched=True)
    with pytest.raises(md.MatdiffError, match="stack of matrices"):
        md.gradcheck(lambda A: A @ A, [leaf((2, 2))], batched=True)


def test_relative_error_has_one_definition():
    A = leaf((4, 3))
    for rep in (md.gradcheck(lambda A: A * 3.0, [A]), md.gradcheck(lambda A: A * 3.0, [A], fast=True),
                md.check_adjoint(lambda A: A * 3.0, [A])):
        assert rep.max_rel_err <= 1e-8 and f"max rel err {rep.max_rel_err:.3g}" in str(rep)
    rep = md.check_adjoint(lambda A: A * 3.0, [A])
    mag = max(max(abs(float(r[1])), abs(float(r[2]))) for r in rep.rows)
    assert rep.max_rel_err == pytest.approx(rep.max_abs_err / mag)


def test_help_states_defaults_keywords_and_fields():
    doc = md.gradcheck.__doc__
    for word in ("1e-6", "1e-3", "1e-5", "1e-4", "1e-2", "fast", "batched", "n_checks", "seed", "max_rows",
                 "raise_on_fail", "blame", "summary", "worst", "max_rel_err"):
        assert word in doc, word
    assert "max |difference|" in md.Report.__doc__ or "matdiff.checks.report" in md.Report.__doc__


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_fast_mode_agrees_for_correct_rules(dtype):
    A = leaf((6, 4), dtype)
    rep = md.gradcheck(lambda A: tuple(md.qr(A)), [A], fast=True, n_checks=4)
    assert rep.ok and rep.n_compared == 4 and rep.max_rel_err < 1e-8


def _analytic(f, ts, diff, lins):
    rows = {}

    def consume(k, r0, blocks):
        rows[(k, r0)] = np.concatenate(blocks, axis=2)
    louts = fd._analytic(f, ts, diff, lins, 0, consume)
    offsets = np.cumsum([0] + [lay.per for lay in louts])
    J = np.zeros((1, offsets[-1], sum(lin.per for lin in lins)))
    for (k, r0), blk in rows.items():
        J[:, offsets[k] + r0:offsets[k] + r0 + blk.shape[1]] = blk
    return J, louts


def test_batched_jacobians_equal_the_loops(monkeypatch):
    A, B = leaf((3, 4), np.complex128, 1), leaf((4, 2), np.complex128, 2)
    f = lambda A, B: tuple(md.qr(A @ B))  # noqa: E731
    ts, diff = [A, B], [0, 1]
    lins = [fd._Layout(t, 0, "x") for t in ts]
    Ja, louts = _analytic(f, ts, diff, lins)
    Jn = [fd._numeric(f, ts, i, 1e-6, lin, louts) for i, lin in zip(diff, lins)]
    monkeypatch.setattr(fd, "_BATCHED", False)
    np.testing.assert_allclose(Ja, _analytic(f, ts, diff, lins)[0], rtol=1e-12, atol=1e-13)
    for i, lin, J in zip(diff, lins, Jn):       # a stack's QR is geqrf, one matrix's geqrfp: the forwards round
        #                                           differently at u: their differences part by up to ~100 u / h
        np.testing.assert_allclose(J, fd._numeric(f, ts, i, 1e-6, lin, louts), rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(Ja, np.concatenate(Jn, axis=2), rtol=1e-5, atol=1e-6)   # and they agree


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


def test_a_zero_tolerance_fails_every_difference_and_says_so():
    rep = md.gradcheck(lambda A: A @ A @ A, [leaf((3, 3))], atol=0, rtol=0, blame=False)
    assert not rep.ok and rep.worst["ratio"] == np.inf and rep.worst["tolerance"] == 0 and rep.worst["abs_err"] > 0
    assert "against a tolerance of 0" in rep.summary and "FAIL" in rep.table
    assert all(_used(r) == np.inf or float(r[4]) == 0 for r in rep.rows)     # exact agreement passes: 0 / 0 is 0


def test_check_adjoint_accepts_integer_inputs_like_gradcheck():
    A = leaf((3, 3))
    k = md.tensor(np.arange(9).reshape(3, 3))
    assert md.gradcheck(lambda A, k: A * k, [A, k]).ok
    assert md.check_adjoint(lambda A, k: A * k, [A, k]).ok


def test_gradgradcheck_blames_the_functions_own_nodes_not_its_finite_difference_copies(wrong_op):
    """Blame is applied in one place (checks/blame.py) to one recorded run of the function: gradgradcheck of a
    3-node function re-checks 3 nodes (it used to hand blame every node its first-derivative evaluations recorded)."""
    A = leaf((2, 2), np.complex128)
    rep = md.gradgradcheck(lambda A: md.sum(wrong_op(A) @ A, axis=-1), [A])
    assert not rep.ok
    assert [c.op for c in rep.node_checks] == ["square_wrong", "matmul", "sum"]
    assert [c.op for c in rep.blame] == ["square_wrong"] and rep.blame[0].order == 1


def test_the_public_checkers_are_the_pure_checks_plus_blame():
    from matdiff.checks import blame, finite_differences, second_order, trace_identity
    assert (md.gradcheck, md.gradgradcheck, md.check_adjoint) == (blame.gradcheck, blame.gradgradcheck,
                                                                  blame.check_adjoint)
    rep = finite_differences.compare(lambda A: A @ A @ A, [leaf((3, 3))], eps=1e-1, atol=0, rtol=1e-8)
    assert not rep.ok and rep.node_checks == [] and rep.blame == []     # pure: a failure is reported, not blamed
    for pure in (finite_differences.compare, second_order.compare_second, trace_identity.compare_pairs):
        assert "blame" not in inspect.signature(pure).parameters
