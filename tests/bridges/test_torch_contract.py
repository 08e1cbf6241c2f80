"""The torch backend (matdiff/backend/torch_backend.py) against the contract: every primitive implemented, nothing
public beyond it, and each primitive's numbers equal the NumPy backend's on the same inputs."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import matdiff as md  # noqa: E402
from matdiff.backend import contract  # noqa: E402
from matdiff.backend.torch_backend import torch_backend  # noqa: E402

NP, TB = md.backend.get("numpy"), torch_backend("cpu")


def test_the_torch_backend_implements_every_primitive_and_attribute():
    missing = [n for n in contract.PRIMITIVES if getattr(getattr(TB, n), "kind", None) is not None]
    assert not missing, f"torch backend lacks {missing}"
    for name in contract.ATTRIBUTES:
        assert hasattr(TB, name), name
    extra = {n for n in dir(TB) if not n.startswith("_")} - contract.NAMES
    assert extra <= {"xp"}, sorted(extra)
    assert TB.device == "cpu" and TB.array_type is torch.Tensor and TB.arrays is TB


def _inputs(dtype):
    rng = np.random.default_rng(3)
    c = lambda *s: (rng.standard_normal(s) + (1j * rng.standard_normal(s) if dtype == "c" else 0))  # noqa: E731
    T = np.triu(c(2, 3, 3)) + 3 * np.eye(3)
    return dict(A=c(2, 3, 3), B=c(2, 3, 4), T=T, d=c(2, 3), perm=np.array([2, 0, 1]))


# name -> the call, on a backend b and the inputs x (of that backend)
CALLS = {
    "mT": lambda b, x: b.mT(x["B"]), "mH": lambda b, x: b.mH(x["B"]), "conj": lambda b, x: b.conj(x["A"]),
    "real": lambda b, x: b.real(x["A"]),
    "tril": lambda b, x: b.tril(x["A"], -1), "triu": lambda b, x: b.triu(x["B"], 1),
    "diagonal": lambda b, x: b.diagonal(x["B"]), "diag_embed": lambda b, x: b.diag_embed(x["d"]),
    "add_diagonal": lambda b, x: b.add_diagonal(x["A"] * 1, x["d"]),
    "concat": lambda b, x: b.concat([x["A"], x["B"]], -1),
    "reshape": lambda b, x: b.reshape(x["B"], (3, 8)), "broadcast_to": lambda b, x: b.broadcast_to(x["d"], (4, 2, 3)),
    "sum": lambda b, x: b.sum(x["B"], axis=-1, keepdims=True), "sum_all": lambda b, x: b.sum(x["B"]),
    "permute": lambda b, x: b.permute(x["A"], x["perm"], -1),
    "permute_rows": lambda b, x: b.permute(x["B"], x["perm"], -2),
    "where": lambda b, x: b.where(b.real(x["A"]) > 0, x["A"], x["A"] * 2),
    "setitem_copy": lambda b, x: b.setitem_copy((2, 3, 5), x["B"].dtype, (..., slice(1, 5)), x["B"]),
    "solve_left": lambda b, x: b.solve_triangular(x["T"], x["B"], lower=False),
    "solve_right_adj": lambda b, x: b.solve_triangular(x["T"], b.mT(x["B"]), lower=False, side="right", adjoint=True),
    "solve_lower": lambda b, x: b.solve_triangular(b.mH(x["T"]), x["B"], lower=True, adjoint=True),
    "solve_right": lambda b, x: b.solve_triangular(x["T"], b.mT(x["B"]), lower=False, side="right"),
    # a real right solve runs as the left solve of its transpose: a lower 2-D T broadcast over a stack of B too
    "solve_right_lower_broadcast": lambda b, x: b.solve_triangular(b.mH(x["T"][0]), b.mT(x["B"]), lower=True,
                                                                   side="right"),
    "solve_right_adjoint": lambda b, x: b.solve_right_adjoint(x["T"], b.mT(x["B"]) * 1),
    "solve_left_adjoint": lambda b, x: b.solve_left_adjoint(b.mH(x["T"]), x["B"] * 1),
    "tril_matmul": lambda b, x: b.tril(b.tril_matmul(x["A"], x["T"])), "hcopyltu": lambda b, x: b.hcopyltu(x["A"]),
    "phase": lambda b, x: b.phase(b.concat([x["d"], b.abs(x["d"][..., :1]) * 0], -1)),
    "abs": lambda b, x: b.abs(x["A"]),
    "amin": lambda b, x: b.amin(b.abs(x["A"])), "argsort": lambda b, x: b.argsort(b.real(x["d"])),
    "qr_R_abs": lambda b, x: b.abs(b.qr(x["B"])[1]), "qr_complete": lambda b, x: b.abs(b.qr_complete(b.mT(x["B"]))[1]),
    "pivots": lambda b, x: b.pivots(x["B"]), "pivot_rows": lambda b, x: b.pivots(x["B"], rows=True),
    "vdot_real": lambda b, x: b.vdot_real(x["A"], x["A"] * 2), "isfinite_all": lambda b, x: b.isfinite_all(x["A"]),
    "total": lambda b, x: b.total(x["A"]), "host_values": lambda b, x: b.host_values(b.amin(b.abs(x["A"]))),
    "imag": lambda b, x: b.imag(x["A"] * 1j), "any": lambda b, x: b.any(b.real(x["A"]) > 0),
    "astype": lambda b, x: b.astype(b.real(x["A"]), b.float32), "eye": lambda b, x: b.eye(3, b.float64),
    "zeros_ones": lambda b, x: b.zeros((2, 2), b.float64) + b.ones((2, 2), b.float64),
}


@pytest.mark.parametrize("dtype", ["f", "c"])
@pytest.mark.parametrize("name", sorted(CALLS))
def test_each_primitive_gives_the_numpy_backends_numbers(name, dtype):
    x = _inputs(dtype)
    want = CALLS[name](NP, x)
    got = CALLS[name](TB, {k: torch.as_tensor(v) for k, v in x.items()})
    got = TB.to_host(got) if isinstance(got, torch.Tensor) else got
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-12, atol=1e-12)


def test_queries_answer_as_the_numpy_backend():
    for t, n in [(torch.float32, np.float32), (torch.complex128, np.complex128), (torch.int64, np.int64)]:
        assert TB.dtype_name(t) == NP.dtype_name(np.dtype(n))
        assert TB.is_complex(t) == NP.is_complex(np.dtype(n)) and TB.is_float(t) == NP.is_float(np.dtype(n))
        assert TB.dtype_name(TB.real_dtype(t)) == np.dtype(NP.real_dtype(np.dtype(n))).name
        assert TB.dtype_name(TB.complex_dtype(t)) == np.dtype(NP.complex_dtype(np.dtype(n))).name
    assert TB.result_type(torch.int64, torch.float32) == torch.float64          # NumPy's promotion, not torch's
    assert TB.eps(torch.float32) == NP.eps(np.dtype(np.float32))
    a = torch.ones(2)
    assert TB.own(a) is a and TB.own(torch.nn.Parameter(a)) is not None and TB.own(np.ones(2)) is None
    assert TB.values(a) is a and TB.from_host(np.ones(2)).device.type == "cpu"
    assert TB.asarray([1.0, 2.0], dtype=torch.float32).dtype == torch.float32


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.complex64, torch.complex128])
def test_isfinite_all_finds_one_nan_or_inf_anywhere(dtype):
    A = torch.randn(3, 4, 5, dtype=dtype)
    assert TB.isfinite_all(A, A.mT, torch.empty(0, 2, dtype=dtype), torch.ones(2, dtype=torch.int64))
    bad = [float("nan"), float("inf"), -float("inf")] + ([complex(0, float("nan")), complex(1, -float("inf"))]
                                                          if dtype.is_complex else [])
    for v in bad:
        for i in [(0, 0, 0), (2, 3, 4), (1, 2, 0)]:
            B = A.clone()
            B[i] = v
            assert not TB.isfinite_all(A, B) and not TB.isfinite_all(B.conj()), (v, i)
