"""matdiff benchmarks: ``python benchmarks/run.py [--quick] [--threads 2] [--rounds 3] [--reps 5] [--gpu]``.

Prints a table and writes JSON (default ``benchmarks/results.json``). Every library runs in processes of its
own with the same thread count (OMP/OPENBLAS/MKL_NUM_THREADS); rounds alternate the libraries so machine
noise hits them alike; each figure is the median over rounds x reps; only same-run ratios are meaningful.
``--unset-openblas-env`` drops OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE for the worker processes (and says so).
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIG = [(2000, 500), (1000, 1000), (500, 2000), (256, 32, 16), (1000, 8, 4)]
QUICK = [(40, 10), (20, 20), (10, 40), (8, 6, 4)]
GPU = [(4096, 4096), (8192, 2048), (4096, 64, 32)]


def cases(shapes, dtypes=("float64", "complex128")):
    out = []
    for kind in ("qr", "lq"):
        for dtype in dtypes:
            for shape in shapes:
                for variant in ("graph", "fused"):
                    name = f"{kind}_{variant}_{dtype}_{'x'.join(map(str, shape))}"
                    out.append(dict(name=name, kind=kind, variant=variant, dtype=dtype, shape=list(shape)))
    return out


def nominal_flops(kind, shape, dtype):
    """Real flops of the paper's formulas as written (Eq 3 / 9-10 / 17 / Prop 3), x4 for complex."""
    *batch, m, n = shape
    if kind == "lq":
        m, n = n, m                      # LQ of A is QR of A^H
    if m >= n:
        f = 5 * m * n * n + 2 * n ** 3
    else:
        f = 7 * m ** 3 + 4 * m * m * (n - m)
    for b in batch:
        f *= b
    return f * (4 if dtype == "complex128" else 1)


def worker(lib, cfg, env):
    r = subprocess.run([sys.executable, str(HERE / "worker.py"), lib, json.dumps(cfg)], capture_output=True,
                       text=True, env=env, timeout=1800)
    if r.returncode != 0:
        return {"error": (r.stderr or r.stdout).strip().splitlines()[-1][:200]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def available(mod):
    return subprocess.run([sys.executable, "-c", f"import {mod}"], capture_output=True).returncode == 0


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    return None if not xs else (xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2)


LEAST = {"node_overhead"}   # quiet-machine figures: the least over rounds (see worker.node_overhead)


def merge(samples):
    """Median over rounds of every numeric leaf (the least for the keys in ``LEAST``); booleans must hold in every
    round."""
    keys = {k for s in samples for k in s}
    out = {}
    for k in keys:
        vals = [s.get(k) for s in samples if k in s]
        if all(isinstance(v, dict) for v in vals):
            out[k] = merge(vals)
        elif all(isinstance(v, bool) for v in vals):
            out[k] = all(vals)
        elif k in LEAST and all(isinstance(v, (int, float)) for v in vals):
            out[k] = min(vals)
        elif all(isinstance(v, (int, float)) for v in vals):
            out[k] = median(vals)
        else:
            out[k] = vals[-1]
    return out


def thread_env(env, threads):
    return dict(env, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))


def forward_section(env, threads, rounds, reps, peers, quick):
    """The forward alone (md.qr / md.lq under no_grad against torch.linalg.qr), in many short rounds that alternate
    matdiff on ``threads``, PyTorch on ``threads`` and matdiff on one thread; the figures are medians over rounds of
    the times and of the *per-round* ratios (each ratio taken within a round, where the machine is the same)."""
    cfg = dict(forward_only=True, reps=reps)
    if quick:
        cfg["forward"] = [[[12, 6], "float64"], [[6, 12], "complex128"]]
    runs = [("matdiff", threads), ("matdiff", 1)] + [("torch", threads)] * ("torch" in peers)
    got = {r: [] for r in runs}
    for i in range(rounds):
        print(f"forward round {i + 1}/{rounds} ...", file=sys.stderr, flush=True)
        for lib, t in runs[i % len(runs):] + runs[:i % len(runs)]:      # rotate who goes first
            got[(lib, t)].append(worker(lib, cfg, thread_env(env, t)))
    for (lib, t), rs in got.items():
        for r in rs:
            if "error" in r:
                print(f"forward {lib} on {t} threads failed: {r['error']}", file=sys.stderr)
    keys = sorted({k for r in got[runs[0]] for k, v in r.items() if isinstance(v, float)})
    out = {}
    for k in keys:
        row = {"matdiff": median([r.get(k) for r in got[runs[0]]]), "matdiff_1thread": median(
            [r.get(k) for r in got[runs[1]]]), "one_over_two_threads": median(
            [_ratio(a.get(k), b.get(k)) for a, b in zip(got[runs[1]], got[runs[0]])])}
        if len(runs) > 2:
            row["torch"] = median([r.get(k) for r in got[runs[2]]])
            row["over_torch"] = median([_ratio(a.get(k), b.get(k)) for a, b in zip(got[runs[0]], got[runs[2]])])
        out[k] = row
    return out


