"""``b.each_matrix``: a large stack of small matrices runs in parts on NumPy's threads, with the very numbers of the
whole stack; small stacks, a check's worker threads and one BLAS thread never split; a part's error surfaces."""
import threading

import numpy as np
import pytest

import matdiff as md
from matdiff.backend import fast_qr, get, stacks
from matdiff.testing import leaf, rand

pytestmark = pytest.mark.skipif(not fast_qr.available() or (fast_qr.get_threads() or 1) < 2,
                                reason="needs NumPy's bundled OpenBLAS on 2 or more threads")

BIG = (256, 32, 16)          # complex128: 8.4e6 work units, above _MIN_WORK (float64 needs 512 of them)


@pytest.fixture
def whole(monkeypatch):
    """A switch that makes every stack run whole (the reference the split must equal)."""
    def off():
        monkeypatch.setattr(stacks, "parts", lambda arrays: 1)
    return off


def _run(kind, shape, dtype, fused, seeds):
    A = leaf(shape, dtype, 3)
    outs = list((md.qr if kind == "qr" else md.lq)(A, fused=fused)[:2])
    (g,) = md.grad(outs, [A], seeds(outs))
    _, tangents = md.jvp(lambda X: tuple((md.qr if kind == "qr" else md.lq)(X, fused=fused)[:2]), [A.data],
                         [rand(shape, dtype, 9)])
    return [o.data for o in outs] + [g] + [t for t in tangents]


@pytest.mark.parametrize("kind, shape", [("qr", BIG), ("lq", BIG[:1] + BIG[:0:-1]), ("qr", (256, 16, 32)),
                                         ("lq", BIG)])
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("fused", [False, True])
def test_a_split_stack_gives_the_whole_stacks_numbers(kind, shape, dtype, fused, whole):
    """Forward, vjp and jvp of QR and LQ (square/deep/wide, node and graph) on parts equal the whole stack's."""
    if dtype == np.float64:
        shape = (512,) + shape[1:]
    assert stacks.parts([np.zeros(shape, dtype)]) >= 2          # the case does split
    seeds = lambda outs: [rand(o.shape, dtype, 5 + i) for i, o in enumerate(outs)]      # noqa: E731
    split = _run(kind, shape, dtype, fused, seeds)
    whole()
    ref = _run(kind, shape, dtype, fused, seeds)
    for s, r in zip(split, ref):
        np.testing.assert_allclose(s, r, rtol=1e-13, atol=1e-13)


def test_an_unused_output_passes_none_to_every_part(whole):
    """Qbar = None (only R used) reaches every part as None, and the parts' gradients join."""
    A = leaf(BIG, np.complex128, 4)
    (g,) = md.grad([md.qr(A).R], [A], [rand((256, 16, 16), np.complex128, 6)])
    whole()
    (ref,) = md.grad([md.qr(A).R], [A], [rand((256, 16, 16), np.complex128, 6)])
    np.testing.assert_allclose(g, ref, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("shape, dtype", [((100, 8, 4), np.complex128), ((1000, 8, 4), np.float64),
                                          ((64, 32, 16), np.complex128), ((8, 128, 64), np.float64),
                                          ((32, 16), np.complex128)])
def test_small_stacks_large_matrices_and_single_matrices_run_whole(shape, dtype):
    assert stacks.parts([np.zeros(shape, dtype)]) == 1


def test_broadcast_operands_worker_threads_and_one_blas_thread_run_whole():
    big = np.zeros(BIG, np.complex128)
    assert stacks.parts([big, np.zeros((32, 16), np.complex128)]) == 1        # a 2-D operand shared by the stack
    assert stacks.parts([big, None]) >= 2
    assert stacks.parts([np.zeros(BIG, np.float64)]) == 1                    # float64 256 x 32x16: too little work
    got = []
    t = threading.Thread(target=lambda: got.append(stacks.parts([big])))
    t.start()
    t.join()
    assert got == [1]                                                         # gradcheck's chunk threads
    with fast_qr.blas_threads(1):
        assert stacks.parts([big]) == 1


def test_an_error_in_a_part_surfaces_after_every_part_ended():
    b = get("numpy")
    ran = []

    def rule(b, X):
        if X[0, 0, 0] == 1:                      # only the second part fails
            raise ValueError("part failed")
        ran.append(X.shape[0])
        return X

    X = np.zeros(BIG, np.complex128)
    X[128:] = 1
    with pytest.raises(ValueError, match="part failed"):
        b.each_matrix(rule, X)
    assert ran == [128]


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:os.fork")        # JAX's at-fork hook warns where the bridge tests imported it
def test_a_forked_child_splits_with_threads_of_its_own():
    """The parent's pool has threads; a fork copies none of them -- without a pool of its own the child's split
    would wait forever for a part no thread runs."""
    import multiprocessing as mp
    X = rand(BIG, np.complex128, 8)
    md.qr(X)                                             # the parent's pool now exists, with its thread
    assert stacks._POOL is not None
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as pool:
        got = pool.apply_async(_child_split, (X,)).get(timeout=60)
    np.testing.assert_allclose(got, md.qr(X).R.data, rtol=1e-13, atol=1e-13)


def _child_split(X):
    assert stacks.parts([X]) >= 2
    return md.qr(X).R.data


_SPIN_CHILD = r"""
import os, sys, threading
import numpy as np
import matdiff as md
from matdiff.backend import fast_qr
rng = np.random.default_rng(0)
G = rng.standard_normal((600, 600))
want, threads, before = G @ G, fast_qr.get_threads(), fast_qr.spin_timeout()
worker = threading.Thread(target=fast_qr.short_spin)       # off the main thread: nothing
worker.start(); worker.join()
assert fast_qr.spin_timeout() == before, "a worker thread changed OpenBLAS"
busy = threading.Event()
other = threading.Thread(target=busy.wait)                 # a user's thread, maybe inside BLAS: wait for it to end
other.start()
fast_qr.short_spin()
assert fast_qr.spin_timeout() == before, "changed while another thread ran"
busy.set(); other.join()
if sys.argv[1] == "split":
    md.qr(rng.standard_normal((256, 32, 16)) + 1j * rng.standard_normal((256, 32, 16)))   # a split stack
else:
    assert md.gradcheck(lambda A: tuple(md.qr(A)), [md.tensor(rng.standard_normal((6, 3)), requires_grad=True)]).ok
print(before, fast_qr.spin_timeout(), "OPENBLAS_THREAD_TIMEOUT" in os.environ, fast_qr.get_threads() == threads,
      bool(np.array_equal(G @ G, want)))
"""


@pytest.mark.parametrize("user", [None, "24"])
@pytest.mark.parametrize("trigger", ["split", "gradcheck"])
def test_the_first_split_shortens_openblas_spin_unless_the_user_set_it(user, trigger):
    """OpenBLAS's idle threads spin ~0.1 s after a threaded call, on the cores a split (or a check's chunk threads)
    needs: the first split or check sets 2^SPIN cycles and restarts them -- the variable not left behind, the
    thread count and the numbers unchanged; a user's own OPENBLAS_THREAD_TIMEOUT is left alone. In a process of its
    own (the setting is process-wide)."""
    import os
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    if user:
        env["OPENBLAS_THREAD_TIMEOUT"] = user
    out = subprocess.run([sys.executable, "-c", _SPIN_CHILD, trigger], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    before, after, leaked, same_threads, same_numbers = out.stdout.split()
    assert (int(before), int(after)) == ((int(user),) * 2 if user else (0, fast_qr.SPIN))
    assert leaked == ("True" if user else "False") and same_threads == "True" and same_numbers == "True"
