"""``figure2``: build the wide-QR graph of the paper's Figure 2 from matdiff nodes -- ``split`` (A = [X|Y]),
``qr`` of the square X (X = Q U), ``adjoint`` and ``matmul`` (V = Qᴴ Y), ``concat`` (R = [U|V]) -- and let the engine
find Ā. The learner's function maps a Tensor to (Q, R) Tensors; graded like ``qr_wide`` through ``A.grad``.
"""
import contextlib

import numpy as np

import matdiff

from ...autodiff import backward
from ...engine.tensor import tensor
from .catalog import exercise
from .grader import LearnerError
from .wide import QRWide

NOTATION = ("A: a wide Tensor (m < n, possibly a stack). Return (Q, R) as Tensors built from md.split, md.qr (of "
            "the square block only), md.adjoint, md.matmul, md.concat. The grader seeds Qbar, Rbar and reads A.grad.")
_ENGINE = ("The engine: Ā comes from the nodes you recorded; it is right only if the graph computes Q and R.",
           "Figure 2: A = [X|Y] (split at m), X = Q U (md.qr), V = Qᴴ Y (md.adjoint, md.matmul), R = [U|V] "
           "(md.concat). {where}", "")
HINTS = {
    "forward": ("The forward: your Q or R is not the QR of A, so the graph cannot have the right gradient.",
                _ENGINE[1], "R = [U|V] with V = Qᴴ Y: concatenate along the last axis (axis=-1)."),
    "V": ("The V node: V = Qᴴ Y needs the adjoint (conjugate transpose) -- real passes, complex fails.",
          _ENGINE[1], "Use md.adjoint(Q), not md.transpose(Q), for V = Qᴴ Y."),
    "graph": _ENGINE[:2] + ("Every value must come from a matdiff op on A (no NumPy arrays in between, or the "
                            "engine cannot differentiate through it).",),
    "batch": ("Batching: the single matrices pass, the stacked ones fail.",
              "Split and concatenate along axis=-1 and transpose with md.adjoint (last two axes). {where}",
              "md.split(A, indices=[m], axis=-1) with m = A.shape[-2]."),
}
SOLUTION = '''def qr_wide(A):
    m = A.shape[-2]
    X, Y = md.split(A, indices=[m], axis=-1)             # A = [X|Y]
    Q, U = md.qr(X)                                      # X = Q U  (square: Eq 3 / 21)
    V = md.matmul(md.adjoint(Q), Y)                      # V = Qᴴ Y
    return Q, md.concat([U, V], axis=-1)                 # R = [U|V]
'''


@contextlib.contextmanager
def _square_qr_only():
    """During the learner's call, md.qr of a wide matrix is refused: that would build Figure 2 for them."""
    original = matdiff.qr

    def guarded(A, *args, **kw):
        if A.shape[-2] < A.shape[-1]:
            raise LearnerError("graph", "md.qr was called on the wide A itself -- that builds Figure 2 for you. "
                                          "Split A first and call md.qr on the square block X")
        return original(A, *args, **kw)
    matdiff.qr = guarded
    try:
        yield
    finally:
        matdiff.qr = original


def learner_vjp(fn):
    """A vjp on arrays made of the learner's graph builder: run it on a Tensor, check its forward, backward."""
    def vjp(A, Q, R, Qbar, Rbar):
        t = tensor(A, requires_grad=True, name="A")
        with _square_qr_only():
            out = fn(t)
        if not (isinstance(out, (tuple, list)) and len(out) == 2 and all(hasattr(o, "node") for o in out)):
            raise LearnerError("shape", f"qr_wide should return (Q, R) as two matdiff Tensors, got "
                                          f"{type(out).__name__}")
        _check_forward(out, Q, R)
        if not (out[0].requires_grad or out[1].requires_grad):
            raise LearnerError("graph", "Q and R do not depend on A through matdiff ops (no graph was recorded)")
        backward(list(out), [Qbar, Rbar])
        return t.grad if t.grad is not None else np.zeros_like(A)
    return vjp


def _check_forward(out, Q, R):
    """Q, then U = R[..., :m], then V = R[..., m:] against the true factors: the first wrong one is named."""
    m = Q.shape[-1]
    for name, o, want in (("Q", out[0], Q), ("R", out[1], R)):
        if o.shape != want.shape:
            raise LearnerError("forward", f"your {name} has shape {o.shape}, expected {want.shape}: the graph must "
                                            "compute A = Q R first (R = [U|V] along axis=-1)")
    if not np.allclose(out[0].data, Q, atol=1e-8) or not np.allclose(out[1].data[..., :m], R[..., :m], atol=1e-8):
        raise LearnerError("forward", "your Q or U is not the QR factor of the square block X: X = Q U (md.qr(X))")
    if not np.allclose(out[1].data, R, atol=1e-8):
        raise LearnerError("forward", "your R = [U|V] is wrong in the V block: V = Qᴴ Y needs the adjoint "
                                        "(md.adjoint, the conjugate transpose) of Q times Y")


@exercise
class Figure2(QRWide):
    name, title = "figure2", "the wide-QR graph of Figure 2, built from nodes"
    equation = "Figure 2 / Proposition 2 (the engine applies Eq 3 and Q̄′ = Q̄ + Y V̄ᴴ by itself)"
    func, signature = "qr_wide", "qr_wide(A) -> (Q, R)"
    specs = [((3, 5), False), ((3, 5), True), ((2, 3, 5), False)]
    notation, hints, solution, template = NOTATION, HINTS, SOLUTION, ()
    seed = 700

    def grade(self, fn, solution=False):
        return super().grade(learner_vjp(fn), solution)

    def diagnose(self, results, failing):
        case = failing[0][0]
        if "complex" in case.tags and results[self.cases()[0].label, "all"].ok:
            return "V"
        return "batch" if "batch" in case.tags else "graph"
