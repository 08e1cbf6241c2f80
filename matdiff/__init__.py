"""matdiff -- a small tape-based reverse-mode autodiff engine for matrices, built around the QR and LQ
backward passes of Roberts & Roberts ("QR and LQ Decomposition Matrix Backpropagation Algorithms for
Square, Wide, and Deep -- Real or Complex -- Matrices").

    import numpy as np, matdiff as md
    A = md.tensor(np.random.randn(3, 5), requires_grad=True, name="A")
    Q, R = md.qr(A)                      # wide: the graph of the paper's Figure 2
    md.sum(R * R).backward()
    print(A.grad, md.gradcheck(md.qr, [A]))
"""
from . import backend, paper  # noqa: F401
from .autodiff import backward, grad, jvp
from .checks.blame import check_adjoint, gradcheck, gradgradcheck
from .checks.report import NodeCheck, Report
from .engine.registry import register, registry, unregister
from .engine.tape import Tape, enable_grad, no_grad
from .engine.tensor import Tensor, tensor
from .errors import (
                     ConversionError,
                     DeviceError,
                     DivisionByZeroError,
                     DTypeError,
                     GradcheckError,
                     GraphError,
                     IllConditionedWarning,
                     MatdiffError,
                     NonFiniteError,
                     PrecisionWarning,
                     RankDeficientError,
                     ShapeError,
)
from .ops import (
                     add,
                     adjoint,
                     concat,
                     conj,
                     divide,
                     lq,
                     matmul,
                     mul,
                     neg,
                     permute,
                     qr,
                     real,
                     reshape,
                     scale,
                     solve_triangular,
                     split,
                     sub,
                     sum,
                     transpose,
)
from .ops.lq import LQPivotedResult, LQResult
from .ops.qr import FORMULAS, QRPivotedResult, QRResult
from .teach.draw import draw

__version__ = "0.1.0"

from . import exercises  # noqa: E402, F401 -- md.exercises: imported last, it builds on the ops above

__all__ = [
    "tensor", "Tensor", "Tape", "no_grad", "backward", "grad", "jvp", "register", "registry", "unregister",
    "matmul", "add", "sub", "mul", "divide", "neg", "scale", "reshape", "sum", "transpose", "adjoint", "conj", "real",
    "split", "concat",
    "permute", "solve_triangular", "qr", "lq", "QRResult", "QRPivotedResult", "LQResult", "LQPivotedResult", "FORMULAS",
    "gradcheck", "gradgradcheck", "check_adjoint", "enable_grad", "Report", "NodeCheck", "draw", "paper", "backend",
    "exercises",
    "MatdiffError", "ShapeError", "DTypeError", "DeviceError", "GraphError", "RankDeficientError", "NonFiniteError",
    "GradcheckError", "ConversionError", "DivisionByZeroError", "IllConditionedWarning", "PrecisionWarning",
]