def forward_table(fwd, threads):
    head = (f"{'forward alone (gauge included)':<34}{'ms':>9}{'torch ms':>10}{'/torch':>8}{'1-thr ms':>10}"
            f"{'1/' + str(threads) + ' thr':>9}")
    lines = [head, "-" * len(head)]
    for k, r in fwd.items():
        lines.append(f"{k[4:]:<34}{_ms(r['matdiff']):>9}{_ms(r.get('torch')):>10}{_fmt(r.get('over_torch')):>8}"
                     f"{_ms(r['matdiff_1thread']):>10}{_fmt(r['one_over_two_threads']):>9}")
    lines.append("ratios: medians of per-round ratios; 1/N thr = matdiff on one thread / on N (>= 1: not slower on N)")
    return lines


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes, one round, no peers (the smoke test)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--peers", default="torch,jax")
    p.add_argument("--gpu", action="store_true", help="also the GPU section (CuPy vs torch.cuda)")
    p.add_argument("--unset-openblas-env", action="store_true")
    p.add_argument("--forward-rounds", type=int, default=12, help="short rounds of the forward-alone section")
    p.add_argument("--forward-only", action="store_true", help="only the forward-alone section")
    p.add_argument("--out", default=str(HERE / "results.json"))
    a = p.parse_args(argv)
    env = thread_env(dict(os.environ, PYTHONPATH=str(HERE.parent)), a.threads)
    note = "default environment"
    if a.unset_openblas_env:
        env.pop("OPENBLAS_CORETYPE", None)
        env.pop("OPENBLAS_L2_SIZE", None)
        note = "OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for the workers"
    shapes = QUICK if a.quick else BIG
    rounds, reps = (1, 2) if a.quick else (a.rounds, a.reps)
    peers = [] if a.quick else [x for x in a.peers.split(",") if x and available(x)]
    fwd = forward_section(env, a.threads, 1 if a.quick else a.forward_rounds, 1 if a.quick else 3, peers, a.quick)
    if a.forward_only:
        rounds = 0
    cfg = dict(cases=cases(shapes), reps=reps, extras=True)
    if a.quick:
        cfg.update(gc_shape=[8, 4], mem_shape=[200, 50], gemm_n=200, hvp_cases=[[[10, 4], "float64"]])
    samples = {lib: [] for lib in ["matdiff"] + peers}
    for r in range(rounds):
        for lib in samples:                   # alternate libraries within every round
            print(f"round {r + 1}/{rounds}: {lib} ...", file=sys.stderr, flush=True)
            samples[lib].append(worker(lib, cfg, env))
    res = {lib: merge(s) for lib, s in samples.items() if s}
    if a.gpu:
        gcfg = dict(cases=cases(GPU), reps=reps, device="gpu")
        res["gpu"] = {lib: worker(lib, gcfg, env) for lib in ["matdiff"] + (["torch"] if "torch" in peers else [])}
    meta = dict(date=datetime.date.today().isoformat(), machine=cpu_model() or platform.machine(),
                cpus=os.cpu_count(), threads=a.threads, env=note, rounds=rounds, reps=reps,
                python=sys.version.split()[0])
    meta["versions"] = versions(["matdiff"] + peers, env)
    res["forward"] = fwd
    body = [] if a.forward_only else table(res, shapes, peers) + [""]
    report = dict(meta=meta, results=res, table=body + forward_table(fwd, a.threads),
                  targets=targets(res, peers, a.forward_only))
    Path(a.out).write_text(json.dumps(report, indent=1, default=str))
    print(f"# matdiff benchmarks, {meta['date']}, {meta['machine']}, {meta['cpus']} cpus, {a.threads} threads, {note}; "
          f"medians of {rounds} rounds x {reps} reps (forward: {a.forward_rounds} rounds x 3)\n# {meta['versions']}")
    for line in report["table"] + [""] + report["targets"]:
        print(line)
    print(f"\nwrote {a.out}")
    return 0


def _ms(x):
    return "-" if x is None else f"{x * 1e3:9.2f}"


def _ratio(a, b):
    return None if a is None or b in (None, 0) else a / b


