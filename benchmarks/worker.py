"""One benchmark process for one library: ``python benchmarks/worker.py LIB CONFIG_JSON`` prints one JSON object.

LIB is ``matdiff``, ``torch`` or ``jax``. Each library runs in a process of its own (PyTorch's MKL next to
NumPy's OpenBLAS in one process slowed NumPy 6-27x through thread-pool contention), with the thread count
set by the runner through OMP/OPENBLAS/MKL_NUM_THREADS. Times are medians over ``reps`` repetitions.
"""
import json
import sys
import time
import tracemalloc

import numpy as np


def median_time(f, reps, warmup=1):
    for _ in range(warmup):
        f()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts)), [float(x) for x in ts]


HVP_CASES = [((500, 200), "float64"), ((200, 500), "float64"), ((300, 300), "complex128")]


def hvp_problem(shape, dtype):
    """The Hessian-vector product benchmarked: L = Re sum(WQ ∘ Q) + Re sum(WR ∘ R ∘ R), A = QR, direction V."""
    k = min(shape)
    return (data(shape, dtype, 20), data((shape[0], k), dtype, 21), data((k, shape[1]), dtype, 22),
            data(shape, dtype, 23))


def hvp_key(shape, dtype):
    return f"hvp_qr_{dtype}_{'x'.join(map(str, shape))}"


def data(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape)
    if dtype == "complex128":
        a = a + 1j * rng.standard_normal(shape)
    return a.astype(dtype)


# -- matdiff ---------------------------------------------------------------------------------------------
def run_matdiff(cfg):
    import matdiff as md
    from matdiff.backend import get
    try:
        from matdiff.ops.factorization import gauge as _gauge
        from matdiff.ops.qr import qr_vjp as qr_backward
    except ImportError:                   # a tree from before ops/qr.py (benchmarks/instructions.py --tree)
        from matdiff.ops.qr_rules import _gauge, qr_backward

    dev = cfg.get("device", "cpu")
    b = get("cupy" if dev == "gpu" else "numpy")
    sync = (lambda: b.xp.cuda.Device().synchronize()) if dev == "gpu" else (lambda: None)
    out, reps = {}, cfg["reps"]
    for case in cfg["cases"]:
        kind, variant, dtype, shape = case["kind"], case["variant"], case["dtype"], tuple(case["shape"])
        a = b.from_host(data(shape, dtype, 0))
        A = md.tensor(a, requires_grad=True)
        fn = md.qr if kind == "qr" else md.lq
        outs = list(fn(A, fused=(variant == "fused"))[:2])
        seeds = [b.from_host(data(o.shape, dtype, 1 + i)) for i, o in enumerate(outs)]

        def bwd():
            md.grad(outs, [A], seeds, retain_graph=True)
            sync()

        def fwd():
            with md.no_grad():
                fn(a, fused=(variant == "fused"))
            sync()

        out[case["name"]] = {"backward": median_time(bwd, reps)[0], "forward": median_time(fwd, reps)[0]}
    if cfg.get("extras") == "tiny":           # the GPU run: the 8x4 tape on the device only
        out.update(_tiny(md, b, sync, max(reps, 200)))
    elif cfg.get("extras"):
        out.update(_matdiff_extras(cfg, md, b, _gauge, qr_backward))
    return out


def engine_workloads(md):
    """The engine's own cost, as ``run.py`` (times) and ``instructions.py`` (callgrind) measure it: an 8x4 QR
    forward + backward through the tape; a chain of 200 negations of a 1x1 matrix, forward + backward; and NumPy's
    own 400 negations, which the per-node figure subtracts."""
    a, gq, gr = data((8, 4), "float64", 0), data((8, 4), "float64", 1), data((4, 4), "float64", 2)
    one = np.ones((1, 1))

    def engine():
        A = md.tensor(a, requires_grad=True)
        Q, R = md.qr(A)
        md.backward([Q, R], [gq, gr])

    def chain():
        X = md.tensor(one, requires_grad=True)
        Y = X
        for _ in range(200):
            Y = -Y
        md.backward([Y], [one])

    def raw():
        y = one
        for _ in range(400):
            y = -y

    return engine, chain, raw


def node_overhead(chain, raw, rounds=40, reps=5):
    """The engine's own cost per node, in seconds: (chain - raw) / 200, with the chain and NumPy's raw negations timed
    back to back in each of ``rounds`` short rounds (best of ``reps`` each), so that the machine's state -- on these
    shared machines it moves 1.4-1.9x between minutes, and within a minute -- is the same for both terms.

    Returns ``(quiet, median)`` over the rounds. ``quiet``, the minimum, is the figure of the code with nobody else
    on the machine: other work only adds time, so the least is the estimate least biased by it (timeit's
    convention; Chen & Revels 2016, "Robust benchmarking in noisy environments"). ``median`` is what a typical
    minute gives; run.py reports both and checks its target against ``quiet``.
    """
    for _ in range(10):
        chain()
    per_round = []
    for _ in range(rounds):
        c = min(median_time(chain, reps, warmup=1)[1])
        r = min(median_time(raw, reps, warmup=1)[1])
        per_round.append((c - r) / 200)
    return min(per_round), float(np.median(per_round))


