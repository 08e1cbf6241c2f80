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

    def __init__(self):
        import array_api_strict

        super().__init__(array_api_strict)
        self.array_type = array_api_strict._array_object.Array

    def to_host(self, a):
        return np.asarray(a._array) if hasattr(a, "_array") else np.asarray(a)

    def from_host(self, a):
        return self.xp.asarray(np.asarray(a))

    def dtype_name(self, dtype):
        return str(dtype).rsplit(".", 1)[-1]
