"""Shared fixtures: the array backends every op test runs on, the hypothesis profile, GPU skipping.

The helpers tests import (``rand``, ``leaf``, ``mh``, ``factors``, ``conditioned``) live in ``matdiff.testing``."""
import os

import pytest

import matdiff as md
from matdiff.testing import BACKENDS

try:        # the test extras have hypothesis; a bare GPU machine running only tests/backend/test_gpu.py may not
    from hypothesis import HealthCheck, settings
except ImportError:
    settings = None

# Hypothesis: "ci" (the default) is derandomized -- the same examples on every run, so a failure is reproducible
# from the printed falsifying example (every input, including the matrix seed) and its @reproduce_failure blob.
# MATDIFF_THOROUGH=1 switches to "thorough": fresh random examples, ten times as many (tests/test_properties.py).
if settings is not None:
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


@pytest.fixture(params=BACKENDS)
def backend_name(request):
    return request.param
