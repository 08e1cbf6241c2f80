"""The backend contract (matdiff/backend/contract.py): every backend implements every primitive; every rule -- each
registered op's vjp and jvp, first and second order, and the QR/LQ rules in every form -- runs through a proxy
backend that refuses any name outside the contract, and gives the same numbers as the NumPy backend itself."""
import inspect

import numpy as np
import pytest

import matdiff as md
from matdiff.backend import contract
from matdiff.backend.base import Backend
from matdiff.backend.gpu import CuPyBackend
from matdiff.ops.on_tensors import _DELEGATED, GraphBackend
from matdiff.suite import CASES, decomposition_cases

NP = md.backend.get("numpy")


def _is_stub(cls_or_obj, name):
    """Is ``name`` on this backend still the contract's stub (i.e. not implemented)?"""
    return getattr(getattr(cls_or_obj, name), "kind", None) is not None


def _backends():
    return {"numpy": NP, "array_api_strict": md.backend.get("array_api_strict"), "generic": Backend(np),
            "tensor": GraphBackend(NP)}


# -- the contract itself ---------------------------------------------------------------------------------------
def test_every_primitive_has_a_kind_and_a_one_line_meaning():
    assert set(contract.PRIMITIVES.values()) == {contract.DIFFERENTIABLE, contract.FORWARD, contract.QUERY}
    for name in contract.NAMES:
        assert len(contract.meaning(name)) > 20, name
    assert "xp" not in contract.NAMES                     # the library's namespace is not part of the contract
    assert {"where", "solve_triangular", "hcopyltu", "tril_matmul"} <= set(contract.of_kind(contract.DIFFERENTIABLE))
    assert {"qr", "pivots", "phase", "to_host"} <= set(contract.of_kind(contract.FORWARD))


@pytest.mark.parametrize("which", ["numpy", "array_api_strict", "generic", "tensor"])
def test_each_backend_implements_every_primitive_and_attribute(which):
    b = _backends()[which]
    missing = [n for n in contract.PRIMITIVES if _is_stub(b, n)]
    assert not missing, f"{which} lacks {missing}"
    for name in contract.ATTRIBUTES:
        assert hasattr(b, name), name
    assert isinstance(b, contract.Contract) and b.arrays.arrays is b.arrays


@pytest.mark.parametrize("which", ["numpy", "array_api_strict", "generic", "tensor"])
def test_a_backend_shows_nothing_public_beyond_the_contract(which):
    b = _backends()[which]
    extra = {n for n in dir(b) if not n.startswith("_")} - contract.NAMES
    assert extra <= {"xp"}, f"{which} has public names outside the contract: {sorted(extra)}"   # xp: its own code


def test_the_cupy_backend_implements_every_primitive_without_a_gpu():
    missing = [n for n in contract.PRIMITIVES if _is_stub(CuPyBackend, n)]
    assert not missing and issubclass(CuPyBackend, Backend)
    assert {"name", "device"} <= set(vars(CuPyBackend))
    assert "super().__init__(cupy, cupy.ndarray)" in inspect.getsource(CuPyBackend.__init__)
    fake = CuPyBackend.__new__(CuPyBackend)        # Backend.__init__ sets the other attributes from the namespace
    Backend.__init__(fake, np)
    assert all(hasattr(fake, n) for n in contract.ATTRIBUTES if n != "array_type")


def test_a_backend_lacking_a_primitive_says_which():
    class Half(contract.Contract):
        name = "half"
    with pytest.raises(NotImplementedError, match="'half' does not implement the contract primitive 'tril'"):
        Half().tril(np.eye(2))


def test_the_tensor_backend_lists_its_delegations_and_refusals_explicitly():
    G = GraphBackend(NP)
    queries = set(contract.of_kind(contract.QUERY))
    assert set(_DELEGATED) == queries - {"own", "values"}
    for name in contract.of_kind(contract.DIFFERENTIABLE) + ["own", "values"]:
        assert name in vars(GraphBackend), f"GraphBackend must implement {name} itself"
    for name in contract.of_kind(contract.FORWARD):
        assert vars(GraphBackend)[name].__doc__.startswith("Forward-only"), name
    with pytest.raises(AttributeError, match="not a primitive of the backend contract"):
        G.xp                                                            # no catch-all forwarding any more


