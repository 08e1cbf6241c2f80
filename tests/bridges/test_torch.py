"""matdiff.torch: values and gradients equal matdiff's on NumPy; torch's own checkers pass (first and second order,
forward mode, batched grads); torch.func and compile work; bad input and rank deficiency get matdiff's errors; and
the pinned cases where torch.linalg.qr itself is wrong are right here."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import matdiff as md  # noqa: E402
import matdiff.torch as mt  # noqa: E402

SHAPES = [(3, 3), (4, 2), (2, 4), (2, 3, 2)]          # square, deep, wide, a batch
F64, C128 = torch.float64, torch.complex128


def _rand(shape, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, dtype=dtype, generator=g)


def _f(kind, pivoting):
    fn = mt.qr if kind == "qr" else mt.lq
    return lambda A: tuple(fn(A, pivoting=pivoting)[:2])


@pytest.mark.parametrize("pivoting", [False, True])
@pytest.mark.parametrize("dtype", [F64, C128], ids=["real", "complex"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("kind", ["qr", "lq"])
def test_values_and_gradients_equal_matdiff_on_numpy(kind, shape, dtype, pivoting):
    A = _rand(shape, dtype).requires_grad_()
    outs = (mt.qr if kind == "qr" else mt.lq)(A, pivoting=pivoting)
    ref = (md.qr if kind == "qr" else md.lq)(a := md.tensor(A.detach().numpy(), requires_grad=True), pivoting=pivoting)
    seeds = [_rand(o.shape, dtype, seed=1 + i) for i, o in enumerate(outs[:2])]
    torch.autograd.backward(list(outs[:2]), seeds)
    md.backward(list(ref[:2]), [s.numpy() for s in seeds])
    for o, r in zip(outs, ref):
        np.testing.assert_allclose(o.detach().numpy(), r.data if hasattr(r, "data") else r, rtol=0, atol=1e-12)
    np.testing.assert_allclose(A.grad.numpy(), a.grad, rtol=0, atol=1e-12)
    T = outs[1] if kind == "qr" else outs[0]
    d = torch.diagonal(T, dim1=-2, dim2=-1)
    assert (d.imag.abs().max() if dtype == C128 else 0) == 0 and bool((d.real >= 0).all())


@pytest.mark.parametrize("pivoting", [False, True])
@pytest.mark.parametrize("dtype", [F64, C128], ids=["real", "complex"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("kind", ["qr", "lq"])
def test_torch_gradcheck_and_gradgradcheck(kind, shape, dtype, pivoting):
    A = _rand(shape, dtype, seed=2).requires_grad_()
    f = _f(kind, pivoting)
    assert torch.autograd.gradcheck(f, (A,), fast_mode=True, check_forward_ad=True, check_batched_grad=True,
                                    check_batched_forward_grad=not pivoting)
    if not pivoting:        # pivoting adds a gather, which torch differentiates itself: its second order is torch's
        assert torch.autograd.gradgradcheck(f, (A,), fast_mode=True, check_fwd_over_rev=True)


def test_torch_func_transforms_agree_with_autograd():
    A = _rand((3, 4, 3), F64)
    loss = lambda a: (mt.qr(a).Q.sum() + mt.lq(a).L.pow(2).sum())  # noqa: E731
    per = torch.func.vmap(torch.func.grad(loss))(A)
    for i in range(3):
        a = A[i].clone().requires_grad_()
        loss(a).backward()
        torch.testing.assert_close(per[i], a.grad, rtol=0, atol=1e-12)
    J = torch.func.jacrev(lambda a: mt.qr(a).Q)(A[0])
    torch.testing.assert_close(torch.func.jacfwd(lambda a: mt.qr(a).Q)(A[0]), J, rtol=0, atol=1e-10)
    H = torch.func.jacrev(torch.func.jacrev(lambda a: mt.lq(a).Q.sum()))(A[0])
    torch.testing.assert_close(torch.func.jacfwd(torch.func.jacrev(lambda a: mt.lq(a).Q.sum()))(A[0]), H,
                               rtol=0, atol=1e-9)


def test_torch_compile_fullgraph_traces_the_default_path():
    # backend="aot_eager": dynamo + AOT autograd trace the whole graph in seconds; inductor compiles the same graph
    # (checked by hand: fullgraph=True works) but takes over a minute on this 2-core machine
    A = _rand((4, 3), F64).requires_grad_()
    f = torch.compile(lambda a: mt.qr(a).Q.sum() + mt.lq(a.mT).L.sum(), fullgraph=True, backend="aot_eager")
    f(A).backward()
    B = A.detach().clone().requires_grad_()
    (mt.qr(B).Q.sum() + mt.lq(B.mT).L.sum()).backward()
    torch.testing.assert_close(A.grad, B.grad, rtol=0, atol=1e-12)


# -- rank ----------------------------------------------------------------------------------------------------
def test_one_singular_matrix_in_a_stack_and_an_ill_conditioned_one_reach_the_verdict():
    """The backward's quick pass (every matrix clear of both limits) must not hide one bad matrix of many."""
    good = _rand((40, 6, 4), F64)
    bad = good.clone()
    bad[17, :, 2] = bad[17, :, 1]                                  # one exactly rank-deficient matrix
    A = bad.requires_grad_()
    with pytest.raises(md.RankDeficientError, match="singular to working precision"):
        mt.qr(A).R.sum().backward()
    U, _, V = torch.linalg.svd(_rand((6, 4), F64), full_matrices=False)
    ill = good.clone()
    ill[5] = U @ torch.diag(torch.tensor([1.0, 1e-3, 1e-6, 1e-10], dtype=F64)) @ V  # cond 1e10: ill, not singular
    B = ill.requires_grad_()
    with pytest.warns(md.IllConditionedWarning):
        mt.qr(B).R.sum().backward()
    assert torch.isfinite(B.grad).all()


