"""What users type at a Tensor (issue 19, point 9): float/complex/int of one element, truth values and orderings
(a clear ConversionError), division as a node (``/``, ``md.divide``), ``md.reshape`` / ``T.reshape``,
``md.qr(A).backward()``, ``.grad`` accumulation, and the float32 rank error that names float64."""
import re
import warnings

import numpy as np
import pytest

import matdiff as md
from matdiff.testing import BACKENDS, leaf

RNG = np.random.default_rng(19)


def _away_from_zero(shape, dtype=np.float64, seed=0):
    """A leaf whose entries are 3 +- 0.3 N(0, 1) (complex: a random phase too): a divisor with |B| in [1.5, 4.5]."""
    B = leaf(shape, dtype, seed=seed).numpy()
    phase = np.exp(1j * np.angle(B)) if np.iscomplexobj(B) else 1.0
    return md.tensor((3 + 0.3 * np.abs(B)) * phase, requires_grad=True, name="B")


# -- float(T), complex(T), int(T) ------------------------------------------------------------------------------------
def test_float_complex_int_of_one_element_are_item():
    A = md.tensor(np.array([[1.5, -2.25]]), requires_grad=True)
    loss = md.sum(A * A)
    assert float(loss) == loss.item() == 1.5 ** 2 + 2.25 ** 2
    assert complex(loss) == complex(loss.item())
    assert int(md.sum(A)) == int(1.5 - 2.25) == 0                 # truncation towards zero, as int(-0.75)
    assert int(md.tensor(np.array([7]))) == 7 and isinstance(int(md.tensor(np.array([7]))), int)
    assert type(int(md.tensor(np.array([True])))) is int
    z = md.tensor(np.array([[2 + 0j]]))
    assert float(z) == 2.0 and complex(md.tensor(np.array([1 - 2j]))) == 1 - 2j


def test_float_of_a_complex_entry_refuses():
    with pytest.raises(md.DTypeError, match=r"nonzero imaginary part.*md.real\(T\)"):
        float(md.tensor(np.array([1 + 2j])))
    with pytest.raises(md.DTypeError, match="nonzero imaginary part"):
        int(md.tensor(np.array([1 + 2j])))


def test_float_of_several_entries_names_the_fix():
    with pytest.raises(md.ConversionError, match=r"one element.*shape \(2, 2\).*md.sum\(T\)"):
        float(md.tensor(np.ones((2, 2))))


# -- bool(T) and comparisons -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("what", ["bool", "if", "<", "<=", ">", ">=", "==", "!=", "1 <"])
def test_truth_values_and_orderings_raise_naming_item_and_numpy(what):
    loss = md.sum(md.tensor(np.ones((2, 2)), requires_grad=True))
    do = {"bool": lambda: bool(loss), "if": lambda: 1 if loss else 0, "<": lambda: loss < 1, "<=": lambda: loss <= 1,
          ">": lambda: loss > 1, ">=": lambda: loss >= 1, "==": lambda: loss == 4.0, "!=": lambda: loss != 4.0,
          "1 <": lambda: 1 < loss}[what]
    with pytest.raises(md.ConversionError) as err:
        do()
    assert "T.item()" in str(err.value) and "T.numpy()" in str(err.value)
    assert isinstance(err.value, TypeError)                       # what Python code expects of a bad operand


def test_equality_between_tensors_is_identity_and_tensors_stay_hashable():
    A = md.tensor(np.ones(2))
    B = md.tensor(np.ones(2))                                     # equal values, another tensor
    assert A == A and not (A == B) and A != B and not (A != A)
    assert (A == None) is False and A != "A"                      # noqa: E711 - the comparison under test
    d = {A: 1, B: 2}
    assert d[A] == 1 and d[B] == 2 and len({A, B, A}) == 2
    assert [A, B].index(B) == 1 and B in (A, B)


# -- division ---------------------------------------------------------------------------------------------------------
DIVISIONS = {
    "tensor / tensor": (lambda A, B: A / B, 2),
    "md.divide, broadcast": (lambda A, B: md.divide(A, B[:, :1]), 2),
    "scalar / tensor": (lambda A, B: 2.0 / B, 2),
    "tensor / scalar": (lambda A, B: A / 2.5, 2),
    "complex scalar": (lambda A, B: (1 - 2j) / B + A / (0.5 + 1j), 2),
    "quotient reused": (lambda A, B: (A / B) * B - A / (B * B), 2),
}


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("case", DIVISIONS, ids=list(DIVISIONS))
def test_divide_gradients_match_finite_differences_and_the_trace_identity(case, dtype):
    f, _ = DIVISIONS[case]
    A, B = leaf((3, 4), dtype, seed=1, name="A"), _away_from_zero((3, 4), dtype, seed=2)
    with md.Tape() as tape:
        f(A, B)
    assert "divide" in [n.op.name for n in tape.nodes]
    rep = md.gradcheck(f, [A, B])
    assert rep.ok and rep.max_rel_err < 1e-7, rep
    assert md.check_adjoint(f, [A, B]).ok


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("case", ["tensor / tensor", "scalar / tensor", "md.divide, broadcast"])
def test_divide_second_order(case, dtype):
    f, _ = DIVISIONS[case]
    A, B = leaf((2, 3), dtype, seed=3, name="A"), _away_from_zero((2, 3), dtype, seed=4)
    rep = md.gradgradcheck(f, [A, B])
    assert rep.ok, rep


