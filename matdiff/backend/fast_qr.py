"""Reduced QR of one matrix at the BLAS limit, proved a posteriori: CholeskyQR2 on NumPy's own OpenBLAS.

CholeskyQR2 (Fukaya, Nakatsukasa, Yamamoto et al. 2014/2015) of a deep or square A (m >= n) is two passes of
``G = A^H A`` (syrk/herk), ``R1 = chol(G)`` (potrf), ``Q1 = A R1^{-1}`` (trsm; the second pass a trmm by the
explicit inverse, see :func:`cholesky_qr2`), then ``R = R2 R1`` (trmm): all level-3 BLAS, which OpenBLAS
threads well -- unlike LAPACK's Householder ``geqrf``, whose level-2 panels ran 2-4x *slower* on two threads than
on one here. Cholesky gives R2 and R1 a real positive diagonal, so R = R2 R1 is
already in matdiff's gauge.

Proof, a posteriori and free: the second pass forms ``G2 = Q1^H Q1`` anyway, so ``delta = ||G2 - I||_F`` is the
measured orthogonality of the first pass. If ``delta <= 1/2`` then ``cond(Q1) <= sqrt(3)``, and the rounding
analysis of one CholeskyQR of a matrix that well conditioned (Yamamoto et al. 2015, Thm 3.3 and 3.4, whose
hypothesis ``8 cond(Q1) sqrt((mn + n(n+1)) u) <= 1`` is checked here too) bounds the result::

    ||Q^H Q - I||_F <= 6 (mn + n(n+1)) u,          ||A - Q R||_F <= 5 n^2 sqrt(n) u ||A||_2  (up to O(u^2))

(the residual because trsm is backward stable row by row whatever cond(A), once ||Q1|| <= sqrt(3/2) is known).
Anything else -- potrf failing (a zero column, exact rank deficiency, cond(A) >~ 1e8, an overflow), a NaN, an inf,
``delta > 1/2``, a matrix too large for the hypothesis (float32 beyond ~8e4 entries) -- returns ``None`` and the
caller runs LAPACK Householder. ``docs/performance.md`` states the bounds; ``tests/backend/test_fast_qr.py`` checks
them and the fallbacks on inputs built to defeat the fast path.

The routines are NumPy's bundled OpenBLAS (scipy-openblas64, ILP64) through ctypes, found by threadpoolctl: SciPy's
LAPACK is a *second* OpenBLAS whose spinning thread pool slowed NumPy's next matmuls 2x on two cores. Where NumPy
is built on another BLAS the binding is absent (``available()`` is False) and every QR goes to Householder.
"""
import ctypes
import os
import threading
from contextlib import contextmanager

import numpy as np

_RM, _CM, _UP, _NT, _TR, _CT, _LEFT, _RIGHT, _NONUNIT = 101, 102, 121, 111, 112, 113, 141, 142, 131
_LO = 122
_I, _P = ctypes.c_int64, ctypes.c_void_p
_LIB, _F, _W, _INV = None, {}, {}, {}


