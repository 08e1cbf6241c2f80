"""matdiff's exceptions and warnings.

Every error a user can cause derives from :class:`MatdiffError` and is raised where the mistake is
made, with a message that says what was wrong and what to do about it.
"""
import os
import sys
import warnings

_PACKAGE = os.path.dirname(os.path.abspath(__file__))


class MatdiffError(Exception):
    """Base class of every error matdiff raises on purpose."""


class ShapeError(MatdiffError, ValueError):
    """Operands whose shapes do not fit the operation (matmul, add, concat, split points, seeds)."""


class DTypeError(MatdiffError, TypeError):
    """A dtype that cannot be used here (integer data asked to require grad, complex seed for a real output)."""


class DeviceError(MatdiffError):
    """Tensors of different devices/backends mixed in one op, or a device that is not available."""


class ConversionError(MatdiffError, TypeError):
    """A Tensor used as a Python value matdiff cannot give it: ``bool(T)``, ``T < 1``, ``T == 1``, ``float(T)`` of
    several entries. Ask for the values explicitly: ``T.item()`` (one element) or ``T.numpy()``."""


class DivisionByZeroError(MatdiffError, ZeroDivisionError):
    """``A / B`` (``md.divide``) where ``B`` has an entry that is exactly zero (the result would be inf or NaN)."""


class GraphError(MatdiffError, RuntimeError):
    """Misuse of the tape: backward over a freed graph, backward on a non-scalar without seeds."""


class RankDeficientError(MatdiffError, ArithmeticError):
    """A decomposition's triangular factor is singular to working precision, so its backward is undefined."""


class NonFiniteError(MatdiffError, ValueError):
    """NaN or inf in the input of a decomposition."""


class GradcheckError(MatdiffError, AssertionError):
    """gradcheck(..., raise_on_fail=True) found analytic and numeric derivatives that disagree."""


class IllConditionedWarning(UserWarning):
    """A triangular factor is ill-conditioned: the gradient is valid but amplified by its condition number."""


class PrecisionWarning(UserWarning):
    """A check run in low precision (float32/complex64) whose verdict is only approximate."""


def warn(message, category):
    """``warnings.warn`` pointing at the user's line: the first frame outside the matdiff package."""
    level, frame = 2, sys._getframe(1)      # stacklevel 2 is the caller of this function
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