def test_rank_deficient_input_raises_where_values_are_concrete_and_is_nan_under_vmap():
    Z = torch.zeros(3, 3, dtype=F64, requires_grad=True)
    with pytest.raises(md.RankDeficientError, match="singular to working precision"):
        mt.qr(Z).R.sum().backward()
    W = torch.tensor([[1.0, 2.0, 3.0], [2.0, 4.0, 1.0]], dtype=F64, requires_grad=True)   # X = [[1,2],[2,4]]
    with pytest.raises(md.RankDeficientError, match=r"matdiff.torch.qr\(A, pivoting=True\)"):
        mt.qr(W).R.sum().backward()
    mt.qr(W, pivoting=True).R.sum().backward()                     # pivoting fixes it: a finite gradient
    assert torch.isfinite(W.grad).all()
    with pytest.warns(md.IllConditionedWarning, match="NaN for that matrix"):
        g = torch.autograd.grad(mt.lq(Z, check_rank="warn").L.sum(), Z)[0]
    assert torch.isnan(g).all()
    stack = torch.stack([Z.detach(), _rand((3, 3), F64)])
    per = torch.func.vmap(torch.func.grad(lambda a: mt.qr(a).Q.sum()))(stack)
    assert torch.isnan(per[0]).all() and torch.isfinite(per[1]).all()
    off = torch.autograd.grad(mt.qr(Z, check_rank="off").Q.sum(), Z)[0]       # no check: what 0/0 gives
    assert not torch.isfinite(off).all()


def test_under_torch_func_grad_the_values_are_read_as_in_eager_torch():
    """torch.func.grad/jacrev/jacfwd wrap tensors but hold concrete values: the rank error, the NaN check and
    pivoting work there as eagerly (through the wrappers); vmap hides its batch axis and keeps the traced policy."""
    W = torch.tensor([[1.0, 2.0, 3.0], [2.0, 4.0, 1.0]], dtype=F64)             # leading block singular
    for transform in (torch.func.grad, torch.func.jacrev):
        with pytest.raises(md.RankDeficientError, match=r"pivoting=True"):
            transform(lambda a: mt.qr(a).R.sum())(W)
        with pytest.raises(md.NonFiniteError, match="NaN or inf"):
            transform(lambda a: mt.lq(a).L.sum())(W * float("nan"))
    A = _rand((5, 3), C128)
    loss = lambda a: (mt.qr(a, pivoting=True).R.abs() ** 2).sum()                # noqa: E731
    eager = torch.autograd.grad(loss(B := A.clone().requires_grad_()), B)[0]
    torch.testing.assert_close(torch.func.grad(loss)(A), eager, rtol=0, atol=1e-12)
    assert torch.func.jacfwd(lambda a: mt.lq(a, pivoting=True).L)(_rand((3, 5), F64)).isfinite().all()
    with pytest.raises(md.MatdiffError, match="pivot outside the transform"):
        torch.func.vmap(lambda a: mt.qr(a, pivoting=True).R)(A[None])


