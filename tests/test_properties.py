"""Property-based gradient tests (hypothesis): QR and LQ on inputs nobody picked by hand.

Every example draws m, n in [1, 8], optional batch axes, a dtype, a condition number <= 1e3 and a seed; the
matrix is ``matdiff.testing.conditioned(batch, m, n, cond, dtype, seed)``, so a failure prints everything needed
to rebuild it. The profile (``tests/conftest.py``) is derandomized in CI: the same examples every run.
"""
import os

import numpy as np
from hypothesis import assume, given, note, settings
from hypothesis import strategies as st

import matdiff as md
from matdiff.testing import conditioned, factors, mh

# examples per test in the CI profile (>= 1000 in all); MATDIFF_THOROUGH=1 runs ten times as many, unseeded
SCALE = 10 if os.environ.get("MATDIFF_THOROUGH") else 1
EXAMPLES = {"fd": 600, "fused": 400, "duality": 400, "single": 300, "split": 30, "permute": 30}
N = {k: v * SCALE for k, v in EXAMPLES.items()}

sizes = st.integers(1, 8)
batches = st.sampled_from([(), (2,), (1, 2)])
double = st.sampled_from([np.float64, np.complex128])
single = st.sampled_from([np.float32, np.complex64])
conds = st.floats(1.0, 700.0)    # cond(X) of the partition block; cond(A) <= sqrt(1.81) * 700 < 1e3 (matdiff.testing)
seeds = st.integers(0, 2 ** 32 - 1)
kinds = st.sampled_from(["qr", "lq"])
forms = st.sampled_from(["graph", "fused", "pivoted"])


def _matrix(batch, m, n, cond, dtype, seed):
    a = conditioned(batch, m, n, cond, dtype, seed)
    c = float(np.linalg.cond(a.astype(np.complex128)).max())
    note(f"matdiff.testing.conditioned({batch}, {m}, {n}, cond={cond!r}, dtype=np.{np.dtype(dtype).name}, "
         f"seed={seed}) -- cond(A) = {c:.3g}")
    assert c <= 1e3
    return a


def _bound(cond, dtype, m, n):
    """docs/robustness.md's bound, two computations of the same factors and gradients (graph vs fused, LQ vs QR of A^H):
    relative difference <= 10 cond(X) eps max(m, n), cond(X) the partition block's (= ``cond``; observed <= 0.14x
    this in 1,500 random draws of these strategies)."""
    return 10 * cond * np.finfo(dtype).eps * max(m, n)


def _factor(kind, form):
    return factors(kind, fused=form == "fused", pivoting=form == "pivoted")


def _pivots_stable(a, kind):
    """Pivoted QR is differentiable only away from ties in geqp3's choice. At step j geqp3 takes the column of
    largest remaining norm, ``||R[j:, j]||``; require it to beat every later column ``||R[j:, c]||`` by 1e-3
    (relative) -- far more than gradcheck's 1e-6 steps can move it. LQ pivots rows: the same test on ``A^H``."""
    import scipy.linalg
    a = mh(a) if kind == "lq" else a
    for M in a.reshape((-1,) + a.shape[-2:]):
        R = scipy.linalg.qr(M, mode="r", pivoting=True)[0]
        k = min(M.shape)
        for j in range(k):
            norms = np.linalg.norm(R[j:k, j:], axis=0)
            if norms.size > 1 and norms[1:].max() > (1 - 1e-3) * norms[0]:
                return False
    return True


def _grad(f, a, seeds):
    A = md.tensor(a, requires_grad=True)
    out = f(A)
    md.backward(list(out), list(seeds))
    return [o.data for o in out], A.grad


def _seeds_for(f, a, seed):
    rng = np.random.default_rng(seed + 1)
    with md.no_grad():
        out = f(md.tensor(a))
    cplx = np.iscomplexobj(a)
    return [(rng.standard_normal(o.shape) + (1j * rng.standard_normal(o.shape) if cplx else 0)).astype(a.dtype)
            for o in out]


# -- gradients equal finite differences; jvp and vjp satisfy the trace identity -------------------------------
@settings(max_examples=N["fd"])
@given(m=sizes, n=sizes, batch=batches, dtype=double, cond=conds, kind=kinds, form=forms, seed=seeds)
def test_gradients_equal_finite_differences(m, n, batch, dtype, cond, kind, form, seed):
    a = _matrix(batch, m, n, cond, dtype, seed)
    if form == "pivoted":
        assume(_pivots_stable(a, kind))
    f = _factor(kind, form)
    A = md.tensor(a, requires_grad=True)
    rep = md.gradcheck(f, [A])
    assert rep.ok and rep.max_rel_err < 1e-6, rep
    adj = md.check_adjoint(f, [A], n_checks=1, seed=seed)
    assert adj.ok, adj


