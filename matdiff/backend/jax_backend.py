"""The backend contract on JAX arrays (``jax.numpy``), so matdiff's forward rules run inside JAX tracing.

``jax.numpy`` is an array-API namespace, so :class:`~matdiff.backend.base.Backend` serves almost every primitive as
it is; here only what JAX does differently: immutable arrays (``setitem_copy`` by ``.at[].set``), a triangular solve
whose batch axes must match (broadcast here first -- JAX's own ``triangular_solve`` refuses otherwise), NumPy dtype
objects. Used by ``matdiff.jax`` on concrete arrays and on tracers alike (no host primitive is called on a tracer).
"""
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .base import Backend

_INSTANCE = []


def jax_backend():
    """The one JAX backend (JAX places arrays itself; the contract's creators make them on the default device)."""
    if not _INSTANCE:
        _INSTANCE.append(JaxBackend())
    return _INSTANCE[0]


class JaxBackend(Backend):
    """``jax.numpy`` arrays (concrete or traced) on JAX's default device."""

    name = "jax"
    promotes = True

    def __init__(self):
        super().__init__(jnp, jax.Array)
        self.float32, self.float64 = np.dtype(np.float32), np.dtype(np.float64)
        self.complex64, self.complex128 = np.dtype(np.complex64), np.dtype(np.complex128)
        self.device = "cpu" if jax.default_backend() == "cpu" else "gpu"
        self.defers_checks = self.device != "cpu"

    def own(self, x):
        return x if isinstance(x, jax.Array) else None          # tracers too

    def from_host(self, a):
        return jnp.asarray(np.asarray(a))

    def to_host(self, a):
        return np.asarray(a)

    def dtype_name(self, dtype):
        return np.dtype(dtype).name

    def _kind(self, dtype):
        k = np.dtype(dtype).kind
        return "c" if k == "c" else "f" if k == "f" else ""

    def real_dtype(self, dtype):
        return np.dtype(jnp.finfo(dtype).dtype) if self._kind(dtype) == "c" else np.dtype(dtype)

    def complex_dtype(self, dtype):
        return np.result_type(dtype, np.complex64) if self._kind(dtype) == "f" else np.dtype(dtype)

    def result_type(self, *dtypes):
        return np.result_type(*[np.dtype(d) for d in dtypes])

    def setitem_copy(self, shape, dtype, key, value):
        return jnp.zeros(shape, dtype=dtype).at[key].set(value)

    def solve_triangular(self, T, B, *, lower, side="left", adjoint=False, overwrite=False):
        """``op(T)^{-1} B`` or ``B op(T)^{-1}`` by ``lax.linalg.triangular_solve``, batch axes broadcast first.

        On the CPU, triangles of at most ``_INVERSE_MAX`` columns (one matrix or a stack) are applied as their
        explicit inverse (:func:`_upper_inverse`, batched matmuls only), and larger stacks are solved one matrix at
        a time (``lax.map``): jaxlib 0.10.2's batched CPU trsm deadlocks -- under ``jit``, after a few calls, an XLA
        worker thread waits in ``jax::ParallelBatchMap`` for batch tasks that the pool's other thread never runs
        (gdb, 2 cores; plain ``jnp.linalg.qr``'s gradient hangs the same way; docs/bridges.md). ``jit(grad)`` of a
        QR took 0.82x the per-matrix solve's time for 256x32x16, 0.64x for 1000x8x4, 0.59-0.60x for 64x64x32 and
        128x64x64 (in processes of their own, alternated, 2 threads, AMD EPYC, 2026-12-04), the same numbers to
        4e-14 of 90; and under ``vmap``, whose batch the rule cannot see, a small triangle now stays off the
        batched trsm too. The inverse's error, like the solve's, is a small multiple of cond(T) u (Higham,
        *Accuracy and Stability*, Sec. 14.2); matdiff refuses a singular T before either runs."""
        cplx = self.is_complex(T.dtype)
        if self.device == "cpu" and T.shape[-1] <= _INVERSE_MAX:
            inv = _upper_inverse_jit(jnp.swapaxes(T, -1, -2) if lower else T)   # reads only T's triangle
            inv = jnp.swapaxes(inv, -1, -2) if lower else inv                     # T^{-1}
            if adjoint:
                inv = jnp.swapaxes(jnp.conj(inv) if cplx else inv, -1, -2)       # op(T)^{-1} = (T^{-1})^H
            return B @ inv if side == "right" else inv @ B
        batch = np.broadcast_shapes(tuple(T.shape[:-2]), tuple(B.shape[:-2]))
        T = jnp.broadcast_to(T, batch + tuple(T.shape[-2:]))
        B = jnp.broadcast_to(B, batch + tuple(B.shape[-2:]))

        def solve(TB):
            return lax.linalg.triangular_solve(TB[0], TB[1], left_side=side == "left", lower=lower,
                                               transpose_a=adjoint, conjugate_a=adjoint and cplx)
        if not batch or self.device != "cpu":
            return solve((T, B))
        flat = (T.reshape((-1,) + T.shape[-2:]), B.reshape((-1,) + B.shape[-2:]))
        return lax.map(solve, flat).reshape(B.shape)


_INVERSE_MAX = 64           # columns: up to here a CPU triangle is applied as its inverse (measured up to 64)


def _upper_inverse(U):
    """``U^{-1}`` of upper-triangular U (..., k, k) by 2x2 block recursion, ``[[A, B], [0, D]]^{-1} =
    [[A^{-1}, -A^{-1} B D^{-1}], [0, D^{-1}]]``: batched matmuls, no triangular solve; U's lower triangle is never
    read."""
    k = U.shape[-1]
    if k == 1:
        return 1 / U
    h = k // 2
    Ai, Di = _upper_inverse(U[..., :h, :h]), _upper_inverse(U[..., h:, h:])
    top = jnp.concatenate([Ai, -(Ai @ U[..., :h, h:]) @ Di], axis=-1)
    bottom = jnp.concatenate([jnp.zeros(U.shape[:-2] + (k - h, h), U.dtype), Di], axis=-1)
    return jnp.concatenate([top, bottom], axis=-2)


_upper_inverse_jit = jax.jit(_upper_inverse)    # eager callers: one dispatch (under a trace it is inlined)
