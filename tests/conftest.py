"""Shared fixtures: the array backends every op test runs on, and random test matrices."""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import matdiff as md

BACKENDS = ["numpy", "array_api_strict"]

# Hypothesis: "ci" (the default) is derandomized -- the same examples on every run, so a failure is reproducible
# from the printed falsifying example (every input, including the matrix seed) and its @reproduce_failure blob.
# MATDIFF_THOROUGH=1 switches to "thorough": fresh random examples, ten times as many (tests/test_properties.py).
_common = dict(deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", derandomize=True, database=None, **_common)
settings.register_profile("thorough", **_common)
settings.load_profile("thorough" if os.environ.get("MATDIFF_THOROUGH") else "ci")


def pytest_collection_modifyitems(config, items):
    if md.backend.gpu_available():
        return
    skip = pytest.mark.skip(reason="needs CuPy and a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def to_backend(a, name):
    """A NumPy array as an array of backend ``name``."""
    return md.backend.get(name).from_host(np.asarray(a))


def rand(shape, dtype=np.float64, seed=0, backend="numpy"):
    """A well-conditioned random array (standard normal entries; complex: independent real/imag parts)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        a = a + 1j * rng.standard_normal(shape)
    return to_backend(a.astype(dtype), backend)


def mh(a):
    """Conjugate transpose of the last two axes of a NumPy array."""
    return np.conj(np.swapaxes(a, -1, -2))


def factors(kind, fused=False, pivoting=False, formula="eq3"):
    """``A -> (Q, R)`` or ``(L, Q)`` through md.qr / md.lq in the chosen form (the permutation left out)."""
    def f(A):
        if kind == "qr":
            return tuple(md.qr(A, fused=fused, pivoting=pivoting, formula=formula)[:2])
        return tuple(md.lq(A, fused=fused, pivoting=pivoting)[:2])
    return f


def leaf(shape, dtype=np.float64, seed=0, backend="numpy", name=None):
    return md.tensor(rand(shape, dtype, seed, backend), requires_grad=True, name=name)


@pytest.fixture(params=BACKENDS)
def backend_name(request):
    return request.param