def test_divide_follows_pytorchs_complex_convention():
    """For C = A / B and loss Re sum(conj(G) C): Abar = G / conj(B), Bbar = -G conj(A / B^2) (conj of dC/dB)."""
    a, b = RNG.standard_normal((2, 2)) + 1j * RNG.standard_normal((2, 2)), 2 + 1j + 0.1 * RNG.standard_normal((2, 2))
    G = RNG.standard_normal((2, 2)) + 1j * RNG.standard_normal((2, 2))
    A, B = md.tensor(a, requires_grad=True), md.tensor(b, requires_grad=True)
    md.backward([A / B], [G])
    assert np.allclose(A.grad, G / np.conj(b)) and np.allclose(B.grad, -G * np.conj(a / b ** 2))


@pytest.mark.parametrize("backend", BACKENDS)
def test_divide_on_every_backend_and_with_integers(backend):
    A = leaf((2, 3), np.complex128, seed=5, backend=backend)
    assert md.gradcheck(lambda A: 1.0 / (A + 4.0), [A]).ok
    ints = md.tensor(np.array([1, 2, 3]), device=None)
    q = ints / md.tensor(np.array([2, 4, 4]))
    assert q.dtype == np.float64 and np.allclose(q.numpy(), [0.5, 0.5, 0.75])
    assert np.allclose((ints / 2.5).numpy(), [0.4, 0.8, 1.2])     # the scalar is not truncated to the int dtype
    assert np.allclose((3 / ints).numpy(), [3, 1.5, 1])
    f32 = md.tensor(np.ones(2, np.float32), requires_grad=True)
    assert (f32 / 2.0).dtype == np.float32 and (2.0 / f32).dtype == np.float32


def test_a_scalar_divisor_is_named_by_its_value_on_the_tape():
    L = md.tensor(np.ones((2, 2)), requires_grad=True, name="L")
    with md.Tape() as tape:
        2.0 / L
    assert "2 / L" in str(tape)


@pytest.mark.parametrize("divide", [lambda A, B: A / B, lambda A, B: md.divide(A, B), lambda A, B: 1.0 / B],
                         ids=["/", "md.divide", "scalar / B"])
@pytest.mark.parametrize("zero", [np.array([[1.0, 0.0]]), np.array([[1.0, -0.0]]), np.array([[0j, 1.0]]),
                                  np.array([[3, 0]])], ids=["zero", "minus-zero", "complex-zero", "int-zero"])
def test_division_by_an_exact_zero_is_a_clear_error(divide, zero):
    A = md.tensor(np.ones((3, 2)), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                            # no RuntimeWarning from NumPy on the way
        with pytest.raises(md.DivisionByZeroError, match="exactly zero.*inf or NaN") as err:
            divide(A, md.tensor(zero))
    assert isinstance(err.value, ZeroDivisionError)
    with pytest.raises(md.DivisionByZeroError):
        A / 0
    with pytest.raises(md.DivisionByZeroError):
        0.0 / md.tensor(np.zeros(2))


def test_division_bad_inputs():
    A = md.tensor(np.ones((3, 3)), requires_grad=True)
    with pytest.raises(md.ShapeError, match=r"divide: shapes \(3, 3\) and \(2, 3\) do not broadcast"):
        A / md.tensor(np.ones((2, 3)))
    with pytest.raises(md.ShapeError, match="do not broadcast"):
        md.divide(np.ones((4,)), A)
    with pytest.raises(md.DTypeError, match="numbers only"):
        A / "2"
    with pytest.raises(md.MatdiffError, match="at least one Tensor"):
        md.divide(1.0, 2.0)
    with pytest.raises(md.DTypeError, match="cannot require grad"):
        md.tensor(np.array([1, 2]), requires_grad=True) / 2


def test_divide_refuses_a_zero_inside_a_second_order_backward_too():
    """create_graph=True divides by conj(B) as a node: a B that was fine forward stays fine there."""
    A, B = leaf((2, 2), seed=6), _away_from_zero((2, 2), seed=7)
    (gA, gB) = md.grad(md.sum(A / B), [A, B], create_graph=True)
    assert isinstance(gA, md.Tensor) and np.allclose(gA.numpy(), 1 / B.numpy())
    assert np.allclose(gB.numpy(), -A.numpy() / B.numpy() ** 2)


# -- reshape -------------------------------------------------------------------------------------------------------
def test_reshape_is_public_and_a_node():
    assert "reshape" in md.__all__ and "divide" in md.__all__
    A = leaf((2, 3, 4), seed=8)
    for f in (lambda A: md.reshape(A, (6, 4)), lambda A: A.reshape(4, 6), lambda A: A.reshape((2, 12)),
              lambda A: A.reshape(-1), lambda A: md.reshape(A, (3, -1))):
        with md.Tape() as tape:
            out = f(A)
        assert [n.op.name for n in tape.nodes] == ["reshape"] and out.numpy().size == 24
        assert md.gradcheck(f, [A]).ok
    assert np.array_equal(A.reshape(6, 4).numpy(), A.numpy().reshape(6, 4))
    assert md.reshape(A, -1, name="flat").name == "flat"


def test_reshape_bad_shapes():
    A = leaf((2, 3))
    with pytest.raises(md.ShapeError, match="cannot view"):
        A.reshape(4, 2)
    with pytest.raises(md.ShapeError, match="cannot view"):
        A.reshape(4, -1)
    with pytest.raises(md.ShapeError, match="at most one"):
        A.reshape(-1, -1)
    with pytest.raises(md.ShapeError, match="must be integers"):
        md.reshape(A, (2.0, 3))


# -- md.qr(A).backward() -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("call", [lambda A: md.qr(A), lambda A: md.qr(A, pivoting=True), lambda A: md.lq(A),
                                  lambda A: md.lq(A, pivoting=True)], ids=["qr", "qr-pivoted", "lq", "lq-pivoted"])
