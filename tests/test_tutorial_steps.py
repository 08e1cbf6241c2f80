"""Each tutorial as a learner meets it in a terminal: ``python -m matdiff tutorials run NN --step``, Enter pressed
at every pause (answers fed on stdin). Every screen fits a terminal (≤ 30 lines), every "relative" figure of a
claim that holds is small, and a step with nothing to show (09 without a GPU) is not waited on.

Each tutorial runs once here (this also is the test that it runs top to bottom); the helpers of
matdiff/teach/tutorial.py are tested on their own below."""
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import matdiff as md
from matdiff.teach import tutorial

ROOT = Path(__file__).resolve().parent.parent
TUTORIALS = sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))
MAX_LINES = 30
PROMPT = "press Enter for the next step"             # what step() asks at each pause (matdiff.teach.tutorial.PROMPT)
_RUNS = {}


def _stepped(path, tmp_path):
    """Run one tutorial under --step with Enter answered at every pause; the screens between the pauses."""
    if path.name.startswith("11"):                    # tutorial 11 is matdiff inside PyTorch and JAX
        pytest.importorskip("torch")
        pytest.importorskip("jax")
    if path not in _RUNS:
        env = dict(os.environ, MATDIFF_FIGURES=str(tmp_path))
        r = subprocess.run([sys.executable, "-m", "matdiff", "tutorials", "run", path.name[:2], "--step"],
                           input="\n" * 50, capture_output=True, text=True, env=env, timeout=180, cwd=ROOT)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        _RUNS[path] = (r.stdout, sorted(p.name for p in tmp_path.iterdir()))
    out, files = _RUNS[path]
    return out, out.split(PROMPT), files


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem[:2])
def test_every_screen_of_a_stepped_tutorial_fits_a_terminal(path, tmp_path):
    out, screens, files = _stepped(path, tmp_path)
    steps = re.findall(r"^=== (.*?) =+$", out, flags=re.M)
    assert steps, out[-2000:]
    for chunk in re.split(r"\n(?==== )", out) + screens:          # each step, and what is on screen at each pause
        lines = chunk.strip("\n").splitlines()
        assert len(lines) <= MAX_LINES, f"{len(lines)} lines:\n" + "\n".join(lines)
    shown = [s for s in steps if "(skipped: " not in s]
    assert len(screens) == max(len(shown), 1), f"{len(screens) - 1} pauses for {len(shown)} steps with output"
    if path.name.startswith(("02", "03")):
        assert any(f.endswith(".dot") for f in files), "tutorials 02 and 03 draw the paper's figures"
    tape = [ln for ln in out.splitlines() if re.match(r"#\d+ \w+\(", ln)]
    assert not [ln for ln in tape if re.search(r"\bt\d+\b", ln)], "a tutorial names what its tape shows"


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem[:2])
def test_no_claim_that_holds_prints_a_large_relative_figure(path, tmp_path):
    out, _, _ = _stepped(path, tmp_path)
    found = ((m, line) for line in out.splitlines() for m in re.finditer(r"relative ([-+.\de]+)", line))
    figures = [(float(m.group(1)), line) for m, line in found]
    for value, line in figures:
        assert value < 1e-3, f"a claim that holds, yet relative {value:g}: {line}"
    if not path.name.startswith("09"):
        assert figures, "every tutorial states a claim with its relative figure"


def test_tutorial_01_names_every_tensor_on_its_tape(tmp_path):
    out, _, _ = _stepped(TUTORIALS[0], tmp_path)
    tape = [ln for ln in out.splitlines() if ln.startswith("#")]
    assert len(tape) == 4 and "mul(D 5×4, W 5×4)" in tape[2]
    assert not re.search(r"\bt\d+\b", "\n".join(tape)), tape


def test_the_prompt_is_the_tutorials_own():
    assert PROMPT in tutorial.PROMPT


