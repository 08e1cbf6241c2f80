"""Backends: one small interface over an array library, so that one rule serves every device.

A rule never imports numpy, scipy or cupy; it calls the primitives of the backend contract
(:mod:`matdiff.backend.contract`: every name a rule may use, with its meaning and whether it is differentiable)
on the backend it is handed (``ctx.b``), and the arithmetic operators of the arrays themselves (``+ - * @``).
:class:`Backend` implements the contract over an array-API namespace; three backends ship:

* ``NumPyBackend``  -- NumPy + SciPy (LAPACK) on the CPU, device ``"cpu"``;
* ``CuPyBackend``   -- CuPy + cupyx (cuSOLVER) on the GPU, device ``"gpu"``;
* ``StrictBackend`` -- ``array_api_strict`` on the CPU: a deliberately minimal array-API library used by the
  test-suite as a stand-in second backend, which proves that the rules use nothing NumPy-only.

``backend_of(array)`` picks the backend from the array's type.
"""
import numpy as np

from ..errors import DeviceError, MatdiffError
from .base import Backend  # noqa: F401
from .cpu import NumPyBackend
from .gpu import CuPyBackend
from .strict import StrictBackend

# -- choosing a backend ------------------------------------------------------------------------
_INSTANCES = {}
_FACTORIES = {"numpy": NumPyBackend, "cupy": CuPyBackend, "array_api_strict": StrictBackend}


def get(name):
    """The backend instance called ``name`` ("numpy", "cupy", "array_api_strict"), created once."""
    if name not in _INSTANCES:
        if name not in _FACTORIES:
            raise DeviceError(f"unknown backend {name!r}; known: {sorted(_FACTORIES)}")
        try:
            _INSTANCES[name] = _FACTORIES[name]()
        except ImportError as e:
            extra = (" Install CuPy on a machine with a GPU: pip install 'matdiff[gpu-cuda12]' (or gpu-cuda13; "
                     "nvidia-smi shows the CUDA version)." if name == "cupy" else "")
            raise DeviceError(f"backend {name!r} is not available: {e}.{extra}") from None
    return _INSTANCES[name]


def owner(x):
    """The backend that owns array ``x``, chosen by the array's type (its module); None for lists and scalars."""
    if isinstance(x, (np.ndarray, np.generic)):
        return get("numpy")
    mod = type(x).__module__.split(".")[0]
    if mod in ("cupy", "array_api_strict"):
        return get(mod)
    return None


def backend_of(x):
    """Like :func:`owner`, but an error for anything that is not an array of a backend."""
    b = owner(x)
    if b is None:
        raise MatdiffError(f"matdiff cannot hold a {type(x).__name__}; give a NumPy or CuPy array (or a list/scalar)")
    return b


def for_device(device):
    """The backend for a device name: "cpu" -> NumPy, "gpu"/"cuda" -> CuPy."""
    if device in ("cpu", None):
        return get("numpy")
    if device in ("gpu", "cuda"):
        b = get("cupy")
        try:
            if b.xp.cuda.runtime.getDeviceCount() < 1:
                raise DeviceError("CuPy is installed but no GPU device is visible")
        except DeviceError:
            raise
        except Exception as e:
            raise DeviceError(f"no usable GPU: {e}") from None
        return b
    raise DeviceError(f"unknown device {device!r}; use 'cpu' or 'gpu'")


def gpu_available():
    """True when CuPy imports and sees at least one CUDA device."""
    try:
        for_device("gpu")
        return True
    except MatdiffError:
        return False
