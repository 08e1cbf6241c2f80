"""Bad input, catalogued: every mistake a student can make gets the exact matdiff error, raised where it is made,
whose message names the problem and the fix -- never a NaN, never a NumPy traceback from inside a rule.

Each entry is ``kind: Bad(call, error, problem, fix)``; ``problem`` and ``fix`` are regular expressions the
message must contain. The tests after the catalogue cover what is not an error but must not go wrong: mixed
dtypes promote as in NumPy, extreme scales, an exactly zero column with pivoting.
"""
import re
from collections import namedtuple

import numpy as np
import pytest

import matdiff as md
from matdiff.testing import leaf, rand

Bad = namedtuple("Bad", "call error problem fix")


def _backward_twice():
    A = leaf((3, 3))
    loss = md.sum(md.qr(A).R)
    loss.backward()
    loss.backward()


def _made_under_no_grad():
    A = leaf((3, 3))
    with md.no_grad():
        loss = md.sum(A @ A)
    loss.backward()


def _rank_deficient(shape, column=None, **kw):
    a = rand(shape, seed=4)
    if column is None:
        a[:, -1] = a[:, 0] - 2 * a[:, 1]           # dependent columns
    else:
        a[:, column] = 0                           # an exactly zero column
    A = md.tensor(a, requires_grad=True)
    md.sum(md.qr(A, **kw).R).backward()


def _singular_leading_block(fused):
    a = rand((3, 6), seed=5)
    a[:, 2] = a[:, 0] + a[:, 1]                    # rank 3, but the leading 3x3 block X is singular
    md.sum(md.qr(md.tensor(a, requires_grad=True), fused=fused).R).backward()


def _deep_lq_singular_top():
    a = rand((6, 3), seed=3)
    a[2] = a[0] - a[1]
    md.sum(md.lq(md.tensor(a, requires_grad=True)).L).backward()


def _user_op(name, forward=None, vjp=None, jvp=None):
    """Register a user op (elementwise doubling unless a rule is replaced), apply it, differentiate it."""
    class op:
        def forward(ctx, A):
            return 2 * A

        def vjp(ctx, Cbar):
            return (2 * Cbar,)

        def jvp(ctx, dA):
            return 2 * dA

    for rule, f in (("forward", forward), ("vjp", vjp), ("jvp", jvp)):
        if f is not None:
            setattr(op, rule, staticmethod(f))
    registered = md.register(name)(op)
    try:
        A = leaf((3, 3))
        if jvp is not None:
            md.jvp(lambda A: registered(A), [A.data], [np.ones((3, 3))])
        else:
            md.sum(registered(A)).backward()
    finally:
        md.unregister(name)


def _duplicate_op():
    try:
        @md.register("twice_dup")
        class twice:
            forward = vjp = jvp = staticmethod(lambda ctx, A: A)
        md.register("twice_dup")(twice)
    finally:
        md.unregister("twice_dup")


def _op_without_jvp():
    class half:
        def forward(ctx, A):
            return A / 2

        def vjp(ctx, Cbar):
            return (Cbar / 2,)
    md.register("half_nojvp")(half)


strict = lambda shape: md.tensor(rand(shape, backend="array_api_strict"), requires_grad=True)  # noqa: E731

