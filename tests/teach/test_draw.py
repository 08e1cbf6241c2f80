"""``md.draw`` (teach/draw.py over teach/graphviz.py): DOT with forward and dashed adjoint edges, and the DOT file
still written where Graphviz is not installed. (Labels in the paper's notation: test_teaching.py; the stepper's
page: test_stepper.py.)"""
import matdiff as md
from matdiff.testing import leaf


def test_draw_writes_dot_with_forward_and_dashed_adjoint_edges(tmp_path):
    A = leaf((3, 5), name="A")
    Q, R = md.qr(A)
    d = md.draw([Q, R], tmp_path / "fig.svg", title="Figure 2")
    dot = (tmp_path / "fig.dot").read_text()
    assert dot == d.dot and "digraph" in dot
    for label in ("split", "qr", "concat", "Eq 3", "Q\u0304", "R\u0304", "A\u0304 = [X\u0304|Y\u0304]", "style=dashed",
                  "3×5 float64", "Q\u0304′ = Q\u0304 + Y V\u0304ᴴ", "V = Qᴴ Y", "#4 matmul"):
        assert label in dot, label
    if d.files[-1].suffix == ".svg":
        assert (tmp_path / "fig.svg").read_text().lstrip().startswith("<?xml")


def test_draw_without_graphviz_still_writes_dot(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("shutil.which", lambda name: None)
    A = leaf((4, 3), name="A")
    with md.Tape() as tape:
        md.qr(A)
    d = md.draw(tape, tmp_path / "fig.png")
    assert d.files == [tmp_path / "fig.dot"] and "dot -Tpng" in capsys.readouterr().out


def test_draw_sits_above_the_drawing_and_the_stepper_and_steps_returns_the_page(tmp_path):
    from matdiff.teach import draw, graphviz, stepper
    assert md.draw is draw.draw and draw.Drawing is graphviz.Drawing and draw.Steps is stepper.Steps
    A = leaf((3, 2), name="A")
    page = md.draw(md.sum(md.real(A * A)), tmp_path / "s.html", steps=True)
    assert isinstance(page, stepper.Steps) and page.frames >= 2 and page.files == [tmp_path / "s.html"]
