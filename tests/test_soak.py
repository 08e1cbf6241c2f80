"""Soak: 1,000 forward/backward passes of a QR graph hold no memory (the 10,000-node chain is in test_engine)."""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import soak  # noqa: E402


def test_a_thousand_qr_graphs_leave_nothing_behind():
    r = soak.soak(1000, shape=(6, 10), dtype=np.complex128)
    assert r["iterations"] == 1000
    # after the first quarter (one-time caches) memory is flat: less than a quarter of one graph's bytes over
    # 750 passes, i.e. < 11 B per pass -- keeping even one 0-d array per pass would add > 80 kB
    assert r["growth"] < r["graph_bytes"] / 4, r
    # without explicit gc the cyclic collector bounds what is alive: later quarters peak no higher than the first
    assert max(r["peak_per_block"][1:]) <= 1.1 * r["peak_per_block"][0], r


def test_soak_detects_a_leak(monkeypatch):
    """Control: keep every loss alive and the same measurement fails."""
    kept = []
    one = soak._one
    monkeypatch.setattr(soak, "_one", lambda *a: kept.append(one(*a)))
    r = soak.soak(200, shape=(6, 10), dtype=np.complex128, warmup=5)
    assert r["growth"] >= r["graph_bytes"] / 4
