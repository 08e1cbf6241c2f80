"""engine/sweeps.py: ``fit`` (an adjoint brought back to its input's shape and dtype) against its written definition
-- broadcast axes summed, a real input takes the real part, ``lead`` seed axes kept, a tangent stretched -- and the
backward sweep short enough to read in one sitting."""
import inspect

import numpy as np
import pytest

import matdiff as md
from matdiff.engine import sweeps
from matdiff.engine.sweeps import fit

B = md.backend.get("numpy")
rng = np.random.default_rng(0)


def test_an_adjoint_that_fits_is_returned_itself():
    g = rng.standard_normal((3, 4))
    assert fit(B, g, (3, 4), g.dtype) is g


@pytest.mark.parametrize("shape, g_shape, axes", [((3, 4), (2, 3, 4), (0,)), ((1, 4), (3, 4), (0,)),
                                                  ((3, 1), (2, 3, 4), (0, 2)), ((), (3, 4), (0, 1))])
def test_axes_that_broadcasting_added_or_stretched_are_summed(shape, g_shape, axes):
    g = rng.standard_normal(g_shape)
    want = g.sum(axis=axes).reshape(shape)
    got = fit(B, g, shape, np.float64)
    assert got.shape == shape
    np.testing.assert_allclose(got, want, rtol=1e-14)


def test_a_real_input_takes_the_real_part_of_a_complex_adjoint_in_its_own_dtype():
    g = rng.standard_normal((2, 3)) + 1j * rng.standard_normal((2, 3))
    got = fit(B, g, (2, 3), np.float32)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, g.real.astype(np.float32))
    assert fit(B, g, (2, 3), np.complex128) is g                     # a complex input keeps it whole


def test_lead_seed_axes_are_kept_and_only_the_broadcast_ones_summed():
    g = rng.standard_normal((5, 2, 3, 4))                            # 5 independent seeds of a (2, 3, 4) output
    got = fit(B, g, (3, 4), np.float64, lead=1)
    assert got.shape == (5, 3, 4)
    np.testing.assert_allclose(got, g.sum(axis=1), rtol=1e-14)


def test_a_tangent_of_a_broadcast_input_is_stretched_to_the_shape():
    g = rng.standard_normal((1, 4))
    got = fit(B, g, (3, 4), np.float64)
    np.testing.assert_array_equal(got, np.broadcast_to(g, (3, 4)))


def test_the_backward_sweep_reads_in_one_sitting():
    assert len(inspect.getsource(sweeps.backward_sweep).splitlines()) <= 30
