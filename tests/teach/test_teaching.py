"""What a learner reads: printed tapes in the paper's notation, drawings that say what the figures say, the HTML
backward stepper (in a real headless browser), help texts, and tutorials from an installed wheel."""
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import numpy as np
import pytest

import matdiff as md
from matdiff.testing import leaf

ROOT = Path(__file__).resolve().parents[2]
BAR, LINE = "\u0304", "\u0305"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


# -- printed tapes -------------------------------------------------------------------------------------------
def test_a_fresh_tape_numbers_its_nodes_from_one():
    A = leaf((3, 4), name="A")
    for _ in range(3):                       # earlier nodes elsewhere do not shift the numbering
        A @ A.T
    with md.Tape() as tape:
        B = md.matmul(A, A.T, name="B")
        md.sum(B, name="s")
    lines = str(tape).splitlines()
    assert [ln.split()[0] for ln in lines] == ["#1", "#2", "#3"]


def test_names_at_the_call_and_rules_in_the_graphs_own_names():
    A = leaf((3, 4), name="C")               # a user letter that the matmul rule's formal names also use
    with md.Tape() as tape:
        D = md.transpose(A, name="D")
        E = md.matmul(D, A, name="E")
        X, Y = md.split(E, [2], axis=-1, name=("X", "Y"))
    text = str(tape)
    assert "#1 transpose(C 3×4) -> D 4×3   D = (C)ᵀ" in text or "D = Cᵀ" in text
    assert "E = D C;" in text and f"D{BAR} += E{BAR} Cᴴ" in text and f"C{BAR} += Dᴴ E{BAR}" in text
    assert "[X|Y] = E" in text
    assert "C = A" not in text and "A B" not in text          # no formal letters that mean something else here
    assert (X.name, Y.name, E.name) == ("X", "Y", "E")


def test_unnamed_intermediates_get_readable_names():
    A = leaf((3, 3), name="A")
    with md.Tape() as tape:
        md.sum(A.mH @ A * 2.0)
    text = str(tape)
    assert "-> Aᴴ 3×3" in text and "-> t1 3×3" in text and "t1 = Aᴴ A" in text and " _:" not in text


def test_the_qr_rule_says_hcopyltu_like_its_formula_table():
    assert "hcopyltu" in md.registry["qr"].ref and "hcopyltu" in md.FORMULAS["eq3"]
    A = leaf((4, 3), name="A")
    with md.Tape() as tape:
        md.qr(A)
    assert "hcopyltu(M)" in str(tape) and "[Eq 3 / Eq 21]" in str(tape)


def test_a_row_partition_cites_proposition_3_and_a_column_partition_figure_2():
    with md.Tape() as rows:                     # deep LQ: A = [X; Y], L = [U; V] (Proposition 3)
        md.lq(leaf((6, 3), name="A"), fused=False)
    with md.Tape() as cols:                     # wide QR: A = [X|Y], R = [U|V] (Figure 2)
        md.qr(leaf((3, 5), name="A"), fused=False)
    split_rows, split_cols = str(rows).splitlines()[0], str(cols).splitlines()[0]
    assert "[X; Y] = A" in split_rows and split_rows.endswith("[Prop 3]") and "Figure 2" not in str(rows)
    assert "[X|Y] = A" in split_cols and split_cols.endswith("[Figure 2]") and "Prop 3" not in str(cols)


# -- drawings ------------------------------------------------------------------------------------------------
def test_figure_2_shows_the_sum_it_teaches(tmp_path):
    A = leaf((3, 5), name="A")
    dot = md.draw(list(md.qr(A)), tmp_path / "fig2.dot").dot
    assert f"Q{BAR}′ = Q{BAR} + Y V{BAR}ᴴ" in dot                  # the + node's label: Qbar' by accumulation
    assert 'label="+"' in dot and f'label="Y V{BAR}ᴴ"' in dot and f'label="Q{BAR}"' in dot
    assert f'label="Q{BAR}′"' in dot                                 # what flows into qr is Qbar'


def test_deep_lq_is_drawn_with_lq_labels():
    A = leaf((5, 3), name="A")
    from matdiff.teach.graphviz import to_dot
    dot = to_dot(list(md.lq(A)))
    assert "[X; Y] = A" in dot and "L = [U; V]" in dot and "X = U Q" in dot and "V = Y Qᴴ" in dot
    assert "[X|Y]" not in dot and "R = [U|V]" not in dot


def test_bars_sit_over_whole_symbols_and_no_stray_bar():
    from matdiff.engine.notation import bar
    assert bar("Q") == "Q" + BAR and bar("AP") == "A" + LINE + "P" + LINE and bar("Q′") == "Q" + BAR + "′"
    A = leaf((3, 5), name="A")
    Q, R, _ = md.qr(A, pivoting=True)
    from matdiff.teach.graphviz import to_dot
    dot = to_dot([Q, R])
    assert f"A{LINE}P{LINE}" in dot and f"AP{BAR}" not in dot and "·" + BAR not in dot


def test_draw_picks_svg_without_an_extension_and_refuses_unknown_ones(tmp_path):
    A = leaf((3, 3), name="A")
    Q, R = md.qr(A)
    d = md.draw([Q, R], tmp_path / "fig2")
    assert d.files[0] == tmp_path / "fig2.dot" and (d.files[-1].suffix == ".svg" or not shutil.which("dot"))
    with pytest.raises(md.MatdiffError, match=r"unknown format '\.jpg'.*\.svg, \.png, \.pdf, \.dot, \.html"):
        md.draw([Q, R], tmp_path / "fig.jpg")
    with pytest.raises(md.MatdiffError, match="steps=True"):
        md.draw([Q, R], tmp_path / "fig.html")


