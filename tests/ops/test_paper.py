"""ops/paper.py, each helper against its written definition, entry by entry (plain loops, not the helpers
themselves): ``E``'s entries, ``P_L``, ``sym``/``symh``, ``copyltu(M) = sym(E ∘ M)`` and ``hcopyltu(M) =
symh(E ∘ M)`` (Sections 2.3, 4.2) -- on a stack, on a Tensor, on array_api_strict."""
import numpy as np
import pytest

import matdiff as md
from matdiff.ops import paper
from matdiff.testing import rand


def _E(k):
    return np.array([[0.0 if i < j else 1.0 if i == j else 2.0 for j in range(k)] for i in range(k)])


def _copyltu(M, conj):
    """Section 2.3 property 2 / Section 4.2 in words: below the diagonal M's entry, above it the mirrored lower
    entry (conjugated for hcopyltu), on it M's diagonal (its real part for hcopyltu)."""
    k, out = M.shape[-1], np.empty_like(M)
    for i in range(k):
        for j in range(k):
            if i > j:
                out[..., i, j] = M[..., i, j]
            elif i < j:
                out[..., i, j] = np.conj(M[..., j, i]) if conj else M[..., j, i]
            else:
                out[..., i, j] = M[..., i, i].real if conj else M[..., i, i]
    return out


@pytest.mark.parametrize("k", [1, 2, 5])
def test_E_and_P_L_entries(k):
    np.testing.assert_array_equal(paper.E(k), _E(k))
    np.testing.assert_array_equal(paper.P_L(k), [[float(i > j) for j in range(k)] for i in range(k)])
    np.testing.assert_array_equal(paper.E(k), 2 * paper.P_L(k) + np.eye(k))          # E = 2 P_L + I (Eq 8)


def test_sym_and_symh_are_the_symmetric_and_hermitian_parts():
    M, Mc = rand((2, 4, 4), seed=1), rand((4, 4), np.complex128, seed=2)
    np.testing.assert_allclose(paper.sym(M), (M + np.swapaxes(M, -1, -2)) / 2, rtol=1e-15)
    np.testing.assert_allclose(paper.symh(Mc), (Mc + Mc.conj().T) / 2, rtol=1e-15)


@pytest.mark.parametrize("shape", [(4, 4), (2, 3, 3)])
def test_copyltu_is_sym_of_E_times_M_literally(shape):
    M = rand(shape, seed=3)
    k = shape[-1]
    literal = (_E(k) * M + np.swapaxes(_E(k) * M, -1, -2)) / 2                    # sym(E ∘ M), written out
    np.testing.assert_allclose(paper.copyltu(M), literal, rtol=1e-15)
    np.testing.assert_allclose(paper.copyltu(M), _copyltu(M, conj=False), rtol=1e-15)


@pytest.mark.parametrize("shape", [(4, 4), (2, 3, 3)])
def test_hcopyltu_is_symh_of_E_times_M_with_a_real_diagonal(shape):
    M = rand(shape, np.complex128, seed=4)
    H = paper.hcopyltu(M)
    k = shape[-1]
    literal = (_E(k) * M + np.conj(np.swapaxes(_E(k) * M, -1, -2))) / 2           # symh(E ∘ M), written out
    np.testing.assert_allclose(H, literal, rtol=1e-15)
    np.testing.assert_allclose(H, _copyltu(M, conj=True), rtol=1e-15)
    assert np.all(np.diagonal(H, axis1=-2, axis2=-1).imag == 0)                   # the diagonal is real
    np.testing.assert_allclose(paper.hcopyltu(M.real), paper.copyltu(M.real))     # equal for real M


def test_helpers_take_a_tensor_and_any_backend():
    M = rand((3, 3), seed=5)
    np.testing.assert_array_equal(paper.copyltu(md.tensor(M)), paper.copyltu(M))
    strict = md.backend.get("array_api_strict")
    got = strict.to_host(paper.hcopyltu(strict.from_host(M.astype(np.complex128))))
    np.testing.assert_allclose(got, _copyltu(M.astype(np.complex128), conj=True), rtol=1e-15)


def test_the_public_facade_is_the_same_functions():
    from matdiff import paper as public
    assert all(getattr(public, n) is getattr(paper, n) for n in ("sym", "symh", "E", "P_L", "copyltu", "hcopyltu"))