# -- bad input --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad, error, match", [
    (torch.ones(3), md.ShapeError, "at least 2 axes"),
    (torch.ones(0, 3), md.ShapeError, "empty 0x3"),
    (torch.ones(2, 2, dtype=torch.int64), md.DTypeError, "float32/64 or complex64/128"),
    (torch.tensor([[1.0, float("nan")], [0.0, 1.0]]), md.NonFiniteError, "NaN or inf"),
    (np.ones((2, 2)), md.MatdiffError, "takes a torch.Tensor"),
])
def test_bad_input_gets_matdiffs_errors(bad, error, match):
    for fn in (mt.qr, mt.lq):
        with pytest.raises(error, match=match):
            fn(bad)


def test_bad_options_and_complete_mode():
    A = _rand((4, 2), F64)
    with pytest.raises(md.MatdiffError, match="unknown mode"):
        mt.qr(A, mode="r")
    with pytest.raises(md.MatdiffError, match="check_rank must be one of"):
        mt.qr(A, check_rank="maybe")
    with pytest.raises(md.MatdiffError, match="not differentiable"):
        mt.qr(A.requires_grad_(), mode="complete")
    with torch.no_grad():
        Q, R = mt.qr(A, mode="complete")
    assert Q.shape == (4, 4) and R.shape == (4, 2)
    torch.testing.assert_close(Q @ R, A.detach(), rtol=0, atol=1e-12)
    assert torch.empty(0, 3, 2, dtype=F64).shape == mt.qr(torch.empty(0, 3, 2, dtype=F64)).Q.shape[:1] + (3, 2)


def test_float32_and_dtype_kept():
    A = _rand((5, 3), torch.float32).requires_grad_()
    Q, R = mt.qr(A)
    assert Q.dtype == R.dtype == torch.float32
    (Q.sum() + R.sum()).backward()
    assert A.grad.dtype == torch.float32
    B = A.detach().double().requires_grad_()
    (lambda o: o.Q.sum() + o.R.sum())(mt.qr(B)).backward()
    torch.testing.assert_close(A.grad.double(), B.grad, rtol=1e-4, atol=1e-4)


# -- pinned: where torch.linalg.qr itself is wrong (torch 2.13, measured) ----------------------------------------
@pytest.mark.parametrize("which", ["triangular", "identity"])
def test_triangular_and_identity_input_right_here_wrong_in_torch(which):
    A = (torch.triu(_rand((3, 3), F64)) if which == "triangular" else torch.eye(3, dtype=F64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda a: tuple(mt.qr(a)), (A,))
    if torch.__version__.startswith("2.13"):     # LAPACK's tau = 0 flips diag R's sign under perturbation
        assert not torch.autograd.gradcheck(lambda a: tuple(torch.linalg.qr(a)), (A,), raise_exception=False)


def test_complex_128_cpu_qr_has_a_real_diagonal_here_not_in_torch():
    A, threads = _rand((128, 128), C128), torch.get_num_threads()
    torch.set_num_threads(2)                        # torch's complex CPU QR with 2 threads: diag R is not real
    try:
        assert torch.diagonal(mt.qr(A).R).imag.abs().max() == 0
        if torch.__version__.startswith("2.13"):
            assert torch.diagonal(torch.linalg.qr(A).R).imag.abs().max() > 1e-3      # 0.28 measured
    finally:
        torch.set_num_threads(threads)


def test_rank_deficient_input_torch_is_silently_huge_here_an_error():
    A = torch.tensor([[1.0, 2.0, 3.0], [2.0, 4.0, 5.0], [3.0, 6.0, 7.0]], dtype=F64, requires_grad=True)  # rank 2
    for M in (A, torch.zeros(3, 3, dtype=F64, requires_grad=True)):
        g = torch.autograd.grad(torch.linalg.qr(M).Q.sum(), M)[0]
        assert not torch.isfinite(g).all() or g.abs().max() > 1e12    # torch: no error; ~1e15, or NaN for zeros
        with pytest.raises(md.RankDeficientError):
            torch.autograd.grad(mt.qr(M).Q.sum(), M)
