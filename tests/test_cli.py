"""The command line, ``python -m matdiff``: help with no arguments, ``check`` (full and ``--fast``), ``tutorials``."""
import subprocess
import sys
from pathlib import Path

import matdiff as md
from matdiff import suite
from matdiff.__main__ import main

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "matdiff", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)


def test_matdiff_alone_prints_the_help_and_exits_0():
    r = _cli()
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: python -m matdiff") and "error" not in r.stderr
    for words in ("check", "tutorials", "registry", "Examples"):
        assert words in r.stdout, words


def test_cli_check_passes_and_lists_every_node():
    r = _cli("check", timeout=300)
    assert r.returncode == 0, r.stdout[-3000:]
    for op in md.registry:
        assert f"\n{op} " in r.stdout, op
    assert "checks passed" in r.stdout and "FAIL" not in r.stdout
    assert "compares every derivative" in r.stdout and "--fast" not in r.stdout


def test_cli_check_exits_nonzero_on_a_failure(monkeypatch):
    @md.register("bad_check_op", ref="deliberately wrong vjp")
    class bad:
        def forward(ctx, A):
            return A * 2

        def vjp(ctx, Cbar):
            return (Cbar,)

        def jvp(ctx, dA):
            return dA * 2

    monkeypatch.setitem(suite.CASES, "bad_check_op", [("2d", [(2, 2)], lambda A: md.registry["bad_check_op"](A))])
    try:
        lines = []
        failures = suite.run(out=lines.append)
        assert [f[0] for f in failures] == ["bad_check_op", "bad_check_op"]
        assert any("FAIL" in ln for ln in lines)
    finally:
        md.unregister("bad_check_op")


def _small(backend="numpy"):
    return [("matmul", "2d", [(3, 4), (4, 2)], lambda A, B: A @ B)]


def _only(monkeypatch, cases):
    """Run suite.run on ``cases`` alone; every op registered now counts as having a case (an op without one is
    test_ops.py's business), so the run's verdict is that of these cases."""
    monkeypatch.setattr(suite, "cases", cases)
    monkeypatch.setattr(suite, "CASES", {op: [] for op in md.registry})


def test_check_fast_says_what_it_compares(monkeypatch):
    """--fast compares random projections, not the Jacobian: its header says that instead of the full check's."""
    _only(monkeypatch, _small)
    full, fast = [], []
    assert not suite.run(out=full.append) and not suite.run(fast=True, out=fast.append)
    assert "compares every derivative" in full[0] and "<v, J u>" not in full[0]
    assert "compares every derivative" not in fast[0]
    for words in ("--fast", "does not form the Jacobian", "<v, J u>", "<J^H v, u>", "random directions"):
        assert words in fast[0], words
    assert "(--fast)" in fast[-1] and "checks passed" in fast[-1]


def test_check_fast_flag_reaches_the_run(monkeypatch):
    seen = []
    monkeypatch.setattr(suite, "run", lambda device, fast: seen.append((device, fast)) or [])
    assert main(["check", "--fast"]) == 0 and main(["check"]) == 0
    assert seen == [("cpu", True), ("cpu", False)]
    assert "<v, J u>" in _cli("check", "--help").stdout


def test_check_columns_fit_the_longest_names(monkeypatch):
    long_node, long_case = "a_node_with_a_long_name_indeed", "a case label longer than twenty-six characters"

    def rows(backend="numpy"):
        return _small() + [(long_node, long_case, [(3, 3)], lambda A: A @ A.T)]

    _only(monkeypatch, rows)

    @md.register("an_op_without_a_check_case_at_all", ref="A = A")
    class nocase:
        def forward(ctx, A):
            return A

        def vjp(ctx, Cbar):
            return (Cbar,)

        def jvp(ctx, dA):
            return dA

    try:
        lines = []
        failures = suite.run(out=lines.append)
    finally:
        md.unregister("an_op_without_a_check_case_at_all")
    assert [f[0] for f in failures] == ["an_op_without_a_check_case_at_all"]
    table = lines[lines.index(next(ln for ln in lines if ln.startswith("node "))):]
    header, body = table[0], [ln for ln in table[2:] if ln and not ln.startswith("\n")]
    assert len(body) == 2 * 2 + 1, body                    # two cases x two dtypes, one op without a case
    col = {name: header.index(name) for name in ("case", "dtype", "gradcheck", "jvp = vjp")}
    for ln in body:
        assert ln[col["case"] - 1] == " " and ln[col["case"]] != " ", (ln, header)
        assert ln[col["dtype"] - 1] == " " and ln[col["dtype"]:].split()[0] in ("float64", "complex128", "-"), ln
        assert len(ln.rsplit(" ", 1)[0]) == len(header.rsplit(" ", 1)[0]), (ln, header)   # only ok/FAIL after


def test_exercises_are_a_subcommand(monkeypatch):
    """`python -m matdiff exercises ...` hands everything after `exercises` to matdiff/teach/exercises/cli.py."""
    import matdiff.exercises as ex
    seen = []
    monkeypatch.setattr(ex, "main", lambda argv: seen.append(argv) or 7)
    assert main(["exercises", "check", "qr", "mine.py", "--hint", "2"]) == 7
    assert seen == [["check", "qr", "mine.py", "--hint", "2"]]
    r = _cli("exercises", "list")
    assert r.returncode == 0 and "qr_wide" in r.stdout, r.stdout + r.stderr
    assert "exercises" in _cli().stdout


def test_cli_tutorials_lists_them():
    r = _cli("tutorials")
    assert r.returncode == 0 and r.stdout.count("\n") >= 9 and "03 · Wide QR" in r.stdout and "Figure 2" in r.stdout
