"""Gradcheck cases for every registered op: ``CASES[op] = [(label, input shapes, function[, backends]), ...]``.

``tests/test_ops.py`` runs each case on real and complex inputs and on every CPU backend, and fails if an
op is registered without a case here. A case limited to some backends names them (a NumPy array on the
left of ``@`` defers to Tensor; an array_api_strict array does not defer to foreign types by design).
"""
import numpy as np

import matdiff as md

CASES = {
    "matmul": [("2d", [(3, 4), (4, 2)], lambda A, B: A @ B),
               ("batch-broadcast", [(2, 1, 3, 4), (3, 4, 2)], lambda A, B: A @ B),
               ("numpy-array-on-left", [(4, 2)], lambda B: np.ones((3, 4)) @ B, ("numpy",))],
    "add": [("same", [(3, 4), (3, 4)], lambda A, B: A + B),
            ("broadcast", [(2, 3, 4), (4,)], lambda A, B: A + B),
            ("scalar", [(3, 4)], lambda A: 2.0 + A)],
    "sub": [("same", [(3, 4), (3, 4)], lambda A, B: A - B),
            ("broadcast", [(3, 1), (1, 4)], lambda A, B: A - B)],
    "neg": [("batch", [(2, 3, 4)], lambda A: -A)],
    "mul": [("same", [(3, 4), (3, 4)], lambda A, B: A * B),
            ("broadcast", [(2, 3, 4), (3, 1)], lambda A, B: A * B),
            ("self", [(3, 3)], lambda A: A * A)],
    "scale": [("real", [(3, 4)], lambda A: A * 2.5),
              ("complex-scalar", [(2, 3, 2)], lambda A: (1 - 2j) * A)],
    "sum": [("all", [(3, 4)], lambda A: md.sum(A)),
            ("axis", [(2, 3, 4)], lambda A: md.sum(A, axis=-1)),
            ("axes", [(2, 3, 4)], lambda A: A.sum(axis=(0, 2)))],
    "transpose": [("batch", [(2, 3, 4)], lambda A: A.T)],
    "adjoint": [("batch", [(2, 3, 4)], lambda A: A.mH)],
    "conj": [("2d", [(3, 4)], lambda A: A.conj())],
    "real": [("2d", [(3, 4)], lambda A: md.real(A @ A.mH))],
    "slice": [("columns", [(4, 5)], lambda A: A[:, :2]),
              ("strided-batch", [(2, 4, 5)], lambda A: A[..., 1:, ::2]),
              ("int", [(2, 4, 3)], lambda A: A[1])],
    "split": [("points", [(3, 6)], lambda A: md.split(A, [1, 4], axis=-1)),
              ("sections-rows", [(2, 4, 3)], lambda A: md.split(A, 2, axis=-2))],
    "concat": [("columns", [(3, 2), (3, 4)], lambda A, B: md.concat([A, B], axis=-1)),
               ("rows-batch", [(2, 2, 3), (2, 1, 3)], lambda A, B: md.concat([A, B], axis=-2))],
    "permute": [("columns", [(3, 4)], lambda A: md.permute(A, [2, 0, 3, 1])),
                ("rows", [(4, 3)], lambda A: md.permute(A, [3, 1, 0, 2], axis=-2)),
                ("batched-perm", [(2, 3, 3)], lambda A: md.permute(A, np.array([[2, 0, 1], [1, 2, 0]])))],
    "qr": [("square", [(4, 4)], lambda A: tuple(md.qr(A))),
           ("deep-batch", [(2, 5, 3)], lambda A: tuple(md.qr(A)))],
    "qr_wide": [("wide", [(3, 5)], lambda A: tuple(md.qr(A, fused=True))),
                ("wide-batch", [(2, 2, 4)], lambda A: tuple(md.qr(A, fused=True)))],
    "lq": [("wide", [(3, 5)], lambda A: tuple(md.lq(A))),
           ("square-batch", [(2, 3, 3)], lambda A: tuple(md.lq(A)))],
    "lq_deep": [("deep", [(5, 3)], lambda A: tuple(md.lq(A, fused=True))),
                ("deep-batch", [(2, 4, 2)], lambda A: tuple(md.lq(A, fused=True)))],
}
