"""The GPU section of the benchmarks: ``python benchmarks/gpu_bench.py`` (on a machine with CuPy and a CUDA device).

matdiff (CuPy), PyTorch (CUDA) and JAX (jit, x64) each in a process of their own (benchmarks/worker.py), the same
cases for all: QR and LQ backward of 4096², 8192x2048, 2048x8192 (float64, complex128 for the first two), a stack
4096 x 64x32 forward + backward (float64, complex128), and an 8x4 QR forward + backward through the tape. Prints one
table with the ratios the GPU issue targets, and writes benchmarks/results-gpu.json.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIG = [("qr", "float64", (4096, 4096)), ("qr", "float64", (8192, 2048)), ("qr", "float64", (2048, 8192)),
       ("qr", "complex128", (4096, 4096)), ("qr", "complex128", (8192, 2048)), ("lq", "float64", (4096, 4096))]
STACK = [("qr", "float64", (4096, 64, 32)), ("qr", "complex128", (4096, 64, 32))]


def _cases():
    out = []
    for kind, dtype, shape in BIG + STACK:
        name = f"{kind}_graph_{dtype}_{'x'.join(map(str, shape))}"
        out.append(dict(name=name, kind=kind, variant="graph", dtype=dtype, shape=list(shape)))
    return out


def run(lib, reps):
    cfg = dict(cases=_cases(), reps=reps, device="gpu", extras="tiny" if lib != "jax" else False)
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    r = subprocess.run([sys.executable, str(HERE / "worker.py"), lib, json.dumps(cfg)], capture_output=True,
                       text=True, env=env, timeout=900)
    if r.returncode != 0:
        return {"error": (r.stderr or r.stdout).strip().splitlines()[-1][:300] if (r.stderr or r.stdout) else "?"}
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    reps = int(os.environ.get("MATDIFF_GPU_REPS", "5"))
    res = {lib: run(lib, reps) for lib in ("matdiff", "torch", "jax")}
    (HERE / "results-gpu.json").write_text(json.dumps(res, indent=1))
    md_, pt, jx = res["matdiff"], res["torch"], res["jax"]
    print(f"{'case':<34}{'md bwd ms':>10}{'torch':>9}{'jax':>9}{'÷best':>7}{'md fwd':>9}{'torch fwd':>10}")

    def ms(x):
        return f"{x * 1e3:.2f}" if isinstance(x, (int, float)) else "-"

    for kind, dtype, shape in BIG + STACK:
        key = f"{kind}_{dtype}_{'x'.join(map(str, shape))}"
        m = md_.get(f"{kind}_graph_{dtype}_{'x'.join(map(str, shape))}", {})
        t, j = pt.get(key, {}), jx.get(key, {})
        peers = [x for x in (t.get("backward"), j.get("backward")) if isinstance(x, (int, float))]
        ratio = m.get("backward") / min(peers) if peers and m.get("backward") else None
        print(f"{key:<34}{ms(m.get('backward')):>10}{ms(t.get('backward')):>9}{ms(j.get('backward')):>9}"
              f"{(f'{ratio:.2f}' if ratio else '-'):>7}{ms(m.get('forward')):>9}{ms(t.get('forward')):>10}")
    tiny_md, tiny_pt = md_.get("tiny_qr_engine"), pt.get("tiny_qr_engine")
    print(f"8x4 QR fwd+bwd through the tape: matdiff {ms(tiny_md)} ms, torch.cuda eager {ms(tiny_pt)} ms")
    for lib, r in res.items():
        if "error" in r:
            print(f"{lib}: {r['error']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
