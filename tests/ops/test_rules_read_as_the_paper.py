"""The QR/LQ rules read as the paper (issue 20, points 3-5): each equation's text is one constant that the registry,
the printed tape and ``md.FORMULAS`` all show; the rank check runs for every vjp and jvp of the four nodes through
the node machinery; the contract primitives that make the literal formulas fast equal their literal definitions;
the rules equal the literal Eq 3 / Eq 17 written with plain NumPy."""
import inspect
import math
import pathlib
from types import SimpleNamespace

import numpy as np
import pytest

import matdiff as md
from matdiff import paper
from matdiff.backend import get
from matdiff.ops import factorization
from matdiff.ops.lq import EQ17, PROP3, lq_deep_jvp, lq_deep_vjp, lq_jvp, lq_vjp
from matdiff.ops.on_tensors import GraphBackend
from matdiff.ops.qr import EQ3, EQ8, EQ8_UNCORRECTED, EQ9_10, qr_jvp, qr_vjp, qr_wide_jvp, qr_wide_vjp
from matdiff.testing import BACKENDS, leaf, mh, rand

NODES = {"qr": EQ3, "qr_wide": EQ9_10, "lq": EQ17, "lq_deep": PROP3}
PACKAGE = pathlib.Path(md.__file__).parent


# -- one constant per equation ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(NODES))
def test_the_registry_and_the_tape_notation_read_the_equation_constant(name):
    op, eq = md.registry[name], NODES[name]
    assert op.ref is eq.ref and op.adjoints is eq.notation
    assert eq.ref.startswith(eq.label + ": " + eq.text) and len(eq.notation) == 1


def test_md_formulas_is_built_from_the_constants():
    assert md.FORMULAS["eq3"] is EQ3.ref and md.FORMULAS["eq8"] is EQ8.ref
    assert md.FORMULAS["eq8-uncorrected"] is EQ8_UNCORRECTED.ref


@pytest.mark.parametrize("eq", [EQ3, EQ9_10, EQ17, PROP3], ids=lambda e: e.label)
def test_each_equations_text_is_written_once_in_the_package(eq):
    hits = [p.name for p in PACKAGE.rglob("*.py") if eq.text in p.read_text(encoding="utf-8")]
    assert len(hits) == 1, hits
    assert sum(p.read_text(encoding="utf-8").count(eq.text) for p in PACKAGE.rglob("*.py")) == 1


def test_a_printed_tape_shows_the_constants_notation():
    A = leaf((5, 3), seed=1, name="A")
    Q, R = md.qr(A)
    tape = md.registry["qr"].adjoints[0].format(Q_="Q̄", Q="Q", R="R", R_="R̄")
    assert "hcopyltu(M)" in tape and md.registry["qr"].adjoints is EQ3.notation
    assert Q.node.op.adjoints is EQ3.notation


# -- the rank check, applied by the node machinery ---------------------------------------------------------------
def _singular(name, dtype):
    """An input whose triangular factor (R, U, L or the top block of L) has a zero on its diagonal."""
    shape = {"qr": (5, 3), "qr_wide": (3, 5), "lq": (3, 5), "lq_deep": (5, 3)}[name]
    a = rand(shape, dtype, seed=3)
    if name in ("qr", "qr_wide"):
        a[:, 1] = 2 * a[:, 0]              # column 1 of the leading block depends on column 0
    else:
        a[1, :] = 2 * a[0, :]              # row 1 of the top block depends on row 0
    return a


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("name", sorted(NODES))
def test_a_rank_deficient_factor_is_refused_by_vjp_and_jvp_of_every_node(name, dtype):
    op, a = md.registry[name], _singular(name, dtype)
    A = md.tensor(a, requires_grad=True)
    outs = op(A)
    with pytest.raises(md.RankDeficientError, match="singular to working precision"):
        md.backward(list(outs), [np.ones(o.shape, dtype) for o in outs])
    with pytest.raises(md.RankDeficientError, match="forward mode"):
        md.jvp(lambda X: op(X), [md.tensor(a)], [np.ones(a.shape, dtype)])


@pytest.mark.parametrize("name", sorted(NODES))
def test_the_rank_check_runs_under_create_graph_too(name):
    op, a = md.registry[name], _singular(name, np.float64)
    A = md.tensor(a, requires_grad=True)
    outs = op(A)
    with pytest.raises(md.RankDeficientError):
        md.grad(list(outs), [A], [np.ones(o.shape) for o in outs], create_graph=True)