def _bind():
    """Find NumPy's OpenBLAS and bind syrk/herk, trsm, trmm, potrf and the thread count for s, d, c, z."""
    global _LIB
    try:
        import threadpoolctl
        paths = [d["filepath"] for d in threadpoolctl.threadpool_info()
                 if d.get("internal_api") == "openblas" and "numpy" in d.get("filepath", "")]
        lib = ctypes.CDLL(paths[0])
        lib.scipy_cblas_dsyrk64_        # the scipy-openblas64 naming: scipy_ prefix, 64_ suffix
    except (ImportError, IndexError, OSError, AttributeError):
        return
    for ch, real, cplx in (("s", ctypes.c_float, False), ("d", ctypes.c_double, False),
                           ("c", ctypes.c_float, True), ("z", ctypes.c_double, True)):
        scal = _P if cplx else real
        rank = getattr(lib, f"scipy_cblas_{ch}{'herk' if cplx else 'syrk'}64_")
        rank.argtypes, rank.restype = [_I, _I, _I, _I, _I, real, _P, _I, real, _P, _I], None
        tri = [getattr(lib, f"scipy_cblas_{ch}{op}64_") for op in ("trsm", "trmm")]
        for f in tri:
            f.argtypes, f.restype = [_I, _I, _I, _I, _I, _I, _I, scal, _P, _I, _P, _I], None
        potrf = getattr(lib, f"scipy_LAPACKE_{ch}potrf64_")
        potrf.argtypes, potrf.restype = [_I, ctypes.c_char, _I, _P, _I], _I
        trtri = getattr(lib, f"scipy_LAPACKE_{ch}trtri64_")
        trtri.argtypes, trtri.restype = [_I, ctypes.c_char, ctypes.c_char, _I, _P, _I], _I
        _INV[ch] = trtri
        one = (ctypes.c_float * 2)(1, 0) if ch == "c" else (ctypes.c_double * 2)(1, 0) if cplx else 1.0
        _F[ch] = (rank, tri[0], tri[1], potrf, one, cplx)
        gemm = getattr(lib, f"scipy_cblas_{ch}gemm64_")
        gemm.argtypes, gemm.restype = [_I, _I, _I, _I, _I, _I, scal, _P, _I, _P, _I, scal, _P, _I], None
        geqrt3 = getattr(lib, f"scipy_LAPACKE_{ch}geqrt364_")
        geqrt3.argtypes, geqrt3.restype = [_I, _I, _I, _P, _I, _P, _I], _I
        arr = ctypes.c_float * 2 if ch == "c" else ctypes.c_double * 2
        consts = (arr(1, 0), arr(-1, 0), arr(0, 0)) if cplx else (1.0, -1.0, 0.0)
        _W[ch] = (gemm, tri[1], geqrt3, consts)
    lib.scipy_openblas_set_num_threads64_.argtypes = [ctypes.c_int]
    lib.scipy_openblas_get_num_threads64_.restype = ctypes.c_int
    if hasattr(lib, "openblas_thread_timeout"):                     # short_spin's: see there
        lib.openblas_thread_timeout.restype = ctypes.c_int
    _LIB = lib


def available():
    """Whether the fast path exists in this NumPy (its BLAS is the bundled scipy-openblas64)."""
    return _LIB is not None


#: How long OpenBLAS's idle worker threads spin once :func:`short_spin` has run: 2^SPIN cycles (~0.4 ms at 2.5 GHz),
#: against OpenBLAS's default 2^28 (~0.1 s).
SPIN = 20
_SHORT = []                 # whether short_spin has run (once per process)


def short_spin():
    """Let NumPy's OpenBLAS worker threads sleep ~0.4 ms after a threaded call instead of spinning ~0.1 s, once per
    process, before matdiff first splits work among its own threads (:mod:`matdiff.backend.stacks`, the checks).

    After each threaded call OpenBLAS's workers busy-wait for the next one for 2^28 cycles; on a core they hold,
    matdiff's threads get nothing: right after a 2000x2000 dgemm, a trsm split in two single-threaded halves took as
    long as one (21.1 against 19.4 ms), 0.3 s later half (10.2 ms), and a complex128 256 x 32x16 stack's forward +
    backward 10.4-10.9 ms, against 6.9-7.4 ms with ``OPENBLAS_THREAD_TIMEOUT=20`` or 4 (2 threads, AMD EPYC,
    2026-12-04); 500x200, 2000x500 and a 300x300 matmul after a 1 ms pause changed within the noise (0.565-0.575 ->
    0.579-0.584 ms). The timeout is read when OpenBLAS starts its threads, so this sets it (OpenBLAS's
    ``openblas_read_env``, the variable removed again: child processes do not inherit it) and stops the threads
    (``blas_thread_shutdown_``, what OpenBLAS's own fork handler calls); the next threaded call starts them anew with
    the thread count unchanged. Nothing where the user set ``OPENBLAS_THREAD_TIMEOUT`` (theirs rules), off the main
    thread, without NumPy's bundled OpenBLAS, or -- until a later call finds them gone -- while a non-daemon thread
    other than matdiff's own runs (one that may be inside a BLAS call as the threads stop; a notebook's kernel threads
    are daemons)."""
    if _SHORT or _LIB is None or threading.current_thread() is not threading.main_thread() or _others_running():
        return
    _SHORT.append(True)
    read, stop = getattr(_LIB, "openblas_read_env", None), getattr(_LIB, "blas_thread_shutdown_", None)
    if read is None or stop is None or "OPENBLAS_THREAD_TIMEOUT" in os.environ:
        return
    os.environ["OPENBLAS_THREAD_TIMEOUT"] = str(SPIN)
    try:
        read()
    finally:
        del os.environ["OPENBLAS_THREAD_TIMEOUT"]
    stop()


def _others_running():
    main = threading.main_thread()
    return any(t is not main and not t.daemon and not t.name.startswith("matdiff-") for t in threading.enumerate())


