"""The benchmark runner must not rot: run it on tiny sizes (no peers, no timing assertions)."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_benchmark_runner_smoke(tmp_path):
    out = tmp_path / "results.json"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    rep = json.loads(out.read_text())
    md_ = rep["results"]["matdiff"]
    for name in ("qr_graph_float64_40x10", "qr_fused_complex128_10x40", "lq_graph_float64_8x6x4"):
        assert md_[name]["backward"] > 0 and md_[name]["forward"] > 0
    assert md_["gradcheck_qr64x32_float64_ok"] and md_["gradcheck_qr64x32_complex128_ok"]
    assert md_["saved_released"] is True and md_["bwd_peak_over_A"] > 0
    assert "targets" in r.stdout and "8x4 QR fwd+bwd" in r.stdout
    assert md_["hvp_qr_float64_10x4"]["hvp"] > 0 and "hvp_qr_float64_10x4" in r.stdout


def test_the_peer_workers_run_their_extras():
    """Each peer's worker, on tiny sizes: a crash there would blank the peer's columns of the full run."""
    import importlib.util
    cfg = json.dumps({"cases": [], "reps": 1, "extras": True, "hvp_cases": [[[6, 3], "float64"]], "gc_shape": [4, 2]})
    for lib in ("torch",):
        if importlib.util.find_spec(lib) is None:
            continue
        r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "worker.py"), lib, cfg], capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        out = json.loads(r.stdout.strip().splitlines()[-1])
        assert out["tiny_qr_engine"] > 0 and out["gradcheck_qr64x32_float64_ok"]
        assert out["hvp_qr_float64_6x3"]["hvp"] > 0


def test_the_instruction_counter_runs():
    """benchmarks/instructions.py (callgrind): a deterministic engine figure; needs valgrind, which CI lacks."""
    import shutil

    import pytest
    if shutil.which("valgrind") is None:
        pytest.skip("valgrind is not installed (apt-get install valgrind)")
    script = str(ROOT / "benchmarks" / "instructions.py")
    r = subprocess.run([sys.executable, script, "--only", "qr8x4", "--calls", "3"], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    count = float(r.stdout.split("8x4 QR fwd+bwd: ")[1].split(" instructions")[0].replace(",", ""))
    assert 50_000 < count < 5_000_000, r.stdout                 # an 8x4 fwd+bwd is hundreds of thousands


def test_merge_takes_the_least_for_quiet_machine_figures_and_the_median_elsewhere():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import run
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    rounds = [{"node_overhead": 3e-6, "node_overhead_median": 5e-6, "tiny_qr_engine": 70e-6, "ok": True},
              {"node_overhead": 2e-6, "node_overhead_median": 4e-6, "tiny_qr_engine": 90e-6, "ok": True},
              {"node_overhead": 6e-6, "node_overhead_median": 9e-6, "tiny_qr_engine": 50e-6, "ok": False}]
    got = run.merge(rounds)
    assert got["node_overhead"] == 2e-6                 # the quiet machine: the least round
    assert got["node_overhead_median"] == 5e-6          # the typical round: the median
    assert got["tiny_qr_engine"] == 70e-6 and got["ok"] is False
