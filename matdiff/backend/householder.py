"""Batched Householder QR for stacks of small matrices: no loop over the matrices.

LAPACK (and cuSOLVER through ``cupy.linalg.qr``) factor a stack one matrix at a time; for 4096 matrices of 64x32
on a GPU that is 4096 launches, ~600 ms, where the arithmetic takes well under a millisecond. Two ways out, one
algorithm (Golub & Van Loan, Alg. 5.2.1, with LAPACK's choice of reflector ``beta = -phase(alpha) |x|``):

* :func:`householder_qr` -- array-API code that loops over the k = min(m, n) *columns* and does each step for the
  whole stack at once. It runs on NumPy, array_api_strict and CuPy alike, so the CPU test-suite executes exactly
  the code the GPU runs (tests/backend/test_backends.py compares it with LAPACK).
* :mod:`matdiff.backend.cuda_qr` -- the same steps as one CUDA kernel, one thread block per matrix, the matrix in
  shared memory (``MATDIFF_CUDA_QR=kernel``; opt-in until a GPU run of ``benchmarks/gpu_check.sh`` verifies it).

Both return the reduced factors with LAPACK's phases on R's diagonal (the kernel also rotates them to real and
non-negative); the QR and LQ nodes apply the one gauge, ``matdiff.ops.factorization.gauge``, to whatever ``b.qr``
returns, so gauged they agree with LAPACK's gauged factors to round-off times the condition number.
"""


def _abs2(b, x):
    return b.real(x) ** 2 + b.imag(x) ** 2 if b.is_complex(x.dtype) else x * x


def householder_qr(b, A):
    """Reduced QR of a stack ``A`` (..., m, n): ``Q`` (..., m, k), ``R`` (..., k, n), ``k = min(m, n)``, with LAPACK's
    phases on R's diagonal (``beta = -phase(alpha) |x|``; the caller applies the gauge). ``b`` is the backend (NumPy,
    array_api_strict, CuPy): only its portable methods are used."""
    xp = b.xp
    *batch, m, n = A.shape
    k = min(m, n)
    R = A * 1                                                        # a copy, updated in place below
    vs, scales = [], []
    for j in range(k):
        x = R[..., j:, j]                                            # the column below (and on) the diagonal
        alpha = x[..., :1]                                           # kept as (..., 1)
        normx = xp.sqrt(xp.sum(_abs2(b, x), axis=-1, keepdims=True))
        beta = -b.phase(alpha) * b.astype(normx, R.dtype)        # LAPACK's sign: no cancellation in alpha - beta
        v = b.concat([alpha - beta, x[..., 1:]], axis=-1)
        vv = xp.sum(_abs2(b, v), axis=-1)
        scale = xp.where(vv == 0, xp.zeros_like(vv), 2 / xp.where(vv == 0, xp.ones_like(vv), vv))   # 0: nothing to do
        scale = b.astype(scale, R.dtype)
        w = b.conj(v)[..., None, :] @ R[..., j:, j:]                # v^H R  (..., 1, n - j)
        R[..., j:, j:] = R[..., j:, j:] - (scale[..., None, None] * v[..., :, None]) * w
        vs.append(v)
        scales.append(scale)
    Q = xp.zeros(tuple(batch) + (m, k), dtype=R.dtype)
    eye = xp.eye(m, k, dtype=R.dtype)
    Q = Q + eye
    for j in reversed(range(k)):                                     # Q = H_0 H_1 ... H_{k-1} [I; 0]
        v, scale = vs[j], scales[j]
        w = b.conj(v)[..., None, :] @ Q[..., j:, :]
        Q[..., j:, :] = Q[..., j:, :] - (scale[..., None, None] * v[..., :, None]) * w
    return Q, b.triu(R[..., :k, :])          # LAPACK's phases; the QR/LQ nodes apply the gauge (ops/factorization.py)