def _tiny(md, b, sync, reps):
    """8x4 QR forward + backward through the tape, on the backend's device."""
    a, gq, gr = (b.from_host(data(s, "float64", i)) for i, s in enumerate([(8, 4), (8, 4), (4, 4)]))

    def engine():
        A = md.tensor(a, requires_grad=True)
        Q, R = md.qr(A)
        md.backward([Q, R], [gq, gr])
        sync()

    return {"tiny_qr_engine": median_time(engine, reps, warmup=20)[0]}


def _matdiff_extras(cfg, md, b, _gauge, qr_backward):
    reps = cfg["reps"]
    res = {}
    n = cfg.get("gemm_n", 2000)
    x, y = np.random.default_rng(0).standard_normal((2, n, n))
    t, _ = median_time(lambda: x @ y, reps)
    res["dgemm_gflops"] = 2 * n ** 3 / t / 1e9
    # tape overhead on a tiny QR: engine vs the bare rule (no Tensors, no tape)
    a, gq, gr = data((8, 4), "float64", 0), data((8, 4), "float64", 1), data((4, 4), "float64", 2)
    engine, chain, raw = engine_workloads(md)

    def bare():
        Q, R = _gauge(b, *b.qr(a))
        qr_backward(b, Q, R, gq, gr)

    res["tiny_qr_engine"] = median_time(engine, max(reps, 200), warmup=20)[0]
    res["tiny_qr_bare"] = median_time(bare, max(reps, 200), warmup=20)[0]
    res["node_overhead"], res["node_overhead_median"] = node_overhead(chain, raw)
    # full-Jacobian gradcheck of QR 64x32
    gc_shape = tuple(cfg.get("gc_shape", (64, 32)))
    for dtype in ("float64", "complex128"):
        A = md.tensor(data(gc_shape, dtype, 3), requires_grad=True)
        oks = []
        res[f"gradcheck_qr64x32_{dtype}"] = median_time(
            lambda: oks.append(md.gradcheck(lambda A: tuple(md.qr(A)), [A]).ok), 3)[0]
        res[f"gradcheck_qr64x32_{dtype}_ok"] = all(oks)
    # Hessian-vector products through QR (create_graph=True), and the first-order gradient of the same loss
    for shape, dtype in cfg.get("hvp_cases", HVP_CASES):
        a, WQ, WR, V = hvp_problem(tuple(shape), dtype)

        def loss(A):
            Q, R = md.qr(A)
            return md.sum(md.real(Q * WQ)) + md.sum(md.real(R * R * WR))

        def first():
            A = md.tensor(a, requires_grad=True)
            md.grad(loss(A), [A])

        def hvp():
            A = md.tensor(a, requires_grad=True)
            g, = md.grad(loss(A), [A], create_graph=True)
            md.grad([g], [A], [V])

        res[hvp_key(shape, dtype)] = {"hvp": median_time(hvp, reps)[0], "first": median_time(first, reps)[0]}
    # peak traced memory during a 2000x500 backward, and whether saved values are released after it
    A = md.tensor(data(tuple(cfg.get("mem_shape", (2000, 500))), "float64", 0), requires_grad=True)
    Q, R = md.qr(A)
    seeds = [data(Q.shape, "float64", 1), data(R.shape, "float64", 2)]
    node = R.node
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    md.backward([Q, R], seeds)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    res["bwd_peak_over_A"] = peak / A.data.nbytes
    res["saved_released"] = node.freed and node.ctx is None
    return res