def spin_timeout():
    """The spin timeout OpenBLAS will start its threads with (log2 cycles; 0: its built-in 28), or None."""
    f = getattr(_LIB, "openblas_thread_timeout", None)
    return None if f is None else f()


def get_threads():
    """NumPy's OpenBLAS thread count; None where it is not ours to change -- no binding, or a thread other than the
    main one (the count is process-wide: two threads setting and restoring it could leave it changed)."""
    if _LIB is None or threading.current_thread() is not threading.main_thread():
        return None
    return _LIB.scipy_openblas_get_num_threads64_()


def set_threads(n):
    if _LIB is not None:
        _LIB.scipy_openblas_set_num_threads64_(int(n))


@contextmanager
def blas_threads(n):
    """NumPy's OpenBLAS on ``n`` threads for the block (never more than the caller's), restored after; nothing
    where the count is not ours to change (:func:`get_threads` is None) or is ``n`` already."""
    user = get_threads()
    if user is None or min(n, user) == user:
        yield
        return
    set_threads(min(n, user))
    try:
        yield
    finally:
        set_threads(user)


_CH = {"f": "s", "d": "d", "F": "c", "D": "z"}
_TRANS = {"N": _NT, "T": _TR, "C": _CT}


def trsm(T, X, side, lower, trans):
    """``X <- op(T)^{-1} X`` (side "left") or ``X op(T)^{-1}`` ("right") in place, by BLAS trsm on NumPy's OpenBLAS;
    ``op`` is ``trans``: "N", "T" or "C" (conjugate transpose). T (k x k) and X are 2-D, C-contiguous and of one
    dtype (float32/64, complex64/128); only T's ``lower`` (else upper) triangle is read. Row-major CBLAS reads the
    C-order arrays as they are: no transposed copies. Backward stable, and about gemm's speed per flop from a few
    hundred columns (the recursive NumPy blocking it replaced ran at ~55 % of gemm here, trsm at ~65 %)."""
    _, f, _, _, one, _ = _F[_CH[X.dtype.char]]
    m, n = X.shape
    f(_RM, _LEFT if side == "left" else _RIGHT, _LO if lower else _UP, _TRANS[trans], _NONUNIT, m, n, one,
      T.ctypes.data, T.shape[1], X.ctypes.data, n)
    return X


def trsm_each(T, X, lower):
    """``X[i] <- X[i] T[i]^{-1}`` for every matrix of a stack, in place: one BLAS trsm per matrix on one thread
    (the process's count restored after). T (nb, k, k) and X (nb, m, k) are C-contiguous, of one dtype; only T's
    ``lower`` (else upper) triangle is read. A stack too large for the cache ran 1.1-5x faster this way than by
    substitution over the whole stack (1024 x 64x32 float64: 19.5 against 75.5 ms, measured 2026-12-02)."""
    _, f, _, _, one, _ = _F[_CH[X.dtype.char]]
    nb, m, k = X.shape
    sx, st, uplo = m * k * X.itemsize, k * k * T.itemsize, _LO if lower else _UP
    x, t = X.ctypes.data, T.ctypes.data
    with blas_threads(1):
        for i in range(nb):
            f(_RM, _RIGHT, uplo, _NT, _NONUNIT, m, k, one, t + i * st, k, x + i * sx, k)
    return X


_EPS = {"s": 2.0 ** -24, "c": 2.0 ** -24, "d": 2.0 ** -53, "z": 2.0 ** -53}    # unit round-off u


def within_hypothesis(m, n, u):
    """The size hypothesis of the proof (module docstring), ``8 sqrt(3) sqrt((mn + n(n+1)) u) <= 1`` at unit
    round-off ``u``, for the cond(Q1) <= sqrt(3) that ``delta <= 1/2`` proves: float64 meets it at any practical size,
    float32 only up to ~8e4 entries. The torch bridge's CholeskyQR2 checks it too."""
    return 8 * 3 ** 0.5 * ((m * n + n * (n + 1)) * u) ** 0.5 <= 1


def _gram(A, ch, m, n):
    """``G = A^H A`` (syrk/herk) of C-ordered A (m x n): its upper triangle, zeros below."""
    rank, _, _, _, _, cplx = _F[ch]
    G = np.zeros((n, n), dtype=A.dtype)
    rank(_RM, _UP, _CT if cplx else _TR, n, m, 1.0, A.ctypes.data, n, 0.0, G.ctypes.data, n)
    return G


