"""Every registered op: gradcheck (real and complex, batched shapes) and the jvp/vjp trace identity,
on NumPy and on array_api_strict (the stand-in for a second, non-NumPy backend)."""
import numpy as np
import pytest

import matdiff as md
from matdiff.suite import CASES
from matdiff.testing import BACKENDS, leaf

ALL = [(op, i, be) for op in sorted(CASES) for i, case in enumerate(CASES[op])
       for be in (case[3] if len(case) > 3 else BACKENDS)]
IDS = [f"{op}-{CASES[op][i][0]}-{be}" for op, i, be in ALL]


def _inputs(shapes, dtype, backend):
    return [leaf(s, dtype, seed=7 + j, backend=backend, name="AB"[j] if j < 2 else None) for j, s in enumerate(shapes)]


def test_every_registered_op_has_a_gradcheck_case():
    missing = [name for name in md.registry if name not in CASES]
    assert not missing, f"ops registered without a gradcheck case in tests/cases.py: {missing}"


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("op,i,backend_name", ALL, ids=IDS)
def test_gradcheck(op, i, backend_name, dtype):
    label, shapes, f = CASES[op][i][:3]
    xs = _inputs(shapes, dtype, backend_name)
    with md.Tape() as tape:
        f(*xs)
    assert op in {n.op.name for n in tape.nodes}, f"case {label} does not exercise {op}"
    rep = md.gradcheck(f, xs)
    assert rep.ok, rep
    assert rep.max_rel_err < 1e-7, rep


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("op,i,backend_name", ALL, ids=IDS)
def test_jvp_matches_vjp_by_trace_identity(op, i, backend_name, dtype):
    label, shapes, f = CASES[op][i][:3]
    rep = md.check_adjoint(f, _inputs(shapes, dtype, backend_name))
    assert rep.ok, rep


def test_mixed_real_complex_gradients_are_real_for_real_inputs():
    A = leaf((3, 3), np.float64, 1)
    B = leaf((3, 3), np.complex128, 2)
    loss = md.sum(md.real((A @ B) * (A @ B).conj()))
    loss.backward()
    assert A.grad.dtype == np.float64 and B.grad.dtype == np.complex128
    assert md.gradcheck(lambda A, B: A @ B, [A, B]).ok


def test_broadcast_gradient_is_summed_back_to_input_shape():
    A = leaf((2, 3, 4))
    b = leaf((4,), seed=3)
    md.sum(A + b).backward()
    assert b.grad.shape == (4,)
    np.testing.assert_allclose(b.grad, np.full(4, 6.0))


def test_forward_values_match_numpy():
    A, B = leaf((2, 3, 4), np.complex128, 1), leaf((4, 2), np.complex128, 2)
    np.testing.assert_allclose((A @ B).data, A.data @ B.data)
    X, Y = md.split(A, [1], axis=-1)
    np.testing.assert_array_equal(md.concat([X, Y], axis=-1).data, A.data)
    np.testing.assert_array_equal(md.permute(A, [1, 0, 3, 2], axis=-1).data, A.data[..., [1, 0, 3, 2]])
    np.testing.assert_array_equal(A.mH.data, np.conj(np.swapaxes(A.data, -1, -2)))
    np.testing.assert_array_equal(A[..., 1:, ::2].data, A.data[..., 1:, ::2])
    assert md.sum(A, axis=(0, 2)).shape == (3,)