def test_rank_checked_wraps_a_nodes_rules_once():
    calls = []

    @factorization.rank_checked(factor=0)
    class node:
        def vjp(ctx, Tbar):
            calls.append("vjp")
            return (Tbar,)

        def jvp(ctx, dA):
            calls.append("jvp")
            return dA

    ctx = SimpleNamespace(b=get("numpy"), saved=(np.diag([1.0, 0.0]),), kind="QR", shape=(2, 2), hint="", source=None)
    for rule in (node.vjp, node.jvp):
        with pytest.raises(md.RankDeficientError):
            rule(ctx, np.ones((2, 2)))
    assert calls == []                        # refused before the formula ran
    ctx.saved = (np.diag([1.0, 2.0]),)
    node.vjp(ctx, np.ones((2, 2)))
    node.jvp(ctx, np.ones((2, 2)))
    assert calls == ["vjp", "jvp"]


def test_a_nan_on_the_diagonal_is_rank_deficient_not_a_pass():
    ctx = SimpleNamespace(kind="QR", shape=(3, 3), hint="", source=None)
    for d in (np.array([1.0, math.nan, 2.0]), np.array([[1.0, 2.0, 3.0], [1.0, math.nan, 2.0]])):
        with pytest.raises(md.RankDeficientError, match="nan"):
            factorization._verdict(ctx, d, 2.2e-16, "backward")


# -- the primitives equal their literal definitions ---------------------------------------------------------------
def _backends():
    return [(n, get(n)) for n in BACKENDS] + [("tensor", GraphBackend(get("numpy")))]


def _arr(b, x):
    return md.tensor(x) if isinstance(b, GraphBackend) else b.from_host(x)


def _host(b, x):
    return np.asarray(x.data) if isinstance(b, GraphBackend) else b.arrays.to_host(x)


def _upper(k, dtype, seed):
    """A well-conditioned upper triangle: R of a tall random matrix (a random triangle's condition grows as 2^k)."""
    return _gauged_qr(rand((2 * k, k), dtype, seed))[1]


@pytest.mark.parametrize("k", [4, 300])                 # 300: NumPy's blocked kernels (leaves of 256 and 64)
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("label,b", _backends(), ids=lambda x: x if isinstance(x, str) else "")
def test_the_new_primitives_equal_their_literal_definitions(label, b, dtype, k):
    if k == 300 and label != "numpy":
        pytest.skip("the blocked kernels are NumPy's; the generic versions are checked at k = 4")
    R, L, X, Y = _upper(k, dtype, 1), mh(_upper(k, dtype, 2)), rand((5, k), dtype, 3), rand((k, 5), dtype, 4)
    got = _host(b, b.solve_right_adjoint(_arr(b, R), _arr(b, X.copy())))
    np.testing.assert_allclose(got, X @ np.linalg.inv(mh(R)), atol=1e-12)                  # X R^{-H}
    got = _host(b, b.solve_left_adjoint(_arr(b, L), _arr(b, Y.copy())))
    np.testing.assert_allclose(got, np.linalg.inv(mh(L)) @ Y, atol=1e-12)                  # L^{-H} Y
    B = rand((k, k), dtype, 5)
    got = _host(b, b.tril_matmul(_arr(b, R), _arr(b, B), upper_a=True))
    np.testing.assert_allclose(np.tril(got), np.tril(R @ B), atol=1e-12)                    # the lower triangle


# -- the rules equal the literal formulas -------------------------------------------------------------------------
def _eq3_literal(Q, R, Qbar, Rbar):
    M = R @ mh(Rbar) - mh(Qbar) @ Q
    return (Qbar + Q @ paper.hcopyltu(M)) @ np.linalg.inv(mh(R))


def _eq17_literal(L, Q, Lbar, Qbar):
    M = mh(L) @ Lbar - Qbar @ mh(Q)
    return np.linalg.inv(mh(L)) @ (Qbar + paper.hcopyltu(M) @ Q)


def _gauged_qr(a):
    return factorization.gauge(get("numpy"), *np.linalg.qr(a))