def _one_thread(f, *args):
    """``f(*args)`` on one BLAS thread: potrf and trtri of a few hundred columns ran 1.5-1.7x faster on one thread
    than on two here (200 and 500 columns, measured 2026-12-02)."""
    with blas_threads(1):
        return f(*args)


def _cholesky(G, ch, n):
    """``G <- R`` in place, ``R^H R = G``, R upper triangular with a real positive diagonal; False if potrf fails
    (a non-positive pivot or a NaN). LAPACKE's column-major potrf reads the upper triangle of the C-order G as the
    lower triangle of ``G^T = conj(G)`` and returns L with ``conj(G) = L L^H``, whose C-order view ``R = L^T`` is
    upper triangular with ``R^H R = G``."""
    return _one_thread(_F[ch][3], _CM, b"L", n, G.ctypes.data, n) == 0


def _distance_to_identity(G):
    """``||G - I||_F`` of Hermitian G from its upper triangle (zeros below), without a copy: the off-diagonal part
    counts twice. Its rounding (~sqrt(n u)) is far below the 1/2 it is compared with; a NaN or an inf gives NaN."""
    with np.errstate(all="ignore"):
        d = G.diagonal()
        v = float(2 * (np.vdot(G, G).real - np.vdot(d, d).real) + np.vdot(d - 1, d - 1).real)
    return max(v, 0.0) ** 0.5           # rounding may leave v a little below 0; max keeps a NaN (it is first)


def _invert_near_identity(R2, ch, n):
    """``R2 <- R2^{-1}`` in place for the second pass's upper-triangular R2 = I + E (cond <= sqrt(3)); False if
    trtri fails. Where ``||E||_F <= sqrt(u)`` -- every well-conditioned A, whose first pass is orthogonal to
    ~cond(A)^2 u -- the inverse is ``I - E``, exact to ``||E||^2 / (1 - ||E||) <= u / (1 - sqrt(u))`` (since
    ``(I + E)^{-1} = I - E + E^2 (I + E)^{-1}``): no trtri (n = 200: 0.6-0.9 ms of a 4.5 ms QR, measured
    2026-12-02). Otherwise LAPACK's trtri on one thread. ``||E||`` is measured on E itself: the diagonal's
    ``r_ii - 1`` is exact (Sterbenz: ``r_ii`` lies in [1/sqrt(2), sqrt(3/2)]), while ``||R2||^2 - ||diag||^2``
    would cancel to ~sqrt(n u), above sqrt(u)."""
    diag = R2.ravel()[::n + 1]          # a view of the diagonal
    diag -= 1                           # R2 <- E
    if float(np.vdot(R2, R2).real) <= _EPS[ch]:
        R2 *= -1                        # I - E
        diag += 1
        return True
    diag += 1                           # R2 again, exactly
    return _one_thread(_INV[ch], _CM, b"L", b"N", n, R2.ctypes.data, n) == 0   # reads C-order upper as lower


def cholesky_qr2(A):
    """``(Q, R)`` of a 2-D A (m >= n, float32/64, complex64/128) by CholeskyQR2 with the a-posteriori proof of the
    module docstring, or ``None`` where the proof fails (the caller then runs Householder). R's diagonal is real and
    positive. A is not modified.

    Pass 1, ``Q1 = A R1^{-1}``, is a trsm: backward stable row by row whatever cond(A). Pass 2 multiplies by the
    explicit inverse instead (a trmm; OpenBLAS's trmm ran 2-2.9x faster than its trsm here, 500x200 and 2000x500 on
    two threads): only once ``delta <= 1/2`` has proven ``cond(R2) = cond(Q1) <= sqrt(3)``, where the inverse's
    error is a small multiple of ``n u`` (Higham, *Accuracy and Stability*, Sec. 14.2) -- ``I - E`` itself where
    that is exact to u (:func:`_invert_near_identity`). The bounds of the module docstring still hold, and
    ``tests/backend/test_fast_qr.py`` checks them on inputs built to defeat it."""
    m, n = A.shape
    ch = _CH.get(A.dtype.char)
    u = _EPS.get(ch)
    if _LIB is None or ch is None or m < n or n == 0 or not within_hypothesis(m, n, u):
        return None
    _, trsm, trmm, _, one, _ = _F[ch]
    # An F-order A (LQ's A^H) is transposed into this copy: column-major syrk/trsm/trmm on it in place ran slower
    # (LQ 200x500 1.15x, 500x2000 1.06x the time; in one process, interleaved, 2026-12-04).
    Q = np.array(A, order="C", copy=True)
    R1 = _gram(Q, ch, m, n)
    if not _cholesky(R1, ch, n):
        return None
    trsm(_RM, _RIGHT, _UP, _NT, _NONUNIT, m, n, one, R1.ctypes.data, n, Q.ctypes.data, n)     # Q1 = A R1^{-1}
    R2 = _gram(Q, ch, m, n)
    if not _distance_to_identity(R2) <= 0.5 or not _cholesky(R2, ch, n):    # NaN fails too
        return None
    trmm(_RM, _LEFT, _UP, _NT, _NONUNIT, n, n, one, R2.ctypes.data, n, R1.ctypes.data, n)     # R = R2 R1
    if not _invert_near_identity(R2, ch, n):
        return None
    trmm(_RM, _RIGHT, _UP, _NT, _NONUNIT, m, n, one, R2.ctypes.data, n, Q.ctypes.data, n)     # Q = Q1 R2^{-1}
    return Q, R1