CATALOGUE = {
    # -- what goes into a decomposition
    "qr of a vector (ndim < 2)": Bad(lambda: md.qr(np.ones(3)), md.ShapeError, "at least 2 axes", r"x\[:, None\]"),
    "lq of a scalar (ndim < 2)": Bad(lambda: md.lq(np.float64(2)), md.ShapeError, "at least 2 axes", r"x\[:, None\]"),
    "qr of an empty matrix": Bad(lambda: md.qr(np.ones((0, 3))), md.ShapeError, "empty 0x3", "m, n >= 1"),
    "lq of an empty stack member": Bad(lambda: md.lq(np.ones((2, 3, 0))), md.ShapeError, "empty 3x0", "m, n >= 1"),
    "NaN in the input of qr": Bad(lambda: md.qr(np.array([[1.0, np.nan], [0, 1]])), md.NonFiniteError,
                                  "NaN or inf", "clean the data"),
    "inf in the input of lq": Bad(lambda: md.lq(np.array([[1.0, np.inf], [0, 1]])), md.NonFiniteError,
                                  "NaN or inf", "clean the data"),
    "NaN in a triangular solve": Bad(lambda: md.solve_triangular(np.array([[1.0, np.nan], [0, 1]]), np.ones((2, 1))),
                                     md.NonFiniteError, "NaN or inf", "clean the data"),
    "unknown mode": Bad(lambda: md.qr(np.eye(3), mode="economic"), md.MatdiffError, "unknown mode 'economic'",
                        "mode='reduced'"),
    "unknown formula": Bad(lambda: md.qr(np.eye(3), formula="eq99"), md.MatdiffError, "unknown formula 'eq99'",
                           "choose one of eq3"),
    "pivoting given a string": Bad(lambda: md.qr(np.eye(3), pivoting="yes"), md.MatdiffError,
                                   "pivoting must be True or False", "pivoting=True"),
    "complete deep QR with grad": Bad(lambda: md.qr(leaf((5, 3)), mode="complete"), md.MatdiffError,
                                      "not differentiable", "mode='reduced'"),
    "complete wide LQ with grad": Bad(lambda: md.lq(leaf((3, 5)), mode="complete"), md.MatdiffError,
                                      "not differentiable", r"md\.no_grad\(\)"),
    "rank-deficient square QR": Bad(lambda: _rank_deficient((4, 4)), md.RankDeficientError,
                                    "4x4 input is singular", "rank-deficient"),
    "rank-deficient deep QR": Bad(lambda: _rank_deficient((6, 3)), md.RankDeficientError,
                                  "6x3 input is singular", "rank-deficient"),
    "exactly zero column, deep": Bad(lambda: _rank_deficient((5, 3), column=1), md.RankDeficientError,
                                     r"smallest \|diagonal\| = 0\b", "rank-deficient"),
    "exactly zero column leading a wide matrix": Bad(lambda: _rank_deficient((2, 4), column=0), md.RankDeficientError,
                                                     r"leading 2x2 block", "pivoting=True"),
    "wide QR, singular leading block (graph)": Bad(lambda: _singular_leading_block(False), md.RankDeficientError,
                                                   "leading 3x3 block", "pivoting=True"),
    "wide QR, singular leading block (fused)": Bad(lambda: _singular_leading_block(True), md.RankDeficientError,
                                                   "leading 3x3 block", "pivoting=True"),
    "deep LQ, singular top block": Bad(_deep_lq_singular_top, md.RankDeficientError, "top 3x3 block",
                                       "pivoting=True"),
    "raw qr node given a wide matrix": Bad(lambda: md.registry["qr"](leaf((3, 5))), md.ShapeError,
                                           r"raw 'qr' node handles square or deep", r"md\.qr\(A\)"),
    "raw lq node given a deep matrix": Bad(lambda: md.registry["lq"](leaf((5, 3))), md.ShapeError,
                                           r"raw 'lq' node handles square or wide", r"md\.lq\(A\)"),
    "raw qr_wide node given a square matrix": Bad(lambda: md.registry["qr_wide"](leaf((3, 3))), md.ShapeError,
                                                  r"handles wide \(m < n\)", r"md\.qr\(A, fused=True\)"),
    "raw lq_deep node given a wide matrix": Bad(lambda: md.registry["lq_deep"](leaf((3, 5))), md.ShapeError,
                                                r"handles deep \(m > n\)", r"md\.lq\(A, fused=True\)"),
    "raw qr node given a vector": Bad(lambda: md.registry["qr"](leaf((3,))), md.ShapeError,
                                      r"got shape \(3,\)", r"md\.qr\(A\)"),
    # -- data and dtypes
    "integer data asked to require grad": Bad(lambda: md.tensor(np.arange(6).reshape(2, 3), requires_grad=True),
                                              md.DTypeError, "int64 cannot require grad", "dtype=np.float64"),
    "bool data asked to require grad": Bad(lambda: md.tensor(np.eye(2, dtype=bool), requires_grad=True),
                                           md.DTypeError, "bool cannot require grad", "dtype=np.float64"),
    "float16 data asked to require grad": Bad(lambda: md.tensor(np.eye(2, dtype=np.float16), requires_grad=True),
                                              md.DTypeError, "float16 cannot require grad", "dtype=np.float64"),
    "strings as data": Bad(lambda: md.qr([["a", "b"]]), md.DTypeError, "numbers only", "dtype=float"),
    "a ragged list": Bad(lambda: md.tensor([[1.0, 2.0], [3.0]]), md.ShapeError, "different lengths",
                         "rectangular list"),
    # -- shapes in the binary and structural ops
    "matmul, inner sizes differ": Bad(lambda: leaf((3, 3)) @ md.tensor(np.ones((4, 2))), md.ShapeError,
                                      r"A is 3x3 but B is 4x2", "must equal B's rows"),
    "matmul of a vector": Bad(lambda: leaf((3, 3)) @ np.ones(3), md.ShapeError, "acts on matrices", r"x\[:, None\]"),
    "matmul, batch axes differ": Bad(lambda: leaf((2, 3, 3)) @ md.tensor(np.ones((4, 3, 3))), md.ShapeError,
                                     r"\(2,\) and \(4,\) do not broadcast", "equal or 1"),
    "add, shapes differ": Bad(lambda: leaf((3, 3)) + md.tensor(np.ones((4, 2))), md.ShapeError,
                              "do not broadcast", "equal or 1"),
    "sub, shapes differ": Bad(lambda: leaf((3, 3)) - np.ones((2, 3)), md.ShapeError, "do not broadcast", "equal or 1"),
    "mul, shapes differ": Bad(lambda: leaf((3, 3)) * md.tensor(np.ones((2, 2))), md.ShapeError, "do not broadcast",
                              "equal or 1"),
    "divide by an exact zero": Bad(lambda: leaf((2, 2)) / md.tensor(np.array([[1.0, 0.0]])), md.DivisionByZeroError,
                                   "exactly zero", "B \\+ eps"),
    "divide, shapes differ": Bad(lambda: leaf((3, 3)) / md.tensor(np.ones((2, 3))), md.ShapeError,
                                 "do not broadcast", "equal or 1"),
    "scale by an array": Bad(lambda: md.scale(leaf((2, 2)), np.ones(2)), md.MatdiffError, "Python scalar",
                             "use mul"),
    "concat, shapes differ off the axis": Bad(lambda: md.concat([leaf((3, 3)), md.tensor(np.ones((4, 1)))], axis=-1),
                                              md.ShapeError, "differ off that axis", "all but the joining axis"),
    "concat, different numbers of axes": Bad(lambda: md.concat([leaf((3, 3)), md.tensor(np.ones((1, 3, 1)))], axis=-1),
                                             md.ShapeError, "need 2 axes", "same number of axes"),
    "split point beyond the end": Bad(lambda: md.split(leaf((3, 3)), [4], axis=-1), md.ShapeError, "within",
                                      r"\[0, 3\]"),
    "split points decreasing": Bad(lambda: md.split(leaf((3, 3)), [2, 1], axis=-1), md.ShapeError, "increasing",
                                   "increasing"),
    "split points not integers": Bad(lambda: md.split(leaf((3, 3)), [1.5], axis=-1), md.ShapeError,
                                     "integer split points", r"e\.g\. \[2\]"),
    "split into unequal parts": Bad(lambda: md.split(leaf((3, 4)), 3, axis=-1), md.ShapeError, "cannot be cut into 3",
                                    "as a list"),
    "slice out of range": Bad(lambda: leaf((3, 3))[5], md.ShapeError, "out of bounds", "within the shape"),
    "fancy indexing": Bad(lambda: leaf((3, 3))[np.array([0, 1])], md.MatdiffError, "basic slicing", "md.permute"),
    "a non-permutation": Bad(lambda: md.permute(leaf((3, 3)), [0, 0, 1], axis=-1), md.ShapeError, "not a permutation",
                             "each index exactly once"),
    "a permutation of the wrong length": Bad(lambda: md.permute(leaf((3, 3)), [0, 1], axis=-1), md.ShapeError,
                                             r"shape \(2,\)", r"shape \(\.\.\., 3\)"),
    "split without an axis": Bad(lambda: md.split(leaf((3, 3)), [1]), md.MatdiffError, "md.split needs axis=",
                                 "axis=-1 acts on columns"),
    "concat without an axis": Bad(lambda: md.concat([leaf((3, 3)), leaf((3, 3))]), md.MatdiffError,
                                  "md.concat needs axis=", "NumPy's is axis 0"),
    "permute without an axis": Bad(lambda: md.permute(leaf((3, 3)), [2, 0, 1]), md.MatdiffError,
                                   "md.permute needs axis=", "axis=-2 on rows"),
    "np.allclose of a Tensor": Bad(lambda: np.allclose(leaf((2, 2)), np.ones((2, 2))), md.MatdiffError,
                                   "np.allclose does not take Tensors", r"T\.numpy\(\)"),
    "an unsupported ufunc on a Tensor": Bad(lambda: np.exp(leaf((2, 2))), md.MatdiffError,
                                            "np.exp does not take Tensors", "matdiff op"),
    "abs of a Tensor": Bad(lambda: abs(leaf((2, 2))), md.MatdiffError, "no abs node", r"md\.sum"),
    "power of a Tensor": Bad(lambda: leaf((2, 2)) ** 2, md.MatdiffError, "no power node", r"T \* T"),
    "permute along a batch axis": Bad(lambda: md.permute(leaf((2, 3, 3)), [1, 0], axis=0), md.ShapeError,
                                      "axis=0", "axis=-1"),
    "sum over an axis out of range": Bad(lambda: md.sum(leaf((3, 3)), axis=5), md.ShapeError, "axis 5 is out of range",
                                         r"\[-2, 2\)"),
    "transpose of a vector": Bad(lambda: md.tensor(np.ones(3)).T, md.ShapeError, "at least 2 axes", r"x\[:, None\]"),
    "solve with a non-square T": Bad(lambda: md.solve_triangular(np.ones((2, 3)), np.ones((2, 1))), md.ShapeError,
                                     "square T", r"b\[:, None\]"),
    "solve with a zero on T's diagonal": Bad(lambda: md.solve_triangular(np.array([[1.0, 2], [0, 0]]), np.ones((2, 1))),
                                             md.RankDeficientError, "zero on its diagonal", "singular"),
    # -- seeds and sweeps
    "seed of the wrong shape": Bad(lambda: md.backward([leaf((2, 2)) * 2.0], [np.ones((3, 2))]), md.ShapeError,
                                   r"seed of shape \(3, 2\)", "must have its output's shape"),
    "complex seed for a real output": Bad(lambda: md.backward([leaf((2, 2)) * 2.0], [np.ones((2, 2), complex)]),
                                          md.DTypeError, "complex seed for a real output", "adjoint is real"),
    "seed holding NaN": Bad(lambda: md.backward([leaf((2, 2)) * 2.0], [np.full((2, 2), np.nan)]), md.NonFiniteError,
                            "contains NaN or inf", "check how the seed was computed"),
    "one seed for two outputs": Bad(lambda: md.backward(list(md.qr(leaf((3, 3)))), [np.ones((3, 3))]),
                                    md.MatdiffError, "2 outputs but 1 seeds", "one seed per output"),
    "backward of a matrix without a seed": Bad(lambda: (leaf((2, 2)) * 2.0).backward(), md.GraphError,
                                               "needs a real scalar output", "pass seeds"),
    "backward of a complex scalar without a seed": Bad(lambda: md.sum(leaf((2, 2), np.complex128)).backward(),
                                                       md.GraphError, "real scalar", r"\.real"),
    "backward twice": Bad(_backward_twice, md.GraphError, "freed by an earlier backward", "retain_graph=True"),
    "backward of a tensor made under no_grad": Bad(_made_under_no_grad, md.GraphError, "does not require grad",
                                                   "md.no_grad"),
    "jvp tangent of the wrong shape": Bad(lambda: md.jvp(lambda X: md.qr(X).R, [np.eye(3)], [np.ones((2, 2))]),
                                          md.ShapeError, r"tangent of shape \(2, 2\)", "input's shape"),
    # -- devices
    "CPU tensors of two backends in one op": Bad(lambda: leaf((2, 2)) @ strict((2, 2)), md.DeviceError,
                                                 "mixes a tensor on cpu", r"\.to\('cpu'\)"),
    "an array of another backend as a constant": Bad(lambda: leaf((2, 2)) @ rand((2, 2), backend="array_api_strict"),
                                                     md.DeviceError, "cannot meet", "md.tensor"),
    "an unknown device": Bad(lambda: md.tensor(np.ones(2), device="tpu"), md.DeviceError, "unknown device 'tpu'",
                             "'cpu' or 'gpu'"),
    # -- the registry and user ops
    "registering a duplicate op name": Bad(_duplicate_op, md.MatdiffError, "'twice_dup' is already registered",
                                           "replace=True"),
    "registering an op without jvp": Bad(_op_without_jvp, md.MatdiffError, "lacks jvp", "needs forward, vjp and jvp"),
    "a user op whose vjp returns the wrong shape": Bad(
        lambda: _user_op("bad_vjp_shape", vjp=lambda ctx, Cbar: (Cbar[:2],)), md.GraphError,
        r"'bad_vjp_shape': its vjp returned adjoint 0 of shape \(2, 3\)", "that input's shape"),
    "a user op whose vjp returns too few adjoints": Bad(
        lambda: _user_op("bad_vjp_count", vjp=lambda ctx, Cbar: ()), md.GraphError,
        "'bad_vjp_count': its vjp returned 0 adjoint", "one adjoint per input"),
    "a user op whose vjp returns a list": Bad(
        lambda: _user_op("bad_vjp_type", vjp=lambda ctx, Cbar: ([1.0],)), md.GraphError,
        "'bad_vjp_type': its vjp returned a list", "arrays of the backend"),
    "a user op whose forward returns a list": Bad(
        lambda: _user_op("bad_fwd_type", forward=lambda ctx, A: [A]), md.MatdiffError,
        "'bad_fwd_type': its forward returned a list", "must return an array"),
    "a user op whose jvp returns the wrong shape": Bad(
        lambda: _user_op("bad_jvp_shape", jvp=lambda ctx, dA: dA[:, :2]), md.GraphError,
        r"'bad_jvp_shape': its jvp returned tangent 0 of shape \(3, 2\)", "that output's shape"),
    "an unknown op name": Bad(lambda: md.registry["svd"], md.MatdiffError, "no op named 'svd'", "registered: "),
    # -- the checkers
    "gradcheck of a non-callable": Bad(lambda: md.gradcheck(leaf((2, 2)), [leaf((2, 2))]), md.MatdiffError,
                                       "got a Tensor", "the function to check"),
    "gradcheck with eps = 0": Bad(lambda: md.gradcheck(md.qr, [leaf((2, 2))], eps=0), md.MatdiffError,
                                  "eps=0 is not allowed", "positive number"),
    "gradcheck of a function returning no tensor": Bad(lambda: md.gradcheck(lambda A: 3.0, [leaf((2, 2))]),
                                                       md.MatdiffError, "no float Tensor", "return the Tensor"),
    "item() of a matrix": Bad(lambda: leaf((2, 2)).item(), md.MatdiffError, "one element", r"md\.sum"),
}