@needs_dot
def test_a_drawing_renders_itself_as_svg_for_notebooks(tmp_path):
    A = leaf((3, 3), name="A")
    svg = md.draw(list(md.qr(A)), tmp_path / "nb.dot")._repr_svg_()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg


# -- the HTML stepper ------------------------------------------------------------------------------------------
def _page(tmp_path):
    A = leaf((3, 5), name="A")
    Q, R = md.qr(A)
    seeds = [np.ones((3, 3)), np.ones((3, 5))]
    page = md.draw([Q, R], tmp_path / "wide_qr.html", steps=True, seeds=seeds)
    return page.files[0]


@needs_dot
def test_the_stepper_writes_one_self_contained_page_with_a_frame_per_node(tmp_path):
    from matdiff.teach.stepper import frame_count
    path = _page(tmp_path)
    html = path.read_text(encoding="utf-8")
    assert frame_count(path) == 5 + 2                   # seeds, the 5 nodes of Figure 2, the finished sweep
    assert "http" not in html.replace("http://www.w3.org", "")    # no network: the SVGs are inline
    assert html.count("<svg") == 1 and "ArrowRight" in html and "#last" in html    # one layout for every frame
    assert f"Q{BAR}′ = Q{BAR} + Y V{BAR}ᴴ" in html and "node #3 adjoint" in html


def _chromium(url, *args):
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@needs_dot
@pytest.mark.skipif(CHROMIUM is None, reason="no headless browser (Debian: apt-get install chromium)")
def test_the_stepper_runs_in_a_real_browser(tmp_path):
    path = _page(tmp_path)
    url = path.as_uri()
    shots = {}
    for frag in ("#0", "#last"):
        dom = _chromium(url + frag, "--virtual-time-budget=3000", "--dump-dom").stdout
        assert 'data-ready="1"' in dom, dom[:500]
        assert "data-error" not in dom                               # window.onerror saw nothing
        frame = re.search(r'data-frame="(\d+)"', dom).group(1)
        assert frame == ("0" if frag == "#0" else "6")
        png = tmp_path / f"shot{frag[1:]}.png"
        _chromium(url + frag, f"--screenshot={png}", "--window-size=1000,1200", "--virtual-time-budget=3000")
        shots[frag] = png.read_bytes()
    assert shots["#0"] != shots["#last"]                             # the two frames look different


# -- help texts --------------------------------------------------------------------------------------------------
def _cli(*args):
    return subprocess.run([sys.executable, "-m", "matdiff", *args], capture_output=True, text=True, timeout=120)


def test_help_is_written_for_a_person():
    top = _cli("--help").stdout
    assert "``" not in top and "check" in top and "tutorials" in top and "Examples" in top
    check = _cli("check", "--help").stdout
    for words in ("--device", "CuPy", "rel err", "trace identity", "1e-5 + 1e-4", "1e-9"):
        assert words in check, words
    tut = _cli("tutorials", "--help").stdout
    assert "run" in tut and "copy" in tut
    assert "trace=" in md.Tensor.backward.__doc__ or "trace" in md.Tensor.backward.__doc__
    assert "adjoint" in md.qr.__doc__ and "QRResult" in md.qr.__doc__


def test_tutorials_run_and_copy(tmp_path):
    r = _cli("tutorials", "run", "05")
    assert r.returncode == 0 and "Eq 8" in r.stdout and "relative" in r.stdout
    assert _cli("tutorials", "run", "42").returncode == 2
    r = _cli("tutorials", "copy", str(tmp_path / "mine"))
    assert r.returncode == 0
    names = sorted(p.name for p in (tmp_path / "mine").iterdir())
    assert "03_qr_wide.py" in names and "03_qr_wide.ipynb" in names and len(names) == 22     # 11 tutorials x 2


# -- installed, not cloned ----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_an_installed_wheel_has_its_tutorials(tmp_path):
    pytest.importorskip("build")
    dist = tmp_path / "dist"
    r = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(ROOT)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    wheel = next(dist.glob("matdiff-*.whl"))
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    # numpy and scipy from this environment (a plain path entry: its .pth files, the checkout's editable matdiff
    # among them, are not read), not from the base Python, which in a fresh venv need not have them
    inner = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                           capture_output=True, text=True).stdout.strip()
    outer = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    Path(inner, "outer-site.pth").write_text("".join(d + "\n" for d in sorted(outer)))
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--quiet",
                        str(wheel)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    away = tmp_path / "elsewhere"
    away.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    def run(*args):
        return subprocess.run([str(py), *args], capture_output=True, text=True, cwd=away, env=env, timeout=300)
    where = run("-c", "import matdiff, sys; print(matdiff.__file__)").stdout
    assert str(env_dir) in where, where                 # the wheel's matdiff, not the checkout's
    listing = run("-m", "matdiff", "tutorials")
    assert listing.returncode == 0 and "03 · Wide QR" in listing.stdout and str(env_dir) in listing.stdout
    ran = run("-m", "matdiff", "tutorials", "run", "03")
    assert ran.returncode == 0 and "Q" + BAR + "′" not in ran.stderr and "relative" in ran.stdout
    copied = run("-m", "matdiff", "tutorials", "copy", "mine")
    assert copied.returncode == 0 and (away / "mine" / "03_qr_wide.ipynb").exists()
    assert run("-m", "matdiff", "check", "--fast").returncode == 0
