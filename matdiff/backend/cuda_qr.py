"""The batched Householder QR of :mod:`matdiff.backend.householder` as one CUDA kernel (CuPy ``RawModule``).

One thread block per matrix; the matrix, its Householder vectors and a reduction buffer live in shared memory.
Step j, exactly as the array-API version: ``x = A[j:, j]``, ``beta = -phase(x_0) |x|``, ``v = x - beta e_0``,
``scale = 2 / |v|^2`` (0 for a zero column); every column c >= j gets ``A[:, c] -= scale v (v^H A[:, c])`` (one
thread per column). Then ``Q = H_0 ... H_{k-1} [I; 0]`` the same way, and the gauge makes diag(R) real, >= 0.

Opt-in (``MATDIFF_CUDA_QR=kernel``) until ``benchmarks/gpu_check.sh`` has compared it with cuSOLVER on a device.
Without a GPU, ``tests/backend/test_cuda_kernel_on_cpu.py`` compiles this very source with the host C++ compiler -- each
block as 1, 4 or 32 std::threads sharing one buffer, ``__syncthreads`` a ``std::barrier`` -- and compares it with
LAPACK: arithmetic, indexing, gauge, layout, reductions and barriers are checked (removing a barrier fails it);
the CUDA compiler and the hardware are what only a device run can check.
"""
import math

_SOURCE = r"""
#include <cupy/complex.cuh>

__device__ inline double mag2(double x) { return x * x; }
__device__ inline float mag2(float x) { return x * x; }
__device__ inline double mag2(complex<double> x) { return norm(x); }
__device__ inline float mag2(complex<float> x) { return norm(x); }
__device__ inline double cj(double x) { return x; }
__device__ inline float cj(float x) { return x; }
__device__ inline complex<double> cj(complex<double> x) { return conj(x); }
__device__ inline complex<float> cj(complex<float> x) { return conj(x); }

template <typename T, typename R>
__device__ inline T unit_phase(T a) {            // a / |a|, 1 for a == 0
    R m = sqrt(mag2(a));
    return m == R(0) ? T(1) : a / T(m);
}

template <typename T, typename R>
__global__ void hh_qr(const T* A, T* Qout, T* Rout, int m, int n) {
    extern __shared__ unsigned char smem[];
    const int k = m < n ? m : n;
    T* a = reinterpret_cast<T*>(smem);            // m x n, column-major
    T* V = a + m * n;                             // m x k Householder vectors (column j holds v_j from row j)
    T* scl = V + m * k;                           // k scales
    T* D = scl + k;                               // k gauge phases: d_j = phase(R_jj) before the gauge
    R* red = reinterpret_cast<R*>(D + k);         // blockDim.x partial sums
    const size_t off = (size_t)blockIdx.x * m * n;
    for (int t = threadIdx.x; t < m * n; t += blockDim.x) {
        int i = t / n, c = t % n;                 // input is row-major
        a[i + c * m] = A[off + t];
    }
    __syncthreads();
    for (int j = 0; j < k; ++j) {
        R part = 0;
        for (int i = j + threadIdx.x; i < m; i += blockDim.x) part += mag2(a[i + j * m]);
        red[threadIdx.x] = part;
        __syncthreads();
        for (int s = blockDim.x / 2; s > 0; s >>= 1) {
            if (threadIdx.x < s) red[threadIdx.x] += red[threadIdx.x + s];
            __syncthreads();
        }
        R normx = sqrt(red[0]);
        T alpha = a[j + j * m];
        T beta = -unit_phase<T, R>(alpha) * T(normx);
        T v0 = alpha - beta;
        R vv = red[0] - mag2(alpha) + mag2(v0);
        T scale = vv == R(0) ? T(0) : T(R(2) / vv);
        __syncthreads();
        for (int i = j + threadIdx.x; i < m; i += blockDim.x) V[i + j * m] = (i == j) ? v0 : a[i + j * m];
        if (threadIdx.x == 0) scl[j] = scale;
        __syncthreads();
        for (int c = j + threadIdx.x; c < n; c += blockDim.x) {
            T w = 0;
            for (int i = j; i < m; ++i) w += cj(V[i + j * m]) * a[i + c * m];
            w *= scale;
            for (int i = j; i < m; ++i) a[i + c * m] -= V[i + j * m] * w;
        }
        __syncthreads();
    }
    // the gauge: d_j = phase(R_jj); R's row j times conj(d_j), Q's column j times d_j -- diag(R) real, >= 0
    for (int j = threadIdx.x; j < k; j += blockDim.x) D[j] = unit_phase<T, R>(a[j + j * m]);
    __syncthreads();
    const size_t roff = (size_t)blockIdx.x * k * n, qoff = (size_t)blockIdx.x * m * k;
    for (int t = threadIdx.x; t < k * n; t += blockDim.x) {
        int i = t / n, c = t % n;                 // output is row-major
        Rout[roff + t] = (c < i) ? T(0) : cj(D[i]) * a[i + c * m];
    }
    __syncthreads();
    T* q = a;                                     // reuse: m x k <= m x n, column-major
    for (int t = threadIdx.x; t < m * k; t += blockDim.x) {
        int i = t % m, c = t / m;
        q[t] = (i == c) ? T(1) : T(0);
    }
    __syncthreads();
    for (int j = k - 1; j >= 0; --j) {
        for (int c = threadIdx.x; c < k; c += blockDim.x) {
            T w = 0;
            for (int i = j; i < m; ++i) w += cj(V[i + j * m]) * q[i + c * m];
            w *= scl[j];
            for (int i = j; i < m; ++i) q[i + c * m] -= V[i + j * m] * w;
        }
        __syncthreads();
    }
    for (int t = threadIdx.x; t < m * k; t += blockDim.x) {
        int i = t / k, c = t % k;                 // output is row-major
        Qout[qoff + t] = q[i + c * m] * D[c];
    }
}
"""

_NAMES = {"float64": "hh_qr<double, double>", "float32": "hh_qr<float, float>",
          "complex128": "hh_qr<complex<double>, double>", "complex64": "hh_qr<complex<float>, float>"}
_THREADS = 128
_SHARED_LIMIT = 48 * 1024
_module = []


def fits(m, n, itemsize, real_itemsize):
    """Does one matrix (and its Householder vectors) fit the default shared memory of a block?"""
    k = min(m, n)
    return (m * n + m * k + 2 * k) * itemsize + _THREADS * real_itemsize <= _SHARED_LIMIT


def qr(cp, A):
    """Reduced QR of a C-contiguous CuPy stack (..., m, n) by the kernel; the gauge is applied on the way out."""
    if not _module:
        _module.append(cp.RawModule(code=_SOURCE, options=("-std=c++14",), name_expressions=tuple(_NAMES.values())))
    *batch, m, n = A.shape
    k = min(m, n)
    count = math.prod(batch) if batch else 1
    A = cp.ascontiguousarray(A)
    Q = cp.empty(tuple(batch) + (m, k), dtype=A.dtype)
    R = cp.empty(tuple(batch) + (k, n), dtype=A.dtype)
    real = cp.dtype(cp.empty((), A.dtype).real.dtype)
    shared = (m * n + m * k + 2 * k) * A.dtype.itemsize + _THREADS * real.itemsize
    kernel = _module[0].get_function(_NAMES[A.dtype.name])
    if count:
        kernel((count,), (_THREADS,), (A, Q, R, cp.int32(m), cp.int32(n)), shared_mem=shared)
    return Q, R