def test_the_catalogue_covers_at_least_25_kinds():
    assert len(CATALOGUE) >= 25


@pytest.mark.parametrize("kind", list(CATALOGUE))
def test_bad_input_gets_a_clear_matdiff_error(kind):
    bad = CATALOGUE[kind]
    with pytest.raises(md.MatdiffError) as e:
        bad.call()
    err = e.value
    msg = str(err)
    assert type(err) is bad.error, f"{kind}: {type(err).__name__} instead of {bad.error.__name__}: {msg}"
    assert re.search(bad.problem, msg), f"{kind}: message does not name the problem ({bad.problem!r}): {msg}"
    assert re.search(bad.fix, msg), f"{kind}: message does not name the fix ({bad.fix!r}): {msg}"
    assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__), \
        f"{kind}: a library traceback is chained to the matdiff error"


def test_catalogue_left_the_registry_clean():
    assert not [n for n in md.registry if n.startswith(("bad_", "twice_dup", "half_nojvp"))]


def test_errors_are_raised_in_the_forward_not_at_backward():
    """A decomposition of bad data fails at the call that received it, before anything is recorded."""
    with md.Tape() as tape:
        with pytest.raises(md.NonFiniteError):
            md.qr(md.tensor(np.array([[1.0, np.nan], [0, 1]]), requires_grad=True))
    assert len(tape) == 0


