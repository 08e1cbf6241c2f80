"""gradcheck runs NumPy's OpenBLAS on one thread (``jacobians.one_blas_thread``) -- its kernels are stacks of small
matrices, which OpenBLAS threads badly -- restores the caller's count, and gets the very same Report as before."""
import numpy as np
import pytest

import matdiff as md
import matdiff.checks.jacobians as fd
from matdiff.backend import fast_qr
from matdiff.testing import leaf

needs_binding = pytest.mark.skipif(fast_qr.get_threads() is None, reason="NumPy's bundled OpenBLAS is not bound here")


@pytest.fixture
def two_threads():
    user = fast_qr.get_threads()
    fast_qr.set_threads(2)
    yield
    fast_qr.set_threads(user)


@pytest.fixture
def graded_op():
    """``C = A * W`` (W = 1, 2, 3, ...) whose vjp is 5 % too large (past float32's 1e-2 too): a check that fails."""
    @md.register("graded_wrong_blas", ref="C = A ∘ W, vjp off by 5 %")
    class graded_wrong_blas:
        def forward(ctx, A):
            b = ctx.b
            ctx.W = b.astype(b.from_host(np.arange(1.0, 1.0 + np.prod(A.shape[-2:])).reshape(A.shape[-2:])), A.dtype)
            return A * ctx.W

        def vjp(ctx, Cbar):
            return (Cbar * ctx.b.conj(ctx.W) * 1.05,)

        def jvp(ctx, dA):
            return dA * ctx.W
    yield graded_wrong_blas
    md.unregister("graded_wrong_blas")


@needs_binding
def test_the_check_runs_blas_on_one_thread_and_restores_the_count(two_threads):
    seen = []

    def f(A):
        seen.append(fast_qr.get_threads())          # None in the chunk threads; the main thread's count else
        return tuple(md.qr(A))

    assert md.gradcheck(f, [leaf((6, 4), np.complex128)]).ok
    assert set(seen) - {None} == {1}
    assert fast_qr.get_threads() == 2


@needs_binding
def test_the_count_is_restored_when_the_check_refuses(two_threads):
    with pytest.raises(md.MatdiffError, match="does not depend"):
        md.gradcheck(lambda A, B: B * 2.0, [leaf((3, 3)), md.tensor(np.ones((3, 3)))])
    assert fast_qr.get_threads() == 2


@pytest.mark.filterwarnings("ignore::matdiff.PrecisionWarning")
@pytest.mark.parametrize("dtype, batched", [(np.complex128, False), (np.complex128, True), (np.float32, True),
                                            (np.float64, False)])
def test_one_blas_thread_gives_the_same_report_as_the_callers_count(graded_op, two_threads, monkeypatch, dtype,
                                                                     batched):
    A = leaf((3, 6, 4) if batched else (6, 4), dtype, 5)
    f = lambda A: graded_op(md.qr(A)[1])            # noqa: E731 - a QR, then a wrong vjp: the check fails
    fast = md.gradcheck(f, [A], batched=batched, max_rows=20)
    monkeypatch.setattr(fd.fast_qr, "get_threads", lambda: None)    # the plain path: the caller's two threads
    plain = md.gradcheck(f, [A], batched=batched, max_rows=20)
    assert not fast.ok and not plain.ok
    assert fast.rows == plain.rows and fast.worst == plain.worst
    assert (fast.max_abs_err, fast.max_rel_err, fast.n_compared) == (plain.max_abs_err, plain.max_rel_err,
                                                                     plain.n_compared)


@pytest.mark.parametrize("batched", [False, True])
def test_the_chunk_size_does_not_change_the_report(graded_op, monkeypatch, batched):
    """Chunks only split the columns (numeric) and rows (analytic) among evaluations; the ranking of the streamed
    blocks keeps the same worst entries however they are cut."""
    A = leaf((2, 6, 4) if batched else (6, 4), np.complex128, 7)
    f = lambda A: graded_op(md.qr(A)[1])            # noqa: E731
    whole = md.gradcheck(f, [A], batched=batched, max_rows=30)
    monkeypatch.setattr(fd, "_CHUNK", 64)            # many small chunks, in both threads
    cut = md.gradcheck(f, [A], batched=batched, max_rows=30)
    assert not whole.ok and cut.rows == whole.rows and cut.worst == whole.worst
    assert (cut.max_abs_err, cut.n_compared) == (whole.max_abs_err, whole.n_compared)


def test_exact_ties_rank_the_same_whichever_chunk_arrives_first():
    """The .re and .im of a complex entry often use the very same share of their tolerance; chunk threads report in
    any order, so ties are broken by position, not by arrival."""
    Jn = np.ones((1, 2, 3))
    Ja = Jn + np.array([[[0.5, 0.0, 0.5], [0.5, 0.0, 0.0]]])      # three exactly tied entries
    orders = []
    for blocks in ([(0, Ja[:, :1], Jn[:, :1]), (1, Ja[:, 1:], Jn[:, 1:])],
                   [(1, Ja[:, 1:], Jn[:, 1:]), (0, Ja[:, :1], Jn[:, :1])]):
        cmp = fd._Compare(1e-5, 1e-4, keep=3)
        for r0, a, n in blocks:
            cmp.add(0, r0, a, n)
        orders.append([(c[3], c[4]) for c in cmp.cands])
    assert orders[0] == orders[1] == [(0, 0), (0, 2), (1, 0)]


@pytest.mark.parametrize("shape, keep", [((1, 40, 30), 12), ((2, 3, 50), 12), ((1, 5, 4), 30), ((1, 200, 7), 3)])
def test_the_streamed_comparison_keeps_the_entries_a_full_sort_finds(shape, keep):
    """The kept entries are the ``keep`` largest fractions of the tolerance over every block, whatever the shape
    (fewer rows than ``keep`` too), with ties, an exact 0/0, a NaN (infinitely past) and a zero tolerance."""
    rng = np.random.default_rng(5)
    Jn = rng.standard_normal(shape)
    Ja = Jn + rng.choice([0.0, 1e-6, 1e-3, 1e-3], size=shape) * rng.choice([-1, 1], size=shape)
    Jn.flat[3], Ja.flat[3] = 0.0, 0.0                          # 0 / 0 with atol = 0: uses none of it
    Ja.flat[7] = np.nan                                        # a NaN: infinitely past
    atol, rtol = 0.0, 1e-4
    cmp = fd._Compare(atol, rtol, keep)
    cut = shape[1] // 2
    cmp.add(0, 0, Ja[:, :cut], Jn[:, :cut])
    cmp.add(0, cut, Ja[:, cut:], Jn[:, cut:])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.abs(Ja - Jn) / (atol + rtol * np.abs(Jn))
    ratio[np.isnan(ratio)] = np.inf
    ratio.flat[3] = 0.0
    want = np.sort(ratio.reshape(-1))[::-1][:keep]
    assert [c[0] for c in cmp.cands] == list(want)
    assert cmp.n == Ja.size