def qr(A):
    """Reduced QR of one 2-D square or deep matrix (m >= n; float32/64, complex64/128), the fastest proved way
    measured here (the backend partitions a wide one: ``NumPyBackend.qr``).

    Deep with ``m >= 2n`` (float64: from there CholeskyQR2's 4mn^2 level-3 flops beat Householder's 4mn^2 - 4n^3/3
    level-2-heavy ones, measured), or any ``m >= n`` up to :data:`_CHOL_COLS` columns (there Householder is mostly
    its level-2 panels): :func:`cholesky_qr2` on the caller's thread count, Householder if its proof fails.
    Householder is :func:`blocked_householder` from 64 columns, else LAPACK's geqrf + orgqr (``numpy.linalg.qr``)
    on :func:`householder_threads`."""
    m, n = A.shape
    if A.dtype.char in "dD" and (m >= 2 * n or n <= _CHOL_COLS[A.dtype.char]):
        fast = cholesky_qr2(A)
        if fast is not None:
            return fast
    if _LIB is not None and n >= _WY_MIN:
        out = blocked_householder(A, 128 if n >= _WY_WIDE[A.dtype.kind] else 64)
        if out is not None:
            return out
    return householder(A)


#: columns up to which CholeskyQR2 runs whatever the aspect ratio: square float64 80, 128, 200, 256 took 0.50, 0.67,
#: 0.82, 0.93x the Householder path's time, complex128 80 and 128 0.70 and 0.96x but 200 1.23x (in one process,
#: interleaved, AMD EPYC, 2 threads, 2026-12-03); m = 1.5n did better still (0.65-0.89x up to 320 columns)
_CHOL_COLS = {"d": 256, "D": 128}
_WY_MIN = 64        # columns: below, one panel is the whole matrix and geqrf + orgqr on one thread does as well
#: columns from which blocked Householder takes panels of 128 instead of 64. Complex128: 64 took 0.80-0.97x the
#: time from 600 to 1600 columns (square), 2000 1.17x; through ``md.qr`` 600², 700², 1000x800 and 1000² took
#: 0.91-0.93, 0.92, 0.90 and 0.93-1.01x the time of the old 512, LQ 1000² 0.98x (unchanged real cases: 0.97-1.03,
#: the noise; per-pair medians, in one process, interleaved, AMD EPYC with the SkylakeX kernel, 2 threads,
#: 2026-12-03). Real: 512 stays -- there blocked_householder alone read 0.88-0.96x with 64 at 1000 columns, but
#: ``md.qr`` 0.94-1.12x in three runs, which is no evidence either way
_WY_WIDE = {"f": 512, "c": 1800}     # by dtype kind: real, complex


def householder_threads(m, n, dtype, threads):
    """Threads for LAPACK's geqrf + orgqr: OpenBLAS threads their level-2 panels badly (500x200: 3.5 ms on one
    thread, 7.6 ms on two), so one thread below ~1000 columns' worth of trailing work (measured)."""
    return 1 if n < 512 else threads


def householder(A, mode="reduced"):
    """LAPACK Householder QR (``numpy.linalg.qr``, any stack) on :func:`householder_threads` threads; R's diagonal
    may be negative (the caller's gauge fixes its phases)."""
    user = get_threads()
    t = user if user is None or A.ndim < 2 else householder_threads(*A.shape[-2:], A.dtype, user)
    with blas_threads(t):
        return np.linalg.qr(A, mode=mode)


