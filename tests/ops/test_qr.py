"""QR and LQ exactly as the paper: every shape, real and complex, graph and fused, pivoted, gauge-safe."""
import sys
import warnings

import numpy as np
import pytest

import matdiff as md
from matdiff.testing import factors, leaf, mh, rand

SHAPES = [(4, 4), (6, 3), (3, 6), (1, 1), (1, 5), (5, 1), (2, 3, 5, 4), (2, 3, 7)]
DTYPES = [np.float64, np.complex128]


# -- the big matrix: shapes x dtypes x {qr, lq} x {graph, fused} x {pivoting} -----------------------
@pytest.mark.parametrize("pivoting", [False, True], ids=["nopiv", "piv"])
@pytest.mark.parametrize("fused", [False, True], ids=["graph", "fused"])
@pytest.mark.parametrize("kind", ["qr", "lq"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "c128"])
@pytest.mark.parametrize("shape", SHAPES, ids=["x".join(map(str, s)) for s in SHAPES])
def test_gradcheck_and_trace_identity(shape, dtype, kind, fused, pivoting):
    A = leaf(shape, dtype, seed=sum(shape))
    f = factors(kind, fused, pivoting)
    rep = md.gradcheck(f, [A])
    assert rep.ok and rep.max_rel_err < 1e-7, rep
    adj = md.check_adjoint(f, [A])
    assert adj.ok and adj.max_rel_err < 1e-10, adj


@pytest.mark.parametrize("kind", ["qr", "lq"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "c128"])
@pytest.mark.parametrize("shape", [(4, 4), (6, 3), (3, 6), (2, 3, 7), (2, 5, 4)], ids=str)
def test_gradcheck_on_the_array_api_strict_backend(shape, dtype, kind):
    A = md.tensor(rand(shape, dtype, seed=3, backend="array_api_strict"), requires_grad=True)
    for fused in (False, True):
        for pivoting in (False, True):
            rep = md.gradcheck(factors(kind, fused, pivoting), [A])
            assert rep.ok and rep.max_rel_err < 1e-7, rep


# -- forward identities ----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
@pytest.mark.parametrize("shape", SHAPES, ids=["x".join(map(str, s)) for s in SHAPES])
def test_forward_identities(shape, dtype):
    a = rand(shape, dtype, seed=11)
    tol = 1e-5 if np.dtype(dtype).itemsize <= 8 else 1e-12
    k = min(shape[-2:])
    Q, R = md.qr(a)
    assert Q.shape == shape[:-2] + (shape[-2], k) and R.shape == shape[:-2] + (k, shape[-1])
    assert Q.dtype == dtype and R.dtype == dtype
    np.testing.assert_allclose(Q.data @ R.data, a, atol=tol * 10)
    np.testing.assert_allclose(mh(Q.data) @ Q.data, np.broadcast_to(np.eye(k), Q.shape[:-2] + (k, k)), atol=tol * 10)
    np.testing.assert_array_equal(np.tril(R.data, -1), 0)
    d = np.diagonal(R.data, axis1=-2, axis2=-1)
    assert np.all(d.imag == 0) and np.all(d.real >= 0), "R must have a real non-negative diagonal"
    L, Ql = md.lq(a)
    np.testing.assert_allclose(L.data @ Ql.data, a, atol=tol * 10)
    np.testing.assert_array_equal(np.triu(L.data, 1), 0)
    Qh, Rh = md.qr(mh(a))                       # LQ(A) = QR(A^H)^H, with the same gauge
    np.testing.assert_allclose(L.data, mh(Rh.data), atol=tol * 10)
    np.testing.assert_allclose(Ql.data, mh(Qh.data), atol=tol * 10)


@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
@pytest.mark.parametrize("kind", ["qr", "lq"])
@pytest.mark.parametrize("shape", [(4, 4), (6, 3), (3, 6)], ids=str)
def test_single_precision_gradients_at_looser_tolerance(shape, kind, dtype):
    A = leaf(shape, dtype, seed=5)
    with pytest.warns(md.PrecisionWarning):
        rep = md.gradcheck(factors(kind, False, False), [A])
    assert rep.ok and rep.max_rel_err < 1e-2, rep
    assert md.check_adjoint(factors(kind, False, False), [A]).ok


