"""``array_api_strict``: the array API standard and nothing else, on the CPU.

The test-suite runs every op and the QR/LQ gradchecks on it as a stand-in second backend: a rule that used
anything NumPy-only would fail there, which is how the CPU-only CI proves the rules are backend-agnostic.
"""
import numpy as np

from .base import Backend


class StrictBackend(Backend):
    """``array_api_strict``: the array API standard and nothing else, on the CPU (test stand-in)."""

    name = "array_api_strict"
    device = "cpu"
    promotes = False

    def __init__(self):
        import array_api_strict

        super().__init__(array_api_strict, array_api_strict._array_object.Array)

    def to_host(self, a):
        return np.asarray(a._array) if hasattr(a, "_array") else np.asarray(a)

    def from_host(self, a):
        return self.xp.asarray(np.asarray(a))

    def result_type(self, *dtypes):
        """NumPy's promotion rules (the standard leaves int-with-float undefined; matdiff follows NumPy)."""
        return getattr(self.xp, np.result_type(*[self.dtype_name(d) for d in dtypes]).name)

    def dtype_name(self, dtype):
        return str(dtype).rsplit(".", 1)[-1]