def test_backward_on_a_decomposition_result_names_md_backward(call):
    result = call(leaf((4, 3), seed=9))
    pair = "[Q, R]" if hasattr(result, "R") else "[L, Q]"
    with pytest.raises(md.MatdiffError, match=rf"not a tensor.*md\.backward\({re.escape(pair)}"):
        result.backward()
    first, second = result[:2]
    assert isinstance(first, md.Tensor) and result._fields[:2] == tuple(pair[1:-1].split(", "))


# -- .grad accumulation ------------------------------------------------------------------------------------------------
def test_grad_accumulates_over_backward_calls_until_reset():
    A = leaf((3, 2), seed=10)
    md.sum(A * A).backward()
    once = A.grad.copy()
    assert np.allclose(once, 2 * A.numpy())
    md.sum(A * A).backward()
    assert np.allclose(A.grad, 2 * once)                      # accumulated, as PyTorch
    A.grad = None
    md.sum(A * A).backward()
    assert np.allclose(A.grad, once)                          # reset
    for doc in (md.Tensor.backward.__doc__, md.Tensor.__doc__):
        assert "accumulate" in doc and ".grad = None" in doc


# -- the float32 rank error ------------------------------------------------------------------------------------------
VANDERMONDE = np.vander(np.linspace(1, 2, 8), 8)        # smallest/largest |diag R| ~ 5e-8: float32 refuses, float64 not


@pytest.mark.parametrize("dtype,wide", [(np.float32, "float64"), (np.complex64, "complex128")])
@pytest.mark.parametrize("call", [lambda A: md.qr(A)[1], lambda A: md.lq(A.mH)[0],
                                  lambda A: md.qr(md.concat([A, A[:, :2]], axis=-1))[1]], ids=["qr", "lq", "wide"])
def test_float32_rank_error_says_float64_would_pass(call, dtype, wide):
    T = call(md.tensor(VANDERMONDE.astype(dtype), requires_grad=True))
    with pytest.raises(md.RankDeficientError, match=rf"relative to {np.dtype(dtype).name}'s eps.*in {wide} these "
                       rf"values pass it.*dtype=np\.{wide}"):
        md.sum(md.real(T * T.conj())).backward()
    T64 = call(md.tensor(VANDERMONDE.astype(wide), requires_grad=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", md.IllConditionedWarning)
        md.sum(md.real(T64 * T64.conj())).backward()           # what the message promises: float64 goes through


@pytest.mark.parametrize("a", [np.ones((4, 3)), np.repeat(RNG.standard_normal((5, 2)), 2, axis=1)],
                         ids=["ones", "repeated-columns"])
def test_float32_rank_error_is_silent_about_float64_when_it_would_not_help(a):
    Q, R = md.qr(md.tensor(a.astype(np.float32), requires_grad=True))
    with pytest.raises(md.RankDeficientError) as err:
        md.sum(R * R).backward()
    assert "float64" not in str(err.value)
    Q, R = md.qr(md.tensor(a, requires_grad=True))
    with pytest.raises(md.RankDeficientError) as err:
        md.sum(R * R).backward()
    assert "eps" not in str(err.value)                      # float64 input: nothing to suggest


def test_a_float_scalar_meets_an_integer_tensor_as_numpy_does():
    """int tensor + 2.5 is float64 [3.5, 4.5] (NumPy's promotion), never silently truncated to [3, 4]."""
    T = md.tensor(np.array([1, 2]))
    assert np.array_equal((T + 2.5).numpy(), [3.5, 4.5]) and (T + 2).dtype == T.dtype
    assert np.array_equal((T * 0.5).numpy(), [0.5, 1.0]) and np.array_equal((T - 0.5).numpy(), [0.5, 1.5])


def test_tensor_to_same_device_and_numpy_roundtrip():
    A = leaf((2, 2))
    assert A.to("cpu") is A
    np.testing.assert_array_equal(A.numpy(), A.data)
