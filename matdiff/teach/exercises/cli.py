"""``python -m matdiff exercises list | start NAME [DIR] | check NAME FILE [--hint N] [--solution]``.

:func:`main` takes the arguments after ``exercises`` and returns the exit status (1 when a check fails or the
command is wrong), printing plain sentences -- never a traceback from inside matdiff.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import traceback

from .catalog import REGISTRY, grade
from .templates import start


def _parser():
    p = argparse.ArgumentParser(prog="python -m matdiff exercises",
                                description="Write the paper's rules yourself; matdiff grades them.")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="the exercises, in course order")
    s = sub.add_parser("start", help="write NAME.py and NAME.ipynb templates into DIR")
    s.add_argument("name")
    s.add_argument("dir", nargs="?", default=".")
    c = sub.add_parser("check", help="grade the function in FILE")
    c.add_argument("name")
    c.add_argument("file")
    c.add_argument("--hint", type=int, default=1, choices=(1, 2, 3), help="hint level (1: which part, 2: the "
                   "equation and where, 3: stronger)")
    c.add_argument("--solution", action="store_true", help="show the reference solution")
    return p


def main(argv=None) -> int:
    """Run the exercises command line on ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as e:                      # argparse has printed the usage
        return int(e.code or 0)
    if args.cmd == "list":
        for i, (name, ex) in enumerate(REGISTRY.items(), 1):
            print(f"{i:2}. {name:<20} {ex.title} ({ex.equation})\n      {ex.signature}")
        return 0
    if args.name not in REGISTRY:
        print(f"no exercise {args.name!r}; the exercises are: {', '.join(REGISTRY)}", file=sys.stderr)
        return 1
    if args.cmd == "start":
        for path in start(args.name, args.dir):
            print(f"wrote {path}")
        print(f"next: write the rule, then python -m matdiff exercises check {args.name} "
              f"{os.path.join(args.dir, args.name + '.py')}")
        return 0
    return _check(args)


def _check(args):
    fn = load(args.file, REGISTRY[args.name].func)
    if isinstance(fn, str):
        print(fn, file=sys.stderr)
        return 1
    g = grade(args.name, fn, hint=args.hint, solution=args.solution)
    print(g)
    return 0 if g.ok else 1


def load(path, func):
    """The function ``func`` from the learner's file, or a sentence saying why it could not be loaded."""
    if not os.path.isfile(path):
        return f"no file {path!r}: give the path of your exercise file (python -m matdiff exercises start ...)"
    spec = importlib.util.spec_from_file_location("learner_" + os.path.basename(path).split(".")[0], path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:                       # noqa: BLE001 -- their file, their error, said plainly
        frame = traceback.extract_tb(e.__traceback__)[-1] if e.__traceback__ else None
        line = getattr(e, "lineno", None) or (frame.lineno if frame else "?")
        return f"could not load {path}: {type(e).__name__} at line {line}: {e}"
    fn = getattr(module, func, None)
    if not callable(fn):
        return f"{path} defines no function `{func}`: keep the name and signature of the template"
    return fn
