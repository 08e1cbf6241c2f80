"""Tutorials, drawing, the step-by-step trace and the code's shape (the command line: test_cli.py)."""
from pathlib import Path

import numpy as np

import matdiff as md
from matdiff.testing import leaf

ROOT = Path(__file__).resolve().parent.parent
TUTORIALS = sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))


def test_there_are_ten_numbered_tutorials():
    assert [p.name[:2] for p in TUTORIALS] == [f"{i:02d}" for i in range(1, 11)]


# Each tutorial runs top to bottom (stepped, Enter answered at every pause) in tests/test_tutorial_steps.py.


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


def test_backward_trace_prints_each_node_with_its_adjoints(capsys):
    A = leaf((3, 2), name="A")
    Q, R = md.qr(A)
    md.sum(R * R).backward(trace=True)
    out = capsys.readouterr().out
    assert out.index("sum") < out.index("mul") < out.index("qr")       # reverse execution order
    assert "── node #1 qr: A = Q R" in out and "── node #3 sum" in out            # numbered from #1 in this graph
    assert "Eq 3" in out and "R\u0304: shape (2, 2)" in out and "A\u0304 (this node's part): shape (3, 2)" in out
    assert "[]" not in out                      # sum and mul cite no source: no empty brackets


def test_a_float_scalar_meets_an_integer_tensor_as_numpy_does():
    """int tensor + 2.5 is float64 [3.5, 4.5] (NumPy's promotion), never silently truncated to [3, 4]."""
    T = md.tensor(np.array([1, 2]))
    assert np.array_equal((T + 2.5).numpy(), [3.5, 4.5]) and (T + 2).dtype == T.dtype
    assert np.array_equal((T * 0.5).numpy(), [0.5, 1.0]) and np.array_equal((T - 0.5).numpy(), [0.5, 1.5])


def test_tensor_to_same_device_and_numpy_roundtrip():
    A = leaf((2, 2))
    assert A.to("cpu") is A
    np.testing.assert_array_equal(A.numpy(), A.data)


def test_the_public_api_has_type_hints_and_a_py_typed_marker():
    import inspect
    from pathlib import Path
    public = [md.tensor, md.qr, md.lq, md.backward, md.grad, md.jvp, md.gradcheck, md.check_adjoint, md.register,
              md.draw, md.matmul, md.split, md.concat, md.permute, md.sum, md.solve_triangular, md.Tensor.backward,
              md.Tensor.to, md.Tensor.numpy]
    for fn in public:
        sig = inspect.signature(fn)
        assert sig.return_annotation is not inspect.Signature.empty, fn.__name__
        assert all(p.annotation is not inspect.Parameter.empty for n, p in sig.parameters.items() if n != "self"), \
            fn.__name__
    assert (Path(md.__file__).parent / "py.typed").exists()


def test_no_function_in_matdiff_is_longer_than_50_lines():
    import ast
    from pathlib import Path
    long = []
    for p in Path(md.__file__).parent.rglob("*.py"):
        for n in ast.walk(ast.parse(p.read_text())):
            if isinstance(n, ast.FunctionDef) and n.end_lineno - n.lineno + 1 > 50:
                long.append(f"{p.name}:{n.name} ({n.end_lineno - n.lineno + 1} lines)")
    assert not long, long


def test_the_backward_sweep_reads_in_one_sitting():
    import inspect

    from matdiff.engine import sweeps
    assert len(inspect.getsource(sweeps.backward_sweep).splitlines()) <= 30