def test_a_failed_backward_leaves_the_graph_usable():
    a = rand((4, 4), seed=4)
    a[:, 3] = a[:, 0]
    A = md.tensor(a, requires_grad=True)
    loss = md.sum(md.qr(A).R)
    for _ in range(2):                          # the same error again: nothing was freed or half-written
        with pytest.raises(md.RankDeficientError):
            loss.backward()
    assert A.grad is None


# -- not errors, but must not go wrong --------------------------------------------------------------------------
@pytest.mark.parametrize("backend_name", ["numpy", "array_api_strict"])
def test_mixed_float32_complex128_promotes_as_numpy(backend_name):
    """float32 @ complex128 is complex128 (NumPy's rule, on every backend); the float32 input gets a float32
    gradient equal to the real part of the complex128 adjoint."""
    a = rand((3, 2), np.float32, 1, backend_name)
    c = rand((2, 4), np.complex128, 2, backend_name)
    A, C = md.tensor(a, requires_grad=True), md.tensor(c, requires_grad=True)
    Y = A @ C
    assert Y.backend.dtype_name(Y.dtype) == np.result_type(np.float32, np.complex128).name
    G = rand((3, 4), np.complex128, 3, backend_name)
    md.backward([Y], [G])
    b = A.backend
    assert b.dtype_name(A.grad.dtype) == "float32" and b.dtype_name(C.grad.dtype) == "complex128"
    g, ch = b.to_host(G), b.to_host(c)
    np.testing.assert_allclose(b.to_host(A.grad), (g @ ch.conj().T).real, rtol=1e-6)
    np.testing.assert_allclose(b.to_host(C.grad), b.to_host(a).astype(np.float64).T @ g, rtol=1e-6)