# -- Figure 2: the wide graph, the fused node, and Qbar' by accumulation -----------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "c128"])
@pytest.mark.parametrize("kind,shape", [("qr", (3, 7)), ("qr", (2, 4, 6)), ("lq", (7, 3)), ("lq", (2, 6, 4))])
def test_graph_and_fused_agree_to_1e12(kind, shape, dtype):
    a = rand(shape, dtype, seed=2)
    k = min(shape[-2:])
    outs_shapes = [shape[:-2] + (shape[-2], k), shape[:-2] + (k, shape[-1])]
    seeds = [rand(s, dtype, seed=10 + i) for i, s in enumerate(outs_shapes)]
    res = []
    for fused in (False, True):
        A = md.tensor(a, requires_grad=True)
        outs = factors(kind, fused, False)(A)
        md.backward(list(outs), seeds)
        res.append([o.data for o in outs] + [A.grad])
    for g, f in zip(*res):
        assert np.linalg.norm(g - f) <= 1e-12 * np.linalg.norm(f)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "c128"])
@pytest.mark.parametrize("kind,shape", [("qr", (3, 7)), ("qr", (40, 90)), ("lq", (7, 3)), ("lq", (90, 40))])
def test_nothing_recorded_runs_the_fused_node_with_the_graphs_values(kind, shape, dtype, monkeypatch):
    """Under no_grad (or without requires_grad) a wide QR / deep LQ is one fused node -- the graph would record
    nothing -- and its factors are the graph's to round-off; with requires_grad the graph's five nodes are built."""
    a = rand(shape, dtype, seed=3)
    fn = md.qr if kind == "qr" else md.lq
    A = md.tensor(a, requires_grad=True)
    graph = fn(A)
    assert graph[0].node.op.name != f"{kind}_{'wide' if kind == 'qr' else 'deep'}"       # the partition graph
    module, graph_fn = (sys.modules["matdiff.ops.qr"], "figure2") if kind == "qr" else \
        (sys.modules["matdiff.ops.lq"], "proposition3")         # (matdiff.ops.qr, the attribute, is the function)
    monkeypatch.setattr(module, graph_fn, lambda *a, **k: pytest.fail("the graph was built with nothing recorded"))
    with md.no_grad():
        quiet = fn(A)
    plain = fn(a)
    for g, q, p in zip(graph, quiet, plain):
        assert q.node is None and p.node is None
        assert np.linalg.norm(q.data - g.data) <= 1e-13 * np.linalg.norm(g.data)
        np.testing.assert_array_equal(q.data, p.data)


def test_wide_graph_accumulates_qbar_prime_into_Q():
    A = leaf((3, 5), np.complex128, 4)
    Q, R = md.qr(A)
    Qbar, Rbar = rand((3, 3), np.complex128, 5), rand((3, 5), np.complex128, 6)
    md.backward([Q, R], [Qbar, Rbar])
    X, Y = md.split(A, [3], axis=-1)                    # the same partition, by hand, for the expected value
    Vbar = Rbar[:, 3:]
    Qbar_prime = Qbar + Y.data @ mh(Vbar)         # Eq 9: Qbar' = Qbar + Y Vbar^H
    U_node = R.node.inputs[0].node                # concat <- U comes from the qr node of X
    Q_of_X = U_node.outputs[0]
    np.testing.assert_allclose(Q_of_X.grad, Qbar_prime, rtol=1e-12)


# -- pivoting -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "c128"])
@pytest.mark.parametrize("shape", [(5, 3), (3, 6), (2, 4, 4)], ids=str)
def test_pivoted_factorisations_reproduce_the_permuted_matrix(shape, dtype):
    a = rand(shape, dtype, seed=8)
    Q, R, perm = md.qr(a, pivoting=True)
    assert perm.shape == shape[:-2] + (shape[-1],) and perm.dtype.kind == "i"
    np.testing.assert_allclose(np.take_along_axis(a, perm[..., None, :], -1), Q.data @ R.data, atol=1e-12)
    d = np.abs(np.diagonal(R.data, axis1=-2, axis2=-1))
    assert np.all(np.diff(d, axis=-1) <= 1e-12), "geqp3 orders |r_kk| non-increasing"
    L, Ql, perm = md.lq(a, pivoting=True)
    assert perm.shape == shape[:-2] + (shape[-2],)
    np.testing.assert_allclose(np.take_along_axis(a, perm[..., :, None], -2), L.data @ Ql.data, atol=1e-12)