def table(res, shapes, peers):
    md_ = res["matdiff"]
    gemm = md_.get("dgemm_gflops")
    head = f"{'case':<34}{'bwd ms':>10}{'fwd ms':>10}{'bwd/fwd':>8}{'GFLOP/s':>9}{'%limit':>8}" + "".join(
        f"{p + ' ms':>11}{'/' + p:>8}{'f+b/' + p:>10}" for p in peers)
    lines = [head, "-" * len(head)]
    for c in cases(shapes):
        r = md_.get(c["name"], {})
        bwd, fwd = r.get("backward"), r.get("forward")
        gf = None if bwd is None else nominal_flops(c["kind"], c["shape"], c["dtype"]) / bwd / 1e9
        pct = None if gf is None or not gemm else 100 * gf / gemm
        row = f"{c['name']:<34}{_ms(bwd):>10}{_ms(fwd):>10}{_fmt(_ratio(bwd, fwd)):>8}{_fmt(gf, 1):>9}{_fmt(pct, 0):>8}"
        for p in peers:
            pr = res[p].get(c["name"].replace("_" + c["variant"], ""), {})
            fb = _ratio(_sum(bwd, fwd), _sum(pr.get("backward"), pr.get("forward")))
            row += f"{_ms(pr.get('backward')):>11}{_fmt(_ratio(bwd, pr.get('backward'))):>8}{_fmt(fb):>10}" \
                if "error" not in pr else f"{'n/a':>11}{'':>18}"
        lines.append(row)
    lines.append(f"dgemm (same process): {_fmt(gemm, 1)} GFLOP/s; GFLOP/s above = nominal flops of the paper's "
                 "formulas / time; %limit = the flop-count limit (nominal flops at that dgemm rate) / time")
    ov = md_.get("tiny_qr_engine")
    lines.append(f"8x4 QR fwd+bwd: engine {_us(ov)} us, bare rule {_us(md_.get('tiny_qr_bare'))} us"
                 + "".join(f", {p} eager {_us(res[p].get('tiny_qr_engine'))} us" for p in peers if p == "torch")
                 + f"; engine overhead per node {_us(md_.get('node_overhead'))} us (quiet machine: the least over all "
                 f"rounds; the median round {_us(md_.get('node_overhead_median'))} us)")
    for dt in ("float64", "complex128"):
        k = f"gradcheck_qr64x32_{dt}"
        lines.append(f"full-Jacobian gradcheck of QR 64x32 ({dt}, median of 3 after a warm-up): "
                     f"matdiff {_fmt(md_.get(k), 3)} s"
                     + "".join(f", {p} {_fmt(res[p].get(k), 3)} s" for p in peers if p == "torch"))
    for key in sorted(k for k in md_ if k.startswith("hvp_")):
        m = md_[key]
        lines.append(f"{key}: matdiff HVP {_ms(m.get('hvp'))} ms = {_fmt(_ratio(m.get('hvp'), m.get('first')))} x its "
                     "first-order gradient" + "".join(f"; {p} double backward {_ms(res[p].get(key, {}).get('hvp'))} ms"
                                                      for p in peers if p == "torch"))
    lines.append(f"backward peak traced memory: {_fmt(md_.get('bwd_peak_over_A'))} x |A|; saved values released "
                 f"after backward: {md_.get('saved_released')}")
    if "gpu" in res:
        lines.append("GPU: " + json.dumps(res["gpu"])[:2000])
    return lines


def _sum(a, b):
    return None if a is None or b is None else a + b


def _fmt(x, nd=2):
    return "-" if x is None else f"{x:.{nd}f}"


def _us(x):
    return "-" if x is None else f"{x * 1e6:.1f}"


def cpu_model():
    """The CPU's model name (Linux: /proc/cpuinfo), None elsewhere. The ratios depend on it: with the same libraries
    the forward read 0.69-1.95x PyTorch on a Skylake-X (reference-2026-12-02-b) and 0.78-1.90x on an AMD EPYC
    (reference-2026-12-02-c) here -- the BLAS kernels differ (threadpoolctl's architecture, in ``versions``)."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), None)
    except OSError:
        return None


def versions(libs, env):
    """Library versions and the BLAS each loads (threadpoolctl: library, version, the kernel that runs), from a
    process with the workers' environment."""
    code = ("import json, importlib, threadpoolctl\nout = {}\nfor m in %r:\n    mod = importlib.import_module(m)\n"
            "    out[m] = getattr(mod, '__version__', '?')\nimport numpy, scipy\nout['numpy'] = numpy.__version__\n"
            "out['scipy'] = scipy.__version__\nout['blas'] = sorted({'%%s %%s %%s %%s' %% (d['prefix'], d['version'], "
            "d.get('architecture'), d['num_threads']) for d in threadpoolctl.threadpool_info()})\n"
            "print(json.dumps(out))")
    r = subprocess.run([sys.executable, "-c", code % (libs,)], capture_output=True, text=True, env=env)
    return json.loads(r.stdout) if r.returncode == 0 else {"error": r.stderr.strip()[-200:]}


