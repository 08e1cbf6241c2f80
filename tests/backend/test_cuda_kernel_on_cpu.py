"""The CUDA kernel's own source, compiled for the CPU and run with real threads per block.

``matdiff/backend/cuda_qr.py`` cannot run here (no GPU). Its C++ is compiled with the host compiler against a small
shim: ``complex`` is ``std::complex``, each block runs as ``blockDim.x`` std::threads over the same "shared"
buffer, ``threadIdx`` is thread-local and ``__syncthreads`` is a ``std::barrier`` -- so the strided loops, the tree
reduction and every barrier run as they would on a device (1, 4 and 32 threads per block are tried). Checked
against LAPACK: arithmetic, indexing, gauge, layout and the barriers' placement. What stays for a GPU run
(benchmarks/gpu_check.sh): the CUDA compiler and the hardware itself.
"""
import ctypes
import shutil
import subprocess

import numpy as np
import pytest

from matdiff.backend import cuda_qr
from matdiff.testing import svd_conditioned

CXX = shutil.which("g++") or shutil.which("c++")
pytestmark = pytest.mark.skipif(CXX is None, reason="no C++ compiler to build the kernel's source for the CPU")

_SHIM = r"""
#include <barrier>
#include <cmath>
#include <complex>
#include <thread>
#include <vector>
template <typename X> using complex = std::complex<X>;
#define __device__
#define __global__
struct dim3_ { unsigned x; };
static thread_local dim3_ threadIdx = {0}, blockIdx = {0};
static dim3_ blockDim = {1};
static std::barrier<>* g_barrier;
static inline void __syncthreads() { g_barrier->arrive_and_wait(); }
static unsigned char* g_smem;
"""

_DRIVER = r"""
template <typename T, typename R>
static void drive(const T* A, T* Q, T* Rf, int m, int n, int batch, int threads) {
    int k = m < n ? m : n;
    std::vector<unsigned char> buf((m * n + m * k + 2 * k) * sizeof(T) + threads * sizeof(R) + 64);
    g_smem = buf.data();
    blockDim.x = threads;
    for (int b = 0; b < batch; ++b) {               // blocks one after another, the threads of a block together
        std::barrier<> bar(threads);
        g_barrier = &bar;
        std::vector<std::thread> pool;
        for (int t = 0; t < threads; ++t)
            pool.emplace_back([=] { threadIdx.x = t; blockIdx.x = b; hh_qr<T, R>(A, Q, Rf, m, n); });
        for (auto& th : pool) th.join();
    }
}
extern "C" {
void run_f64(const double* A, double* Q, double* R, int m, int n, int b, int t) {
    drive<double, double>(A, Q, R, m, n, b, t); }
void run_f32(const float* A, float* Q, float* R, int m, int n, int b, int t) {
    drive<float, float>(A, Q, R, m, n, b, t); }
void run_c128(const std::complex<double>* A, std::complex<double>* Q, std::complex<double>* R, int m, int n, int b,
              int t) { drive<std::complex<double>, double>(A, Q, R, m, n, b, t); }
void run_c64(const std::complex<float>* A, std::complex<float>* Q, std::complex<float>* R, int m, int n, int b,
             int t) { drive<std::complex<float>, float>(A, Q, R, m, n, b, t); }
}
"""


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    src = cuda_qr._SOURCE.replace("#include <cupy/complex.cuh>", _SHIM)
    src = src.replace("extern __shared__ unsigned char smem[];", "unsigned char* smem = g_smem;")
    d = tmp_path_factory.mktemp("kernel")
    (d / "k.cpp").write_text(src + _DRIVER)
    cmd = [CXX, "-O1", "-std=c++20", "-pthread", "-shared", "-fPIC", "-o", str(d / "k.so"), str(d / "k.cpp")]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return ctypes.CDLL(str(d / "k.so"))


_RUN = {"float64": "run_f64", "float32": "run_f32", "complex128": "run_c128", "complex64": "run_c64"}


@pytest.mark.parametrize("threads", [1, 4, 32])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128, np.complex64])
@pytest.mark.parametrize("shape", [(5, 8, 4), (3, 4, 4), (4, 3, 6), (2, 1, 5), (2, 6, 1), (3, 64, 32)], ids=str)
def test_the_kernels_source_equals_lapack(kernel, shape, dtype, threads):
    from matdiff.backend import get
    from matdiff.ops.factorization import gauge as _gauge
    batch, m, n = shape
    k = min(m, n)
    a = np.ascontiguousarray(svd_conditioned((batch,), m, n, cond=30, dtype=dtype, seed=m * n))
    Q, R = np.zeros((batch, m, k), dtype), np.zeros((batch, k, n), dtype)
    ptr = lambda x: x.ctypes.data_as(ctypes.c_void_p)  # noqa: E731
    getattr(kernel, _RUN[np.dtype(dtype).name])(ptr(a), ptr(Q), ptr(R), m, n, batch, threads)
    Ql, Rl = _gauge(get("numpy"), *np.linalg.qr(a))
    tol = 30 * 50 * np.finfo(dtype).eps * max(m, n)
    np.testing.assert_allclose(Q, Ql, rtol=0, atol=tol)
    np.testing.assert_allclose(R, Rl, rtol=0, atol=tol * float(np.abs(Rl).max()))


def test_a_zero_column_gives_no_nan(kernel):
    a = np.ascontiguousarray(svd_conditioned((2,), 5, 3, cond=5, seed=1))
    a[1, :, 0] = 0
    Q, R = np.zeros((2, 5, 3)), np.zeros((2, 3, 3))
    p = lambda x: x.ctypes.data_as(ctypes.c_void_p)  # noqa: E731
    kernel.run_f64(p(a), p(Q), p(R), 5, 3, 2, 4)
    assert np.all(np.isfinite(Q)) and np.all(np.isfinite(R))
    np.testing.assert_allclose(Q @ R, a, atol=1e-12)