# -- PyTorch ---------------------------------------------------------------------------------------------
def run_torch(cfg):
    import torch

    dev = "cuda" if cfg.get("device") == "gpu" else "cpu"
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    out, reps = {}, cfg["reps"]
    for case in cfg["cases"]:
        if case["variant"] != "graph":          # PyTorch has one QR; compare it with both matdiff variants
            continue
        kind, dtype, shape = case["kind"], case["dtype"], tuple(case["shape"])
        A = torch.tensor(data(shape, dtype, 0), device=dev, requires_grad=True)
        if kind == "qr":
            outs = torch.linalg.qr(A)
        else:                                   # no torch LQ: L, Q = R^H, Q^H of QR(A^H)
            Qr, Rr = torch.linalg.qr(A.mH)
            outs = (Rr.mH, Qr.mH)
        seeds = [torch.tensor(data(tuple(o.shape), dtype, 1 + i), device=dev) for i, o in enumerate(outs)]

        def bwd():
            torch.autograd.grad(outs, [A], seeds, retain_graph=True)
            sync()

        def fwd():
            with torch.no_grad():
                torch.linalg.qr(A)
            sync()

        out[case["name"].replace("_graph", "")] = {"backward": median_time(bwd, reps)[0],
                                                   "forward": median_time(fwd, reps)[0]}
    if cfg.get("extras"):
        a, gq, gr = (torch.tensor(data(s, "float64", i), device=dev) for i, s in enumerate([(8, 4), (8, 4), (4, 4)]))

        def eager():
            A = a.clone().requires_grad_(True)
            Q, R = torch.linalg.qr(A)
            torch.autograd.backward([Q, R], [gq, gr])
            sync()

        out["tiny_qr_engine"] = median_time(eager, max(reps, 200), warmup=20)[0]
    if cfg.get("extras") and cfg.get("extras") != "tiny":     # the CPU run: gradcheck and HVP too
        for dtype in ("float64", "complex128"):
            A = torch.tensor(data(tuple(cfg.get("gc_shape", (64, 32))), dtype, 3), requires_grad=True)
            oks = []
            out[f"gradcheck_qr64x32_{dtype}"] = median_time(lambda: oks.append(torch.autograd.gradcheck(
                lambda A: torch.linalg.qr(A), (A,), fast_mode=False)), 3)[0]
            out[f"gradcheck_qr64x32_{dtype}_ok"] = all(oks)
        for shape, dtype in cfg.get("hvp_cases", HVP_CASES):        # double backward through torch.linalg.qr
            a, WQ, WR, V = (torch.tensor(x) for x in hvp_problem(tuple(shape), dtype))

            def loss(A):
                Q, R = torch.linalg.qr(A)
                return (Q * WQ).real.sum() + (R * R * WR).real.sum()

            def first():
                A = a.clone().requires_grad_(True)
                torch.autograd.grad(loss(A), A)

            def hvp():
                A = a.clone().requires_grad_(True)
                g, = torch.autograd.grad(loss(A), A, create_graph=True)
                torch.autograd.grad(g, A, V)

            out[hvp_key(shape, dtype)] = {"hvp": median_time(hvp, reps)[0], "first": median_time(first, reps)[0]}
    return out


# -- forward alone -----------------------------------------------------------------------------------------
FORWARD = [((64, 32), "float64"), ((500, 200), "float64"), ((2000, 500), "float64"), ((300, 300), "float64"),
           ((1000, 1000), "float64"), ((2000, 2000), "float64"), ((200, 500), "float64"), ((500, 2000), "float64"),
           ((500, 200), "complex128"), ((300, 300), "complex128"), ((1000, 1000), "complex128"),
           ((200, 500), "complex128")]


def forward_key(kind, shape, dtype):
    return f"fwd_{kind}_{dtype}_{'x'.join(map(str, shape))}"


def run_forward(lib, cfg):
    """The user's forward alone, ``md.qr(A)`` / ``md.lq(A)`` under no_grad (gauge included) against
    ``torch.linalg.qr`` (of A^H for LQ: torch has none): the median of ``reps`` calls per case."""
    out, reps = {}, cfg["reps"]
    if lib == "torch":
        import torch
        fns = {"qr": torch.linalg.qr, "lq": lambda a: torch.linalg.qr(a.mH)}
        conv, ctx = torch.tensor, torch.no_grad
    else:
        import matdiff as md
        fns, conv, ctx = {"qr": md.qr, "lq": md.lq}, np.asarray, md.no_grad
    for shape, dtype in cfg.get("forward", FORWARD):
        a = conv(data(tuple(shape), dtype, 0))
        for kind in ("qr", "lq"):
            with ctx():
                out[forward_key(kind, shape, dtype)] = median_time(lambda: fns[kind](a), reps)[0]
    return out


# -- JAX -------------------------------------------------------------------------------------------------
def run_jax(cfg):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    out, reps = {}, cfg["reps"]
    for case in cfg["cases"]:
        if case["variant"] != "graph":
            continue
        kind, dtype, shape = case["kind"], case["dtype"], tuple(case["shape"])
        A = jnp.asarray(data(shape, dtype, 0))
        if kind == "qr":
            def f(a):
                return tuple(jnp.linalg.qr(a))
        else:                                   # no jax LQ: L, Q = R^H, Q^H of QR(A^H)
            def f(a):
                Qr, Rr = jnp.linalg.qr(a.conj().swapaxes(-1, -2))
                return Rr.conj().swapaxes(-1, -2), Qr.conj().swapaxes(-1, -2)
        try:
            outs, vjp = jax.vjp(f, A)
            seeds = tuple(jnp.asarray(data(tuple(o.shape), dtype, 1 + i)) for i, o in enumerate(outs))
            vjp_j = jax.jit(vjp)
            t, _ = median_time(lambda: vjp_j(seeds)[0].block_until_ready(), reps)
            out[case["name"].replace("_graph", "")] = {"backward": t}
        except Exception as e:              # e.g. wide QR: JAX has no derivative for m < n
            out[case["name"].replace("_graph", "")] = {"error": f"{type(e).__name__}: {str(e)[:80]}"}
    return out


if __name__ == "__main__":
    lib, cfg = sys.argv[1], json.loads(sys.argv[2])
    if cfg.get("forward_only"):
        print(json.dumps(run_forward(lib, cfg)))
        sys.exit(0)
    print(json.dumps({"matdiff": run_matdiff, "torch": run_torch, "jax": run_jax}[lib](cfg)))