def targets(res, peers, forward_only=False):
    md_, out = res.get("matdiff", {}), ["targets (ratios from this run):"]

    def add(label, value, limit, better="<="):
        if value is None:
            out.append(f"  {label}: not measured")
            return
        ok = value <= limit if better == "<=" else value >= limit
        out.append(f"  {'met   ' if ok else 'MISSED'} {label}: {value:.2f} (target {better} {limit})")

    for k, r in res.get("forward", {}).items():
        if "over_torch" in r:
            add(f"{k[4:]} forward / PyTorch", r["over_torch"], 1.0)
        add(f"{k[4:]} forward 1 thread / 2 threads (2 not slower; 0.95: noise)", r["one_over_two_threads"], 0.95, ">=")
    if forward_only:
        return out
    if "torch" in peers:               # issue 22: backward and forward + backward <= PyTorch, QR and LQ, every shape
        for name in sorted(k for k in md_ if k.startswith(("qr_graph_", "qr_fused_", "lq_graph_", "lq_fused_"))):
            kind, v, s = name.split("_", 2)
            r, pr = md_[name], res["torch"].get(f"{kind}_{s}", {})
            if "backward" not in r or "error" in pr:
                continue
            add(f"{kind} {v} {s} backward / PyTorch", _ratio(r["backward"], pr.get("backward")), 1.0)
            add(f"{kind} {v} {s} forward + backward / PyTorch",
                _ratio(_sum(r["backward"], r.get("forward")), _sum(pr.get("backward"), pr.get("forward"))), 1.0)
    gemm = md_.get("dgemm_gflops")
    for s in ("float64_2000x500", "float64_1000x1000", "float64_500x2000", "complex128_1000x1000"):
        for kind in ("qr", "lq"):             # issue 22: >= 85 % of the flop-count limit at this run's dgemm rate
            bwd = md_.get(f"{kind}_graph_{s}", {}).get("backward")
            dt, shape = s.split("_")
            pct = None if not (bwd and gemm) else \
                nominal_flops(kind, tuple(map(int, shape.split("x"))), dt) / bwd / 1e9 / gemm
            add(f"{kind} graph {s} backward / flop-count limit", pct, 0.85, ">=")
    # backward <= forward held while the forward was OpenBLAS's slow geqrf; a wide QR's forward is now the m x m QR
    # plus one gemm (~1.1 GFLOP at 500x2000) against the backward's ~2.4 GFLOP, so 500x2000 is no longer checked
    # here (its backward is held to PyTorch's and to the flop-count limit above)
    for s, lim in (("float64_2000x500", 1.0), ("float64_1000x1000", 1.6)):
        r = md_.get(f"qr_graph_{s}", {})
        add(f"qr backward / matdiff forward {s}", _ratio(r.get("backward"), r.get("forward")), lim)
    for s in ("float64_500x2000", "complex128_500x2000"):
        add(f"wide qr graph / fused backward {s}", _ratio(md_.get(f"qr_graph_{s}", {}).get("backward"),
                                                          md_.get(f"qr_fused_{s}", {}).get("backward")), 1.3)
    if "torch" in peers:
        add("8x4 qr fwd+bwd engine / PyTorch eager", _ratio(md_.get("tiny_qr_engine"),
                                                           res["torch"].get("tiny_qr_engine")), 1.0)
        for key in sorted(k for k in md_ if k.startswith("hvp_")):
            add(f"{key} / PyTorch double backward", _ratio(md_[key].get("hvp"), res["torch"].get(key, {}).get("hvp")),
                1.5)
        for dt in ("float64", "complex128"):
            k = f"gradcheck_qr64x32_{dt}"
            add(f"gradcheck speed-up vs torch.autograd.gradcheck {dt}", _ratio(res["torch"].get(k), md_.get(k)), 10,
                ">=")
    add("engine overhead per node, quiet machine (us)",
        None if md_.get("node_overhead") is None else md_["node_overhead"] * 1e6, 3)
    for key in sorted(k for k in md_ if k.startswith("hvp_")):
        add(f"{key} / matdiff first-order gradient", _ratio(md_[key].get("hvp"), md_[key].get("first")), 3)
    # issue 22: peak <= 2 |A| + the factors (|Q| = |A|, |R| = |A| / 8 at 2000x500)
    add("backward peak memory / |A| (2000x500)", md_.get("bwd_peak_over_A"), 2 + 1 + 500 / 2000 / 2)
    return out


if __name__ == "__main__":
    sys.exit(main())
