"""Engine cost in *instructions* (Valgrind's callgrind), not seconds: ``python benchmarks/instructions.py``.

Wall-clock figures on these shared machines move by 1.4-1.9x between minutes; instruction counts do not. So engine
changes are best compared here, and the timed targets checked by ``run.py``. Each workload runs under callgrind
twice -- after its warm-up, 0 times and N times -- and the difference over N is the count per call:

* ``qr8x4``: ``md.tensor`` of an 8x4, ``md.qr``, ``md.backward`` with two NumPy seeds (``run.py``'s 8x4 case);
* ``chain``: a 200-node chain of negations of a 1x1, forward and backward, per node, minus NumPy's own 400
  negations (``run.py``'s engine overhead per node).

The workers run with ``OPENBLAS_NUM_THREADS=1`` (a spinning BLAS thread would count its own instructions) and
``PYTHONHASHSEED=0`` (dict layouts), which this script says when it prints; ``OPENBLAS_CORETYPE``/``L2_SIZE`` are
left as they are. ``--no-gc`` switches the cyclic GC off after the warm-up (its share is the difference).
Needs ``valgrind`` (Debian: ``apt-get install valgrind``). ``--tree DIR`` measures the matdiff checkout in DIR.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _driver(tree, workload, n, no_gc):
    """The measured process: warm up, then run ``workload`` n times."""
    sys.path.insert(0, tree)
    sys.path.insert(1, str(Path(__file__).resolve().parent))
    import gc

    from worker import engine_workloads  # the very workloads run.py times

    import matdiff as md

    qr8x4, chain, raw = engine_workloads(md)
    f = {"qr8x4": qr8x4, "chain": chain, "raw": raw}[workload]
    for _ in range(20):
        f()
    if no_gc:
        gc.disable()
    for _ in range(n):
        f()


def _count(tree, workload, n, no_gc):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", PYTHONHASHSEED="0")
    with tempfile.TemporaryDirectory() as tmp:
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg.out", sys.executable, __file__,
               "--driver", workload, str(n), "--tree", tree] + (["--no-gc"] if no_gc else [])
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    m = re.search(r"Collected : (\d+)", r.stderr)
    if r.returncode != 0 or m is None:
        raise SystemExit(f"callgrind failed for {workload}: {(r.stderr or r.stdout).strip().splitlines()[-1:]}")
    return int(m.group(1))


def per_call(tree, workload, n, no_gc):
    """Instructions per call of ``workload``: (count after n calls - count after none) / n, both runs in parallel."""
    with ThreadPoolExecutor(2) as pool:
        zero, many = pool.map(lambda k: _count(tree, workload, k, no_gc), (0, n))
    return (many - zero) / n


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tree", default=str(ROOT), help="the matdiff checkout to measure (default: this one)")
    p.add_argument("--calls", type=int, default=100, help="measured calls of the 8x4 case (the chain runs a fifth)")
    p.add_argument("--only", choices=("qr8x4", "chain"), help="measure one workload")
    p.add_argument("--no-gc", action="store_true", help="switch the cyclic GC off after the warm-up")
    p.add_argument("--driver", nargs=2, metavar=("WORKLOAD", "N"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.driver:
        return _driver(args.tree, args.driver[0], int(args.driver[1]), args.no_gc)
    print(f"# instructions (callgrind) for {args.tree}; workers: OPENBLAS_NUM_THREADS=1, PYTHONHASHSEED=0"
          + (", GC off" if args.no_gc else ""))
    if args.only in (None, "qr8x4"):
        print(f"8x4 QR fwd+bwd: {per_call(args.tree, 'qr8x4', args.calls, args.no_gc):,.0f} instructions per call")
    if args.only in (None, "chain"):
        n = max(1, args.calls // 5)
        node = (per_call(args.tree, "chain", n, args.no_gc) - per_call(args.tree, "raw", n, args.no_gc)) / 200
        print(f"engine overhead: {node:,.0f} instructions per node (200-node chain, minus NumPy's negations)")


if __name__ == "__main__":
    main()