# -- the proxy: every rule through the contract only ---------------------------------------------------------
class ContractProxy:
    """The NumPy backend, but any name outside the contract fails the test (``arrays`` is the proxy itself)."""

    def __init__(self, inner):
        self._inner, self.used = inner, set()

    def __getattr__(self, name):
        if name not in contract.NAMES:
            raise AssertionError(f"a rule looked up b.{name}, which is not in the backend contract")
        self.used.add(name)
        if name == "each_matrix":               # the rule on the proxy itself, so its primitives are checked too
            return lambda rule, *arrays, **kw: rule(self, *arrays, **kw)
        return self if name == "arrays" else getattr(self._inner, name)


def _c(rng, shape, dtype):
    a = rng.standard_normal(shape)
    return (a + 1j * rng.standard_normal(shape) if np.dtype(dtype).kind == "c" else a).astype(dtype)


def _sweeps(f, arrays):
    """Forward values, vjp, jvp, and a Hessian-vector product (create_graph=True) of ``f`` at ``arrays``."""
    rng = np.random.default_rng(5)
    fresh = lambda: [md.tensor(a.copy(), requires_grad=True) for a in arrays]  # noqa: E731
    run = lambda xs: [o for o in (lambda r: r if isinstance(r, tuple) else (r,))(f(*xs))]  # noqa: E731
    xs = fresh()
    outs = run(xs)
    seeds = [_c(rng, o.shape, o.dtype) for o in outs]
    got = [o.data for o in outs] + list(md.grad(outs, xs, seeds))
    got += list(md.jvp(lambda *x: tuple(run(x)), fresh(), [_c(rng, a.shape, a.dtype) for a in arrays])[1])
    xs = fresh()
    first = [g for g in md.grad(run(xs), xs, seeds, create_graph=True) if g.node is not None]
    if first:
        got += list(md.grad(first, xs, [_c(rng, g.shape, g.dtype) for g in first]))
    return got


ROWS = [(f"{op}-{label}", shapes, f) for op in sorted(CASES) for label, shapes, f, *only in CASES[op]
        if not only or "numpy" in only[0]]
ROWS += [(f"{node}-{label}", [shape], f) for node, label, shape, f in decomposition_cases()]
ROWS += [(f"qr-{s}-{formula}", [s], (lambda fm: lambda A: tuple(md.qr(A, formula=fm)))(formula))
         for s in [(4, 4), (6, 3)] for formula in ["eq8", "eq8-uncorrected"]]
ROWS += [("qr-wide-fused-eq8", [(3, 5)], lambda A: tuple(md.qr(A, fused=True, formula="eq8")))]


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("label, shapes, f", ROWS, ids=[r[0] for r in ROWS])
def test_every_rule_uses_only_the_contract(label, shapes, f, dtype, monkeypatch):
    arrays = [_c(np.random.default_rng(7 + j), s, dtype) for j, s in enumerate(shapes)]
    want = _sweeps(f, arrays)
    proxy = ContractProxy(NP)
    monkeypatch.setitem(md.backend._INSTANCES, "numpy", proxy)
    got = _sweeps(f, arrays)
    assert {"own", "array_type"} <= proxy.used                  # the engine and the rules did run on the proxy
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-13)


def test_the_proxy_catches_a_rule_that_reaches_past_the_contract(monkeypatch):
    @md.register("peek_xp", ref="C = 2 A, whose vjp reaches for the namespace")
    class peek:
        def forward(ctx, A):
            return A * 2

        def vjp(ctx, Cbar):
            return (ctx.b.xp.multiply(Cbar, 2),)

        def jvp(ctx, dA):
            return dA * 2
    try:
        monkeypatch.setitem(md.backend._INSTANCES, "numpy", ContractProxy(NP))
        A = md.tensor(np.ones((2, 2)), requires_grad=True)
        with pytest.raises(AssertionError, match="b.xp, which is not in the backend contract"):
            md.grad([peek(A)], [A], [np.ones((2, 2))])
    finally:
        md.unregister("peek_xp")
