"""The conditioning sweep's claims, on a few points (the full sweep is ``python benchmarks/conditioning.py``):
gradients are within 10 cond(A) eps of a 60-digit finite-difference reference, except where the partition
block X of a wide QR is worse conditioned than A -- and pivoting=True restores the bound there."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import conditioning as cs  # noqa: E402   (its reference needs mpmath, a test dependency: '.[test]')


def _run(case, cond, dtype):
    (row,) = cs.sweep([cond], dtypes=(dtype,), cases=[case], out=lambda *a: None)
    return row


@pytest.mark.parametrize("dtype", [np.float64, np.complex128], ids=["f64", "c128"])
@pytest.mark.parametrize("case", [c for c in cs.CASES if c[4] == "svd"], ids=cs.label)
def test_gradient_error_within_10_cond_eps(case, dtype):
    row = _run(case, 1e8, dtype)
    assert row["cond_A"] == pytest.approx(1e8, rel=1e-3)
    assert row["rel_err"] <= row["target"], row


def test_an_ill_conditioned_partition_block_breaks_the_bound_and_pivoting_restores_it():
    bad, piv = [c for c in cs.CASES if c[:2] == ("qr", "wide") and c[4] == "block"]
    row = _run(bad, 1e10, np.float64)
    assert row["cond_A"] < 10 and row["rel_err"] > 100 * row["target"], row      # cond(X) = 1e10 decides ...
    assert row["rel_err"] <= 10 * row["cond_X"] * cs.EPS, row                   # ... and bounds the error
    row = _run(piv, 1e10, np.float64)
    assert row["cond_X"] < 10 and row["rel_err"] <= row["target"], row


def test_the_reference_is_independent_of_matdiff():
    """The 60-digit reference agrees with matdiff to rounding on a well-conditioned matrix, and it is not
    computed by matdiff: perturbing a seed changes the reference."""
    a = cs.svd_conditioned((), 4, 3, cond=2.0, seed=1)
    rng = np.random.default_rng(0)
    bars = [rng.standard_normal((4, 3)), rng.standard_normal((3, 3))]
    ref = cs.reference_gradient(a, "qr", bars)
    g, _ = cs.matdiff_gradient(a, "qr", bars, False)
    assert np.linalg.norm(g - ref) <= 1e-14 * np.linalg.norm(ref)
    bars[1][0, 0] += 1
    assert np.linalg.norm(cs.reference_gradient(a, "qr", bars) - ref) > 1e-3
