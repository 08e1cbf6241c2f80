"""Command line: ``python -m matdiff check | tutorials | registry``.

* ``check [--device gpu] [--fast]`` -- gradcheck (and the jvp/vjp trace identity) of every registered node
  over square, deep, wide and batched shapes, float64 and complex128, graph, fused and pivoted; prints a
  table and exits non-zero on any failure.
* ``tutorials`` -- the numbered tutorial scripts, one line each, and how to run them.
* ``registry`` -- the registered ops and the equations they implement.
"""
import argparse
import sys
from pathlib import Path

TUTORIALS = Path(__file__).resolve().parent.parent / "tutorials"


def _tutorials():
    files = sorted(TUTORIALS.glob("[0-9][0-9]_*.py")) if TUTORIALS.is_dir() else []
    if not files:
        print("no tutorials found next to this matdiff (they live in the source checkout's tutorials/ folder)")
        return 1
    for f in files:
        first = next((ln for ln in f.read_text().splitlines() if ln.startswith("# # ")), "# # " + f.stem)
        print(f"{f.name:<32} {first[4:].strip()}")
    where = TUTORIALS.relative_to(Path.cwd()) if TUTORIALS.is_relative_to(Path.cwd()) else TUTORIALS
    print(f"\nrun one:  python {where}/01_matrix_backprop_basics.py  [--step]")
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m matdiff", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check", help="gradcheck every registered node; non-zero exit on failure")
    c.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    c.add_argument("--fast", action="store_true", help="random projections instead of full Jacobians")
    sub.add_parser("tutorials", help="list the tutorials")
    sub.add_parser("registry", help="list the registered ops")
    args = p.parse_args(argv)
    if args.cmd == "tutorials":
        return _tutorials()
    import matdiff as md
    if args.cmd == "registry":
        print(md.registry)
        return 0
    from matdiff import checks
    if args.device == "gpu" and not md.backend.gpu_available():
        print("--device gpu: CuPy with a CUDA device is not available here (pip install matdiff[gpu])")
        return 2
    return 1 if checks.run(device=args.device, fast=args.fast) else 0


if __name__ == "__main__":
    sys.exit(main())