def test_integer_constants_promote_on_every_backend():
    for name in ("numpy", "array_api_strict"):
        A = md.tensor(rand((2, 2), backend=name), requires_grad=True)
        n = md.backend.get(name).from_host(np.array([[1, 2], [3, 4]]))
        Y = A @ n + n
        assert A.backend.dtype_name(Y.dtype) == "float64"
        md.sum(Y).backward()
        np.testing.assert_allclose(A.backend.to_host(A.grad), np.ones((2, 2)) @ np.array([[1, 2], [3, 4]]).T)


FACTORS = [("qr", (6, 4), {}), ("qr", (4, 4), {}), ("qr", (3, 6), {}), ("qr", (3, 6), {"fused": True}),
           ("qr", (3, 6), {"pivoting": True}), ("lq", (4, 6), {}), ("lq", (6, 3), {}), ("lq", (6, 3), {"fused": True}),
           ("lq", (6, 3), {"pivoting": True})]


def _seeded_grad(kind, a, seeds, kw):
    A = md.tensor(a, requires_grad=True)
    out = (md.qr if kind == "qr" else md.lq)(A, **kw)
    md.backward(list(out[:2]), list(seeds))
    return A.grad


@pytest.mark.parametrize("scale", [1e150, 1e-150], ids=["1e150", "1e-150"])
@pytest.mark.parametrize("dtype", [np.float64, np.complex128], ids=["f64", "c128"])
@pytest.mark.parametrize("kind,shape,kw", FACTORS, ids=[f"{k}{s}{''.join(kw)}" for k, s, kw in FACTORS])
def test_gradients_scale_as_the_maths_says_at_1e150(kind, shape, kw, dtype, scale):
    """QR(sA) = (Q, sR) and LQ(sA) = (sL, Q): the gradient at sA for seeds (Qbar, Rbar) is
    Abar_Q(A)/s + Abar_R(A) -- finite, and to rounding, with no overflow or underflow inside the rules."""
    a = rand(shape, dtype, 1)
    ref = (md.qr if kind == "qr" else md.lq)(md.tensor(a), **kw)
    s_tri, s_orth = (ref[1], ref[0]) if kind == "qr" else (ref[0], ref[1])
    tri_bar, orth_bar = rand(s_tri.shape, dtype, 2), rand(s_orth.shape, dtype, 3)
    pack = lambda orth, tri: (orth, tri) if kind == "qr" else (tri, orth)  # noqa: E731
    g_orth = _seeded_grad(kind, a, pack(orth_bar, 0 * tri_bar), kw)
    g_tri = _seeded_grad(kind, a, pack(0 * orth_bar, tri_bar), kw)
    with np.errstate(all="raise"):
        g = _seeded_grad(kind, scale * a, pack(orth_bar, tri_bar), kw)
    expected = g_orth / scale + g_tri
    assert np.all(np.isfinite(g))
    assert np.linalg.norm(g - expected) <= 1e-12 * np.linalg.norm(expected)


@pytest.mark.parametrize("shape", [(2, 4), (5, 3)], ids=str)
def test_zero_column_with_pivoting_is_differentiable(shape):
    """A zero column is fine once geqp3 moves it behind the k independent ones (wide: out of the leading block)."""
    a = rand(shape, seed=6)
    a[:, 0] = 0
    if shape[0] >= shape[1]:                      # deep: still rank-deficient, pivoting cannot help
        with pytest.raises(md.RankDeficientError):
            md.sum(md.qr(md.tensor(a, requires_grad=True), pivoting=True).R).backward()
        return
    Q, R, perm = md.qr(md.tensor(a), pivoting=True)
    assert int(perm[-1]) == 0 or 0 not in np.asarray(perm)[:shape[0]]
    rep = md.gradcheck(lambda A: tuple(md.qr(A, pivoting=True)[:2]), [md.tensor(a, requires_grad=True)])
    assert rep.ok, rep