def blocked_householder(A, nb=64):
    """Householder QR in compact-WY blocks (Schreiber & Van Loan): each panel of ``nb`` columns by LAPACK's recursive
    ``geqrt3`` on one thread (it returns the block reflector ``I - V T V^H``), every trailing update and the
    accumulation of Q as two large gemms and one small trmm on all threads. The same arithmetic as geqrf + orgqr
    (Householder, backward stable), but OpenBLAS's geqrf blocks by 32 with level-2 panels and threads poorly.
    The factors come out in matdiff's gauge (diag R real, >= 0): Q is accumulated from ``[D; 0]`` instead of
    ``[I; 0]``, so the node's gauge has nothing left to rotate. Q stays in the column-major order it was
    accumulated in (LAPACK's, as torch.linalg.qr returns it): its copy to row-major cost 7 of 66 ms at 1000x1000;
    without it ``md.qr``'s forward took 0.89x (300x300), 0.93-0.94x (1000x1000, 1000x600) the time and its backward
    1.00-1.02x (in one process, interleaved, 2026-12-04). ``None`` if LAPACKE refuses a panel (NaN)."""
    ch = _CH[A.dtype.char]
    gemm, trmm, geqrt3, (one, minus, zero) = _W[ch]
    cplx = A.dtype.kind == "c"
    m, n = A.shape
    W = np.array(A, order="F", copy=True)
    blocks, item = [], W.itemsize
    for j in range(0, n, nb):
        b, mj = min(nb, n - j), m - j
        T = np.zeros((b, b), dtype=A.dtype, order="F")
        with blas_threads(1):
            info = geqrt3(_CM, mj, b, W.ctypes.data + (j * m + j) * item, m, T.ctypes.data, b)
        if info:                        # LAPACKE refuses a NaN in the panel: the caller runs geqrf instead
            return None
        V = np.array(W[j:, j:j + b], order="F")           # the unit lower-trapezoidal reflectors, explicit
        V[:b] = np.tril(V[:b], -1) + np.eye(b, dtype=V.dtype)
        blocks.append((j, b, V, T))
        if j + b < n:                   # C <- (I - V T V^H)^H C = C - V T^H (V^H C)
            _apply(gemm, trmm, W.ctypes.data + ((j + b) * m + j) * item, m, mj, n - j - b, V, T, True, cplx, one,
                   minus, zero)
    R = np.triu(W[:n])
    d = R.diagonal().copy()
    D = phase(d)                        # already in matdiff's gauge: R <- D^H R, and Q D by starting from [D; 0]
    R *= D.conj()[:, None]
    R[np.arange(n), np.arange(n)] = np.abs(d)       # exactly real (conj(D) d may keep an imaginary rounding)
    Q = np.zeros((m, n), dtype=A.dtype, order="F")
    Q[np.arange(n), np.arange(n)] = D               # Q D = H_1 ... H_k [D; 0]: the gauge costs no pass over Q
    for j, b, V, T in reversed(blocks):     # Q <- H_j Q on rows and columns from j: C - V T (V^H C)
        _apply(gemm, trmm, Q.ctypes.data + (j * m + j) * item, m, m - j, n - j, V, T, False, cplx, one, minus, zero)
    return Q, R


def phase(d):
    """``d / |d|`` entrywise, 1 where d == 0 (real d: +-1, a -0.0 giving -1): the gauge's unit factors --
    ``NumPyBackend.phase``, and the rotation :func:`blocked_householder` applies before it returns."""
    if d.dtype.kind != "c":
        return np.copysign(1.0, d).astype(d.dtype, copy=False)
    a = np.abs(d)
    a[a == 0] = 1
    D = d / a
    D[d == 0] = 1
    return D


def _apply(gemm, trmm, C, ldc, mc, nc, V, T, adjoint, cplx, one, minus, zero):
    """``C <- C - V op(T) (V^H C)`` for column-major C (mc x nc at address C, leading dimension ldc);
    op(T) = T^H if ``adjoint``."""
    b = T.shape[0]
    Y = np.empty((b, nc), dtype=V.dtype, order="F")
    gemm(_CM, _CT if cplx else _TR, _NT, b, nc, mc, one, V.ctypes.data, mc, C, ldc, zero, Y.ctypes.data, b)
    trmm(_CM, _LEFT, _UP, (_CT if cplx else _TR) if adjoint else _NT, _NONUNIT, b, nc, one, T.ctypes.data, b,
         Y.ctypes.data, b)
    gemm(_CM, _NT, _NT, mc, nc, b, minus, V.ctypes.data, mc, Y.ctypes.data, b, one, C, ldc)


_bind()
