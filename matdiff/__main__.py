"""The command line: ``python -m matdiff check``, ``tutorials``, ``registry`` (``--help`` on each)."""
import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import matdiff as md
from matdiff import suite

_ABOUT = """matdiff: a small autodiff engine for matrices, built to learn and check the QR/LQ backward passes of
Roberts & Roberts. Four commands:

  check       gradcheck every registered node (and the jvp/vjp trace identity) over square, deep, wide and
              batched shapes, real and complex, graph/fused/pivoted -- the main job; non-zero exit on any failure
  tutorials   list the numbered tutorials, run one (step by step), or copy them out to edit
  registry    the registered nodes and the equation each implements
  exercises   write the paper's rules yourself and have matdiff grade them (list, start, check)

Examples:
  python -m matdiff check
  python -m matdiff tutorials run 03 --step
  python -m matdiff tutorials copy ./my-tutorials
  python -m matdiff exercises list
"""

_CHECK = """Gradcheck every registered node: for each case, every derivative of the engine (reverse mode) is compared
with central differences of the forward, and forward mode with reverse mode through the trace identity of the
paper's Eq 2 (Tr(Abar^H dA) = Tr(Qbar^H dQ) + Tr(Rbar^H dR)).

The table's columns:
  gradcheck rel err   max |analytic - numeric| / max |value| over every derivative of the case; a derivative
                      passes when |analytic - numeric| <= 1e-5 + 1e-4 |numeric| (step 1e-6)
  jvp = vjp rel err   the same relative error between the two sides of the trace identity on 3 random
                      directions; passes below 1e-9 (agreement to rounding: no finite differences)
With --fast, 'gradcheck' compares 3 random projections per case, <v, J u> from central differences with
<J^H v, u> from one backward, instead of every entry of the Jacobian J (quicker, less complete).
A failing case prints its full report, with the node to blame."""


def tutorials_dir():
    """Where the tutorials are: inside the installed package (a wheel), else the source checkout's tutorials/."""
    inside = Path(__file__).resolve().parent / "tutorials"
    if inside.is_dir() and any(inside.glob("[0-9][0-9]_*.py")):
        return inside
    checkout = Path(__file__).resolve().parent.parent / "tutorials"
    return checkout if checkout.is_dir() else None


def _files():
    where = tutorials_dir()
    return sorted(where.glob("[0-9][0-9]_*.py")) if where else []


def _title(f):
    first = next((ln for ln in f.read_text(encoding="utf-8").splitlines() if ln.startswith("# # ")), "# # " + f.stem)
    return first[4:].strip()


def _list():
    files = _files()
    if not files:
        print("no tutorials found: this matdiff has neither packaged tutorials nor a source checkout beside it")
        return 1
    for f in files:
        print(_title(f))
    print(f"\n(in {files[0].parent})\nrun one:   python -m matdiff tutorials run 03 [--step]\n"
          "copy them: python -m matdiff tutorials copy DIR   (scripts and notebooks, to edit)")
    return 0


def _run(number, step):
    match = [f for f in _files() if f.name.startswith(f"{int(number):02d}_")]
    if not match:
        print(f"no tutorial {number!r}; `python -m matdiff tutorials` lists them")
        return 2
    return subprocess.call([sys.executable, str(match[0])] + (["--step"] if step else []))


def _copy(dest):
    files = _files()
    if not files:
        return _list()
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    copied = 0
    for f in files:
        for src in (f, f.with_suffix(".ipynb")):
            if src.exists():
                shutil.copy2(src, dest / src.name)
                copied += 1
    print(f"copied {copied} files to {dest} -- open the .ipynb in Jupyter, or run a .py with python (--step pauses)")
    return 0


def _parser():
    """The command line's parser: check, tutorials, registry (exercises: teach/exercises/cli.py)."""
    p = argparse.ArgumentParser(prog="python -m matdiff", description=_ABOUT,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", metavar="{check,tutorials,registry,exercises}")
    c = sub.add_parser("check", help="gradcheck every registered node (the main job)", description=_CHECK,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("--device", default="cpu", choices=["cpu", "gpu"],
                   help="run the checks on NumPy (cpu, default) or on CuPy with a CUDA device (gpu)")
    c.add_argument("--fast", action="store_true",
                   help="compare 3 random projections <v, J u> with <J^H v, u> per case instead of the full "
                        "Jacobian J (quicker, less complete)")
    t = sub.add_parser("tutorials", help="list, run or copy the numbered tutorials",
                       description="The numbered tutorials: scripts with notebook cells, each asserting what it shows.")
    tsub = t.add_subparsers(dest="action", metavar="{list,run,copy}")
    tsub.add_parser("list", help="list them (the default)")
    r = tsub.add_parser("run", help="run one tutorial by number")
    r.add_argument("number", help="its number, e.g. 03")
    r.add_argument("--step", action="store_true", help="pause after every step (Enter goes on)")
    cp = tsub.add_parser("copy", help="copy the tutorials (scripts and notebooks) into a folder to edit")
    cp.add_argument("dest", help="the folder to copy into (created if needed)")
    sub.add_parser("registry", help="list the registered nodes and their equations",
                   description="Every registered node with the equation it implements.")
    sub.add_parser("exercises", add_help=False, help="write the paper's rules yourself, matdiff grades them "
                   "(python -m matdiff exercises --help)")
    return p


def main(argv=None):
    """Run the command line on ``argv`` (default ``sys.argv[1:]``); returns the exit status. Alone: the help."""
    p = _parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["exercises"]:                # its own command line (matdiff/teach/exercises/cli.py)
        return md.exercises.main(argv[1:])
    args = p.parse_args(argv)
    if args.cmd is None:                       # `python -m matdiff` alone: say what there is, not a usage error
        p.print_help()
        return 0
    if args.cmd == "tutorials":
        if args.action == "run":
            return _run(args.number, args.step)
        return _copy(args.dest) if args.action == "copy" else _list()
    if args.cmd == "registry":
        print(md.registry)
        return 0
    if args.device == "gpu" and not md.backend.gpu_available():
        print("--device gpu: CuPy with a CUDA device is not available here "
              "(pip install 'matdiff[gpu-cuda12]' or 'matdiff[gpu-cuda13]'; nvidia-smi shows the CUDA version)")
        return 2
    return 1 if suite.run(device=args.device, fast=args.fast) else 0


if __name__ == "__main__":
    sys.exit(main())
