"""The same rules on CuPy. Marked ``gpu``: skipped cleanly without CuPy or a CUDA device (see conftest.py)."""
import numpy as np
import pytest

import matdiff as md
from matdiff.suite import CASES
from matdiff.testing import rand

pytestmark = pytest.mark.gpu
SHAPES = [(4, 4), (6, 3), (3, 6), (2, 3, 5, 4), (2, 3, 7)]


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("op", sorted(CASES))
def test_every_op_gradchecks_on_the_gpu(op, dtype):
    for label, shapes, f, *only in CASES[op]:
        if only and "cupy" not in only[0]:
            continue
        xs = [md.tensor(rand(s, dtype, seed=3 + j), requires_grad=True, device="gpu") for j, s in enumerate(shapes)]
        assert all(x.device == "gpu" for x in xs)
        rep = md.gradcheck(f, xs)
        assert rep.ok, (label, rep)


@pytest.mark.parametrize("pivoting", [False, True])
@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("kind", ["qr", "lq"])
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_qr_lq_on_the_gpu(shape, dtype, kind, fused, pivoting):
    A = md.tensor(rand(shape, dtype, seed=1), requires_grad=True, device="gpu")
    fn = md.qr if kind == "qr" else md.lq
    f = lambda A: tuple(fn(A, fused=fused, pivoting=pivoting)[:2])  # noqa: E731
    rep = md.gradcheck(f, [A])
    assert rep.ok and rep.max_rel_err < 1e-7, rep
    assert md.check_adjoint(f, [A]).ok
    Q = fn(A)[0]
    assert Q.device == "gpu" and type(Q.data).__module__.startswith("cupy")


def test_gpu_and_cpu_gradients_agree():
    a = rand((6, 4), np.complex128, seed=2)
    grads = []
    for device in ("cpu", "gpu"):
        A = md.tensor(a, requires_grad=True, device=device)
        Q, R = md.qr(A)
        (md.sum(md.real(Q * Q.conj())[:, :2]) + md.sum(md.real(R)[:2, :])).backward()
        grads.append(A.grad if device == "cpu" else A.grad.get())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-10, atol=1e-12)


def test_mixing_cpu_and_gpu_is_an_error():
    with pytest.raises(md.DeviceError, match="mixes"):
        md.tensor(np.eye(2), device="gpu") @ md.tensor(np.eye(2))


# -- stacks of small matrices: the batched paths against cuSOLVER's per-matrix QR -----------------------------
@pytest.mark.parametrize("path", ["vectorized", "kernel"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
@pytest.mark.parametrize("shape", [(64, 16, 16), (256, 64, 32), (32, 32, 64), (16, 128, 64)], ids=str)
def test_batched_qr_paths_equal_cusolver(shape, dtype, path, monkeypatch):
    import cupy as cp

    from matdiff.backend import cuda_qr
    from matdiff.ops.factorization import gauge as _gauge
    b = md.backend.get("cupy")
    itemsize = np.dtype(dtype).itemsize
    real_itemsize = itemsize // (2 if np.dtype(dtype).kind == "c" else 1)
    if path == "kernel" and not cuda_qr.fits(*shape[-2:], itemsize, real_itemsize):
        pytest.skip("larger than the kernel's shared memory: the vectorized path serves it")
    monkeypatch.setenv("MATDIFF_CUDA_QR", path)
    a = cp.asarray(rand(shape, dtype, seed=4))
    Q, R = _gauge(b, *b.qr(a))                     # the nodes' gauge, as md.qr applies it
    Qs, Rs = _gauge(b, *cp.linalg.qr(a, mode="reduced"))
    tol = 200 * np.finfo(dtype).eps * max(shape[-2:])
    assert float(cp.abs(Q - Qs).max()) < tol and float(cp.abs(R - Rs).max()) < tol * float(cp.abs(Rs).max())


def test_a_gpu_backward_synchronises_once_for_its_checks(monkeypatch):
    b = md.backend.get("cupy")
    calls = []
    real = type(b).to_host
    monkeypatch.setattr(type(b), "to_host", lambda self, a: calls.append(a.shape) or real(self, a))
    A = md.tensor(rand((3, 6), seed=3), requires_grad=True, device="gpu")
    outs = [md.qr(A), md.lq(A), md.qr(A.mH)]
    loss = md.sum(outs[0].R) + md.sum(outs[1].L) + md.sum(outs[2].R)
    calls.clear()
    loss.backward()
    assert len(calls) == 1                 # three rank checks, one device-to-host copy