# -- the Figure 2 / Proposition 3 graph equals the fused node ------------------------------------------------
@settings(max_examples=N["fused"])
@given(k=sizes, extra=st.integers(1, 7), batch=batches, dtype=double, cond=conds, kind=kinds, seed=seeds)
def test_graph_equals_fused(k, extra, batch, dtype, cond, kind, seed):
    m, n = (k, k + extra) if kind == "qr" else (k + extra, k)      # wide QR, deep LQ: where the two differ
    a = _matrix(batch, m, n, cond, dtype, seed)
    g_graph, g_fused = _factor(kind, "graph"), _factor(kind, "fused")
    seeds_ = _seeds_for(g_graph, a, seed)
    (o1, grad1), (o2, grad2) = _grad(g_graph, a, seeds_), _grad(g_fused, a, seeds_)
    tol = _bound(cond, dtype, m, n)
    for x, y in zip(o1, o2):
        np.testing.assert_allclose(x, y, rtol=0, atol=tol * np.abs(y).max())
    assert np.linalg.norm(grad1 - grad2) <= tol * np.linalg.norm(grad2)


# -- duality: LQ(A) is QR(A^H)^H, for values and gradients -------------------------------------------------
@settings(max_examples=N["duality"])
@given(m=sizes, n=sizes, batch=batches, dtype=double, cond=conds, form=forms, seed=seeds)
def test_lq_is_the_adjoint_of_qr_of_the_adjoint(m, n, batch, dtype, cond, form, seed):
    a = _matrix(batch, m, n, cond, dtype, seed)
    if form == "pivoted":
        assume(_pivots_stable(a, "lq"))
    with md.no_grad():
        lq_out = md.lq(md.tensor(a), fused=form == "fused", pivoting=form == "pivoted")
        qr_out = md.qr(md.tensor(mh(a)), fused=form == "fused", pivoting=form == "pivoted")
    if form == "pivoted":
        np.testing.assert_array_equal(lq_out.perm, qr_out.perm)    # row pivots of A = column pivots of A^H
    Lbar, Qbar = _seeds_for(_factor("lq", form), a, seed)
    (L, Q), gA = _grad(_factor("lq", form), a, [Lbar, Qbar])
    (Qq, R), gB = _grad(_factor("qr", form), mh(a), [mh(Qbar), mh(Lbar)])
    tol = _bound(cond, dtype, m, n)
    np.testing.assert_allclose(L, mh(R), rtol=0, atol=tol * np.abs(L).max())
    np.testing.assert_allclose(Q, mh(Qq), rtol=0, atol=tol)
    assert np.linalg.norm(gA - mh(gB)) <= tol * np.linalg.norm(gA)


# -- single precision: float32/complex64 gradients against the float64 ones (checked above) -------------------
@settings(max_examples=N["single"])
@given(m=sizes, n=sizes, batch=batches, dtype=single, cond=conds, kind=kinds, form=forms, seed=seeds)
def test_single_precision_gradients_at_looser_tolerance(m, n, batch, dtype, cond, kind, form, seed):
    a = _matrix(batch, m, n, cond, dtype, seed)
    wide = np.complex128 if np.dtype(dtype).kind == "c" else np.float64
    if form == "pivoted":
        assume(_pivots_stable(a.astype(wide), kind))
    f = _factor(kind, form)
    seeds_ = _seeds_for(f, a, seed)
    _, g32 = _grad(f, a, seeds_)
    _, g64 = _grad(f, a.astype(wide), [s.astype(wide) for s in seeds_])
    assert g32.dtype == dtype
    err = np.linalg.norm(g32 - g64) / np.linalg.norm(g64)
    note(f"relative error {err:.3g}")
    assert err <= 30 * cond * np.finfo(dtype).eps * max(m, n)


# -- structural ops --------------------------------------------------------------------------------------------
@settings(max_examples=N["split"])
@given(n=st.integers(1, 8), data=st.data(), dtype=double)
def test_split_then_concat_is_identity_with_identity_gradient(n, data, dtype):
    points = sorted(data.draw(st.lists(st.integers(0, n), max_size=3)))
    A = md.tensor(conditioned((), 3, n, dtype=dtype, seed=n) if n >= 3 else np.ones((3, n), dtype), requires_grad=True)
    parts = md.split(A, points, axis=-1)
    B = md.concat(list(parts), axis=-1)
    np.testing.assert_array_equal(B.data, A.data)
    G = np.random.default_rng(n).standard_normal((3, n)).astype(dtype)
    md.backward([B], [G])
    np.testing.assert_array_equal(A.grad, G)


@settings(max_examples=N["permute"])
@given(n=st.integers(1, 7), seed=seeds, axis=st.sampled_from([-1, -2]))
def test_permute_backward_is_the_inverse_permutation(n, seed, axis):
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    A = md.tensor(rng.standard_normal((n, n)), requires_grad=True)
    B = md.permute(A, perm, axis=axis)
    G = rng.standard_normal((n, n))
    md.backward([B], [G])
    inv = np.argsort(perm)
    expected = G[:, inv] if axis == -1 else G[inv, :]
    np.testing.assert_array_equal(A.grad, expected)


def test_the_ci_profile_runs_at_least_1000_examples():
    assert sum(EXAMPLES.values()) >= 1000