def _singular_leading_block(dtype):
    a = rand((3, 6), dtype, seed=9)
    a[:, 2] = a[:, 0] + 2 * a[:, 1]             # X = A[:, :3] singular, A still of full row rank
    return a


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "c128"])
def test_wide_full_rank_with_singular_leading_block_needs_pivoting(dtype):
    a = _singular_leading_block(dtype)
    assert np.linalg.matrix_rank(a) == 3 and np.linalg.matrix_rank(a[:, :3]) == 2
    for fused in (False, True):
        A = md.tensor(a, requires_grad=True)
        Q, R = md.qr(A, fused=fused)
        with pytest.raises(md.RankDeficientError, match=r"pivoting=True") as e:
            md.sum(md.real(R)).backward()
        assert "3x6" in str(e.value) and "smallest |diagonal|" in str(e.value)
        assert A.grad is None and R.grad is None                    # nothing half-done ...
        with pytest.raises(md.RankDeficientError):                  # ... and nothing freed: the same error again
            md.sum(md.real(R)).backward()
    A = md.tensor(a, requires_grad=True)
    rep = md.gradcheck(factors("qr", False, True), [A])
    assert rep.ok and rep.max_rel_err < 1e-6, rep


def test_deep_lq_with_singular_top_block_names_pivoting():
    a = rand((6, 3), seed=3)
    a[2] = a[0] - a[1]
    L, Q = md.lq(md.tensor(a, requires_grad=True))
    with pytest.raises(md.RankDeficientError, match="pivoting=True"):
        md.sum(L).backward()
    assert md.gradcheck(factors("lq", False, True), [md.tensor(a, requires_grad=True)]).ok


# -- Walter-Lehmann Eq 8 and the Section 4.4 correction ----------------------------------------------
@pytest.mark.parametrize("shape", [(4, 4), (6, 3), (2, 5, 3)], ids=str)
def test_eq8_equals_eq3_for_real_input(shape):
    a = rand(shape, seed=1)
    seeds = [rand(shape[:-1] + (shape[-1],), seed=2), rand(shape[:-2] + (shape[-1],) * 2, seed=3)]
    grads = {}
    for formula in ("eq3", "eq8", "eq8-uncorrected"):
        A = md.tensor(a, requires_grad=True)
        md.backward(list(md.qr(A, formula=formula)), seeds)
        grads[formula] = A.grad
    for formula in ("eq8", "eq8-uncorrected"):
        np.testing.assert_allclose(grads[formula], grads["eq3"], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(4, 4), (6, 3), (3, 5)], ids=str)
def test_complex_eq8_needs_the_section_4_4_correction(shape):
    A = leaf(shape, np.complex128, 6)
    wrong = md.gradcheck(factors("qr", False, False, "eq8-uncorrected"), [A])
    assert not wrong.ok and wrong.max_rel_err > 1e-3, wrong
    right = md.gradcheck(factors("qr", False, False, "eq8"), [A])
    assert right.ok and right.max_rel_err < 1e-7, right


# -- rank, conditioning, bad input ------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["qr", "lq"])
def test_singular_input_raises_rank_deficient_error_not_nan(kind):
    a = rand((4, 4), seed=1)
    a[:, 3] = a[:, 0] if kind == "qr" else a[:, 3]
    if kind == "lq":
        a[3] = a[0]
    A = md.tensor(a, requires_grad=True)
    out = md.qr(A) if kind == "qr" else md.lq(A)
    with pytest.raises(md.RankDeficientError, match="4x4.*singular.*smallest"):
        md.backward(list(out), [np.ones((4, 4)), np.ones((4, 4))])
    with pytest.raises(md.RankDeficientError):
        md.jvp(factors(kind, False, False), [a], [np.ones((4, 4))])


def test_ill_conditioned_input_warns_with_condition_number():
    a = rand((4, 4), seed=1)
    a[:, 3] = a[:, 0] + 1e-9 * a[:, 3]
    A = md.tensor(a, requires_grad=True)
    with pytest.warns(md.IllConditionedWarning, match="QR backward: .*condition number") as rec:
        md.sum(md.qr(A).R).backward()
    assert np.all(np.isfinite(A.grad))
    assert rec[0].filename == __file__          # the warning points at the user's line, not into matdiff
    with pytest.warns(md.IllConditionedWarning, match="QR forward mode") as rec:
        md.jvp(lambda A: tuple(md.qr(A)), [a], [np.ones((4, 4))])
    assert rec[0].filename == __file__