@pytest.mark.parametrize("shape", [(6, 4), (400, 300)], ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("label,b", _backends(), ids=lambda x: x if isinstance(x, str) else "")
def test_qr_vjp_and_lq_vjp_equal_the_literal_equations(label, b, dtype, shape):
    if shape[0] > 6 and label != "numpy":
        pytest.skip("the fast kernels are NumPy's")
    a = rand(shape, dtype, 6)
    Q, R = _gauged_qr(a)
    Qbar, Rbar = rand(Q.shape, dtype, 7), rand(R.shape, dtype, 8)
    got = _host(b, qr_vjp(b, *(_arr(b, x) for x in (Q, R, Qbar, Rbar))))
    np.testing.assert_allclose(got, _eq3_literal(Q, R, Qbar, Rbar), rtol=1e-9, atol=1e-10)
    L, Qt = mh(R), mh(Q)                                         # the LQ of A^H
    got = _host(b, lq_vjp(b, *(_arr(b, x) for x in (L, Qt, mh(Rbar), mh(Qbar)))))
    np.testing.assert_allclose(got, _eq17_literal(L, Qt, mh(Rbar), mh(Qbar)), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_an_unused_output_is_a_zero_adjoint(dtype):
    b, a = get("numpy"), rand((6, 4), dtype, 9)
    Q, R = _gauged_qr(a)
    Qbar, Rbar = rand(Q.shape, dtype, 10), rand(R.shape, dtype, 11)
    np.testing.assert_allclose(qr_vjp(b, Q, R, None, Rbar), _eq3_literal(Q, R, 0 * Qbar, Rbar), atol=1e-12)
    np.testing.assert_allclose(qr_vjp(b, Q, R, Qbar, None), _eq3_literal(Q, R, Qbar, 0 * Rbar), atol=1e-12)
    np.testing.assert_allclose(lq_vjp(b, mh(R), mh(Q), None, mh(Qbar)),
                               _eq17_literal(mh(R), mh(Q), 0 * mh(Rbar), mh(Qbar)), atol=1e-12)
    np.testing.assert_allclose(lq_vjp(b, mh(R), mh(Q), mh(Rbar), None),
                               _eq17_literal(mh(R), mh(Q), mh(Rbar), 0 * mh(Qbar)), atol=1e-12)
    for seeds in ((None, Rbar), (Qbar, None)):                 # the fused wide rule too (Eq 9-10)
        a = rand((4, 6), dtype, 12)
        Qw, Rw = _gauged_qr(a)
        full = [s if s is not None else np.zeros(f.shape, dtype) for s, f in zip((rand((4, 4), dtype, 13),
                                                                                 rand((4, 6), dtype, 14)), (Qw, Rw))]
        used = [f if s is not None else None for f, s in zip(full, seeds)]
        np.testing.assert_allclose(qr_wide_vjp(b, a, Qw, Rw, *used),
                                   qr_wide_vjp(b, a, Qw, Rw, *[u if u is not None else 0 * f for u, f in
                                                               zip(used, full)]), atol=1e-12)


def test_eq8_equals_eq3_for_real_input_and_needs_the_correction_for_complex():
    b = get("numpy")
    for dtype in (np.float64, np.complex128):
        Q, R = _gauged_qr(rand((6, 4), dtype, 12))
        Qbar, Rbar = rand(Q.shape, dtype, 13), rand(R.shape, dtype, 14)
        np.testing.assert_allclose(qr_vjp(b, Q, R, Qbar, Rbar, "eq8"), qr_vjp(b, Q, R, Qbar, Rbar), atol=1e-12)
    assert not np.allclose(qr_vjp(b, Q, R, Qbar, Rbar, "eq8-uncorrected"), qr_vjp(b, Q, R, Qbar, Rbar))


def test_the_bridge_signatures():
    """Other array libraries (the PyTorch / JAX bridges) call these rules by name: their signatures are a contract."""
    sig = {f.__name__: list(inspect.signature(f).parameters) for f in
           (qr_vjp, qr_jvp, qr_wide_vjp, qr_wide_jvp, lq_vjp, lq_jvp, lq_deep_vjp, lq_deep_jvp, factorization.gauge)}
    assert sig == {"qr_vjp": ["b", "Q", "R", "Qbar", "Rbar", "formula"], "qr_jvp": ["b", "Q", "R", "dA"],
                   "qr_wide_vjp": ["b", "A", "Q", "R", "Qbar", "Rbar", "formula"],
                   "qr_wide_jvp": ["b", "A", "Q", "R", "dA"], "lq_vjp": ["b", "L", "Q", "Lbar", "Qbar"],
                   "lq_jvp": ["b", "L", "Q", "dA"], "lq_deep_vjp": ["b", "A", "L", "Q", "Lbar", "Qbar"],
                   "lq_deep_jvp": ["b", "A", "L", "Q", "dA"], "gauge": ["b", "Q", "R"]}


@pytest.mark.parametrize("kind", ["qr", "lq"])
def test_the_fused_rules_equal_the_partition_graph(kind):
    """Eq 9-10 / Proposition 3 (one node) and Figure 2 / its transpose (a graph of nodes) give one gradient."""
    shape = (3, 5) if kind == "qr" else (5, 3)
    fn = md.qr if kind == "qr" else md.lq
    a, seeds = rand(shape, np.complex128, 15), None
    grads = []
    for fused in (False, True):
        A = md.tensor(a, requires_grad=True)
        outs = list(fn(A, fused=fused))
        seeds = seeds or [rand(o.shape, np.complex128, 16 + i) for i, o in enumerate(outs)]
        grads.append(md.grad(outs, [A], seeds)[0])
    np.testing.assert_allclose(grads[0], grads[1], atol=1e-12)
