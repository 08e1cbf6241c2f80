"""Gauge and backend independence: matdiff's answers depend on A, not on which valid QR a library returned, nor
on which array library holds the data.

* A backend whose QR returns ``(Q D, D^H R)`` for a random sign (real) or phase (complex) diagonal ``D`` -- a valid
  decomposition in a rotated gauge, which is what MKL/cuSOLVER may hand back -- gives the same values and gradients
  as plain NumPy, because every forward re-gauges to a real non-negative diagonal (Section 4.3).
* NumPy and the CPU stand-in backend (array_api_strict) give equal values, gradients and tangents for every op.
"""
import numpy as np
import pytest

import matdiff as md
from matdiff.ops.qr import qr_op
from matdiff.suite import CASES, decomposition_cases
from matdiff.testing import factors, leaf, rand


class RotatedGaugeBackend(md.backend.NumPyBackend):
    """NumPy, but its QR is ``(Q D, D^H R)`` with a fresh random sign/phase diagonal ``D`` on every call."""

    def __init__(self):
        super().__init__()
        self.rng = np.random.default_rng(99)

    def qr(self, A):
        Q, R = np.linalg.qr(A)
        k = R.shape[-2]
        if np.iscomplexobj(A):
            D = np.exp(2j * np.pi * self.rng.random(A.shape[:-2] + (k,)))
        else:
            D = self.rng.choice([-1.0, 1.0], size=A.shape[:-2] + (k,))
        return Q * D[..., None, :], R * np.conj(D)[..., :, None]


class PhasyBackend(md.backend.NumPyBackend):
    """NumPy, but its QR's phases vary *smoothly* with A -- so finite differences see them too."""

    def qr(self, A):
        Q, R = np.linalg.qr(A)
        if not np.iscomplexobj(A):
            return Q, R
        k = R.shape[-2]
        theta = 0.7 * np.sum(A.real, axis=(-2, -1))[..., None] + 0.3 * np.arange(k) * np.abs(A[..., :1, 0]) ** 2
        D = np.exp(1j * theta)
        return Q * D[..., None, :], R * np.conj(D)[..., :, None]


def _values_and_grads(f, a, seeds):
    A = md.tensor(a, requires_grad=True)
    out = f(A)
    md.backward(list(out), seeds)
    return [o.numpy() for o in out], A.backend.to_host(A.grad)


DECOMP = [(label, shape, f) for _, label, shape, f in decomposition_cases()]


@pytest.mark.parametrize("dtype", [np.float64, np.complex128], ids=["f64", "c128"])
@pytest.mark.parametrize("label,shape,f", DECOMP, ids=[d[0].replace(" ", "-") for d in DECOMP])
def test_a_rotated_gauge_backend_leaves_values_and_gradients_unchanged(monkeypatch, label, shape, f, dtype):
    a = rand(shape, dtype, seed=8)
    with md.no_grad():
        shapes = [o.shape for o in f(md.tensor(a))]
    seeds = [rand(s, dtype, seed=9 + i) for i, s in enumerate(shapes)]
    ref_out, ref_grad = _values_and_grads(f, a, seeds)
    monkeypatch.setitem(md.backend._INSTANCES, "numpy", RotatedGaugeBackend())
    b = md.backend.get("numpy")
    assert not all(np.allclose(b.qr(a)[1], np.linalg.qr(a)[1]) for _ in range(3)), "the gauge must really rotate"
    out, grad = _values_and_grads(f, a, seeds)
    for x, y in zip(out, ref_out):
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-12 * np.abs(y).max())
    np.testing.assert_allclose(grad, ref_grad, rtol=0, atol=1e-12 * np.abs(ref_grad).max())


@pytest.fixture
def phasy(monkeypatch):
    monkeypatch.setitem(md.backend._INSTANCES, "numpy", PhasyBackend())


@pytest.mark.parametrize("kind,shape", [("qr", (4, 4)), ("qr", (5, 3)), ("qr", (3, 5)), ("lq", (3, 5)), ("lq", (5, 3))])
def test_gauge_makes_gradients_right_for_a_phase_varying_backend(phasy, kind, shape):
    A = leaf(shape, np.complex128, 2)
    diag = lambda a: np.diagonal(A.backend.qr(a)[1], axis1=-2, axis2=-1)  # noqa: E731
    assert np.abs(diag(A.data).imag).max() > 1e-2, "the backend must return complex diagonals"
    assert np.abs(np.angle(diag(A.data + 1e-3)) - np.angle(diag(A.data))).min() > 1e-4, "phases must vary with A"
    for fused in (False, True):
        rep = md.gradcheck(factors(kind, fused), [A])
        assert rep.ok and rep.max_rel_err < 1e-7, rep


def test_without_the_gauge_the_phase_varying_backend_breaks_the_gradient(phasy, monkeypatch):
    monkeypatch.setitem(qr_op.forward.__globals__, "gauged_qr", lambda b, A: b.qr(A))   # ops/qr.py's, ungauged
    rep = md.gradcheck(factors("qr"), [leaf((4, 4), np.complex128, 2)])
    assert not rep.ok   # control: the gauge tests above can fail


# -- NumPy == array_api_strict ------------------------------------------------------------------------------
ALL = [(op, case[0], case[1], case[2]) for op in sorted(CASES) for case in CASES[op]
       if len(case) < 4 or "array_api_strict" in case[3]]
ALL += [(None, label, [shape], f) for label, shape, f in DECOMP]


def _run(backend_name, shapes, f, dtype):
    """Values, seeded-backward gradients and forward-mode tangents of ``f`` on one backend, as NumPy arrays."""
    b = md.backend.get(backend_name)
    xs = [md.tensor(rand(s, dtype, seed=20 + j, backend=backend_name), requires_grad=True)
          for j, s in enumerate(shapes)]
    out = f(*xs)
    outs = out if isinstance(out, tuple) else (out,)
    seeds = [b.from_host(np.asarray(rand(o.shape, o.backend.dtype_name(o.dtype), seed=40 + i)))
             for i, o in enumerate(outs)]
    md.backward(list(outs), seeds)
    tangents = [rand(s, dtype, seed=60 + j, backend=backend_name) for j, s in enumerate(shapes)]
    _, dots = md.jvp(f, [x.data for x in xs], tangents)
    dots = dots if isinstance(dots, tuple) else (dots,)
    host = b.to_host
    return [host(o.data) for o in outs], [host(x.grad) for x in xs], [host(d) for d in dots]


@pytest.mark.parametrize("dtype", [np.float64, np.complex128], ids=["f64", "c128"])
@pytest.mark.parametrize("op,label,shapes,f", ALL, ids=[f"{a[0] or 'decomp'}-{a[1]}".replace(" ", "-") for a in ALL])
def test_numpy_and_the_array_api_backend_agree(op, label, shapes, f, dtype):
    ref = _run("numpy", shapes, f, dtype)
    got = _run("array_api_strict", shapes, f, dtype)
    for what, xs, ys in zip(("value", "gradient", "tangent"), got, ref):
        for x, y in zip(xs, ys):
            assert x.shape == y.shape and x.dtype == y.dtype, what
            np.testing.assert_allclose(x, y, rtol=0, atol=1e-12 * max(1.0, np.abs(y).max()), err_msg=what)