def test_well_conditioned_input_does_not_warn():
    A = leaf((5, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        md.sum(md.qr(A).R).backward()


def test_complete_mode_where_it_is_defined():
    a = rand((5, 3), seed=1)
    with md.no_grad():
        Q, R = md.qr(md.tensor(a, requires_grad=True), mode="complete")
    assert Q.shape == (5, 5) and R.shape == (5, 3)
    np.testing.assert_allclose(Q.data @ R.data, a, atol=1e-12)
    A = leaf((3, 5))                              # wide: complete == reduced, differentiable
    assert md.gradcheck(lambda A: tuple(md.qr(A, mode="complete")), [A]).ok


def test_integer_input_is_converted_like_numpy():
    Q, R = md.qr(np.array([[2, 1], [1, 3]]))
    assert Q.dtype == np.float64
    np.testing.assert_allclose(Q.data @ R.data, [[2, 1], [1, 3]], atol=1e-12)


# -- the paper's helpers, against their definitions ---------------------------------------------------------
def test_paper_helpers_match_their_definitions():
    from matdiff import paper
    M = rand((5, 5), seed=1)
    Mc = rand((5, 5), np.complex128, seed=2)
    E = paper.E(5)
    assert E[3, 1] == 2 and E[2, 2] == 1 and E[1, 3] == 0
    np.testing.assert_array_equal(E, 2 * paper.P_L(5) + np.eye(5))
    np.testing.assert_allclose(paper.sym(M), (M + M.T) / 2)
    np.testing.assert_allclose(paper.symh(Mc), (Mc + Mc.conj().T) / 2)
    np.testing.assert_allclose(paper.copyltu(M), paper.sym(E * M), rtol=1e-15)
    np.testing.assert_allclose(paper.hcopyltu(Mc), paper.symh(E * Mc), rtol=1e-15)
    np.testing.assert_allclose(paper.hcopyltu(M), paper.copyltu(M))
    H = paper.hcopyltu(Mc)
    np.testing.assert_allclose(H, H.conj().T)                     # Hermitian
    np.testing.assert_allclose(np.tril(H, -1), np.tril(Mc, -1))    # lower triangle kept
    np.testing.assert_allclose(np.diag(H), np.diag(Mc).real)       # real diagonal


def test_copyltu_reads_only_the_lower_triangle():
    from matdiff import paper
    M = rand((4, 4), seed=3)
    W = M.copy()
    W[np.triu_indices(4, 1)] = np.inf                          # the upper triangle is never read
    np.testing.assert_array_equal(paper.copyltu(W), paper.copyltu(M))
    np.testing.assert_array_equal(paper.hcopyltu(W.astype(complex)), paper.hcopyltu(M.astype(complex)))


@pytest.mark.parametrize("kind", ["qr", "lq"])
@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4), (2, 3, 5)])
@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("which", [0, 1])
def test_an_unused_output_costs_nothing_and_changes_nothing(kind, shape, fused, which):
    """The rules skip the terms of an unused output (its adjoint is None): same gradient as an explicit zero seed."""
    a = rand(shape, np.complex128, seed=3)
    f = factors(kind, fused=fused)
    A1, A2 = md.tensor(a, requires_grad=True), md.tensor(a, requires_grad=True)
    out1, out2 = f(A1), f(A2)
    G = rand(out1[which].shape, np.complex128, seed=4)
    md.backward([out1[which]], [G])
    md.backward(list(out2), [G if k == which else np.zeros(o.shape, o.dtype) for k, o in enumerate(out2)])
    np.testing.assert_allclose(A1.grad, A2.grad, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("formula", ["eq8", "eq8-uncorrected"])
def test_eq8_with_an_unused_output(formula):
    a = rand((5, 3), seed=2)
    A1, A2 = md.tensor(a, requires_grad=True), md.tensor(a, requires_grad=True)
    md.backward([md.qr(A1, formula=formula).R], [np.ones((3, 3))])
    Q, R = md.qr(A2, formula=formula)
    md.backward([Q, R], [np.zeros((5, 3)), np.ones((3, 3))])
    np.testing.assert_allclose(A1.grad, A2.grad, rtol=1e-13, atol=1e-13)