def test_tutorial_09_without_a_gpu_skips_its_steps_without_waiting(tmp_path):
    if md.backend.gpu_available():
        pytest.skip("a GPU is here: tutorial 09 runs its steps (the other tests cover it)")
    out, screens, _ = _stepped(TUTORIALS[8], tmp_path)
    assert "No GPU here" in out and out.count("(skipped: no GPU)") == 3 and len(screens) == 1


# -- the helpers ----------------------------------------------------------------------------------------------
def test_same_puts_parentheses_round_a_sum_so_the_verdict_reads_as_zero(capsys):
    n = 4
    P_L = np.tril(np.ones((n, n)), -1)
    tutorial.same("E", 2 * P_L + np.eye(n), 2 * P_L + np.eye(n), labels=("E", "2 P_L + I"), rtol=0)
    out = capsys.readouterr().out
    assert "‖E − (2 P_L + I)‖ = 0.00e+00" in out
    assert out.count("\n") == n + 2                 # the two sides side by side: a title, n rows, the verdict


def test_same_against_a_zero_side_is_relative_to_the_scale_given(capsys):
    S = np.array([[0.0, 1.5], [-1.5, 0.0]])
    tiny = np.array([[3e-16, 0.0], [0.0, 0.0]])
    tutorial.same("S + S^T", tiny, np.zeros((2, 2)), labels=("jvp", "0"), against=("‖S‖", S), rtol=1e-12)
    out = capsys.readouterr().out
    assert "relative 1.4e-16 to ‖S‖ = 2.12" in out and "relative 1.0e+00" not in out
    tutorial.same("S + S^T", tiny, np.zeros((2, 2)), labels=("jvp", "0"))
    assert "relative" not in capsys.readouterr().out               # against zero alone: no relative figure
    with pytest.raises(AssertionError, match="differ"):
        tutorial.same("S", S, np.zeros((2, 2)), labels=("S", "0"), against=("‖S‖", S))


def test_show_prints_a_large_matrix_by_shape_norm_and_corner(capsys):
    a = np.arange(60.0).reshape(20, 3)
    tutorial.show("Abar", a)
    out = capsys.readouterr().out.splitlines()
    assert out[1].strip() == f"20×3, norm {np.linalg.norm(a):.6g}, top-left 4×3:" and len(out) == 6
    tutorial.show("x", np.arange(4.0))
    tutorial.show("s", np.float64(2.5))
    assert capsys.readouterr().out.splitlines() == ["x = [0. 1. 2. 3.]", "s = 2.5"]


def test_display_prints_where_the_file_is_outside_jupyter(capsys):
    class Drawn:
        files = [Path("fig.dot"), Path("fig.png")]
    tutorial.display(Drawn())
    tutorial.display(Drawn(), "open {file} in a browser")
    assert capsys.readouterr().out.splitlines() == ["drew fig.dot, fig.png", "open fig.png in a browser"]


@pytest.mark.parametrize("number", ["01", "02", "03", "04", "05", "06", "07"])
def test_tutorials_01_to_07_end_by_pointing_at_their_exercises(number):
    """Each tutorial's last line names exercises that exist, and the command it prints is one the CLI takes."""
    from matdiff import exercises
    (path,) = (Path(__file__).resolve().parents[1] / "tutorials").glob(f"{number}_*.py")
    last = path.read_text().rstrip().splitlines()[-1]
    names = re.fullmatch(r"your_turn\((.*)\)", last)
    assert names, f"{path.name} ends with {last!r}, not your_turn(...)"
    for name in re.findall(r'"(\w+)"', names.group(1)):
        assert name in exercises.ORDER, f"{path.name} points at an exercise {name!r} that does not exist"


def test_your_turn_prints_a_start_and_a_check_command(capsys):
    tutorial.your_turn("qr", "qr_jvp")
    out = capsys.readouterr().out
    assert "python -m matdiff exercises start qr" in out and "exercises check qr qr.py" in out and "qr_jvp" in out


def test_there_are_eleven_numbered_tutorials():
    assert [p.name[:2] for p in sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))] == [f"{i:02d}" for i in
                                                                                          range(1, 12)]
