"""md.exercises (issue 23): every reference solution passes; plausible wrong solutions fail and their first hint
names the wrong part; a broken learner function gets a plain sentence; templates import and raise
NotImplementedError; the command line's main(); grading a correct qr takes under a second."""
import json
import linecache
import subprocess
import sys
import time

import numpy as np
import pytest

import matdiff.exercises as ex
from matdiff.teach.exercises.heatmap import block_map, svg_maps


def compile_fn(name, source):
    """The learner's function from ``source`` (run with what a template gives: np, md, paper helpers, given)."""
    ns = ex.namespace()
    filename = f"learner_{name}_{abs(hash(source))}.py"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)   # their lines in reports
    exec(compile(source, filename, "exec"), ns)
    return ns[ex.REGISTRY[name].func]


def test_list_is_the_course_order():
    assert ex.list() == ["matmul", "trace_identity", "qr", "qr_jvp", "qr_wide", "lq", "lq_deep",
                         "complex_correction", "pivoting", "figure2"]


@pytest.mark.parametrize("name", ex.list())
def test_reference_solution_passes(name):
    g = ex.grade(name, compile_fn(name, ex.REGISTRY[name].solution))
    assert g.ok, str(g)
    assert g.checks and all(c.ok for c in g.checks)
    kinds = {c.case.split()[0] for c in g.checks}
    assert kinds == {"real", "complex"}                      # real and complex inputs were graded
    assert "✓ all" in str(g) and len(str(g).splitlines()) <= 40


def test_grading_covers_shapes_batches_and_probes():
    g = ex.grade("qr", compile_fn("qr", ex.REGISTRY["qr"].solution))
    labels = {c.case for c in g.checks}
    assert any("square" in c for c in labels) and any("deep" in c for c in labels)
    assert any("batch" in c for c in labels)
    assert {c.probe for c in g.checks} == {"all", "Qbar = 0", "Rbar = 0"}
    assert max(c.err_true for c in g.checks) < 1e-7           # agrees with central differences of the forward
    assert "trace identity (Eq 2)" in str(g)


def test_correct_qr_grades_in_under_a_second():
    fn = compile_fn("qr", ex.REGISTRY["qr"].solution)
    ex.grade("qr", fn)                                         # the cases are built once per process
    t = time.perf_counter()
    assert ex.grade("qr", fn).ok
    assert time.perf_counter() - t < 1.0


# -- wrong solutions: (exercise, what is wrong, source, words the first hint must contain) ------------------------
M_QR = "M = R @ mH(Rbar) - mH(Qbar) @ Q\n    "
WRONG = [
    ("qr", "sign of Qbar in M", "def vjp(Q, R, Qbar, Rbar):\n    M = R @ mH(Rbar) + mH(Qbar) @ Q\n"
     "    return solve_right(Qbar + Q @ hcopyltu(M), mH(R))", "Q̄ term"),
    ("qr", "missing conjugate on Rbar", "def vjp(Q, R, Qbar, Rbar):\n    M = R @ np.swapaxes(Rbar, -1, -2) - "
     "mH(Qbar) @ Q\n    return solve_right(Qbar + Q @ hcopyltu(M), mH(R))", "R̄ term"),
    ("qr", "copyltu for hcopyltu", "def vjp(Q, R, Qbar, Rbar):\n    " + M_QR +
     "return solve_right(Qbar + Q @ copyltu(M), mH(R))", "hcopyltu"),
    ("qr", "R^-1 for R^-H", "def vjp(Q, R, Qbar, Rbar):\n    " + M_QR +
     "return solve_right(Qbar + Q @ hcopyltu(M), R)", "R⁻ᴴ"),
    ("qr", "missing Qbar term", "def vjp(Q, R, Qbar, Rbar):\n    " + M_QR +
     "return solve_right(Q @ hcopyltu(M), mH(R))", "Q̄ term"),
    ("qr", "the wrong triangle", "def vjp(Q, R, Qbar, Rbar):\n    " + M_QR +
     "return solve_right(Qbar + Q @ hcopyltu(mH(M)), mH(R))", "hcopyltu(M)"),
    ("qr_jvp", "E for E^T", "def jvp(Q, R, dA):\n    C = solve_right(mH(Q) @ dA, R)\n"
     "    dR = (symh(C) * E(R.shape[-1])) @ R\n    return solve_right(dA - Q @ dR, R), dR", "dR"),
    ("qr_jvp", "sym for symh", "def jvp(Q, R, dA):\n    C = solve_right(mH(Q) @ dA, R)\n"
     "    dR = (sym(C) * E(R.shape[-1]).T) @ R\n    return solve_right(dA - Q @ dR, R), dR", "symh"),
    ("qr_jvp", "a sign in dQ", "def jvp(Q, R, dA):\n    C = solve_right(mH(Q) @ dA, R)\n"
     "    dR = (symh(C) * E(R.shape[-1]).T) @ R\n    return solve_right(dA + Q @ dR, R), dR", "dQ"),
    ("qr_jvp", "R^-H for R^-1 in C", "def jvp(Q, R, dA):\n    C = solve_right(mH(Q) @ dA, mH(R))\n"
     "    dR = (symh(C) * E(R.shape[-1]).T) @ R\n    return solve_right(dA - Q @ dR, R), dR", "dR"),
    ("qr_jvp", "missing conjugate on Q", "def jvp(Q, R, dA):\n    C = solve_right(np.swapaxes(Q, -1, -2) @ dA, R)\n"
     "    dR = (symh(C) * E(R.shape[-1]).T) @ R\n    return solve_right(dA - Q @ dR, R), dR", "complex"),
]
W_HEAD = ("def vjp(A, Q, R, Qbar, Rbar):\n    m = A.shape[-2]\n"
          "    Y, U, Ubar, Vbar = A[..., m:], R[..., :m], Rbar[..., :m], Rbar[..., m:]\n")
L_HEAD = ("def vjp(A, L, Q, Lbar, Qbar):\n    n = A.shape[-1]\n"
          "    Y, U, Ubar, Vbar = A[..., n:, :], L[..., :n, :], Lbar[..., :n, :], Lbar[..., n:, :]\n")
M_LQ = "M = mH(L) @ Lbar - Qbar @ mH(Q)\n    "
WRONG += [
    ("qr_wide", "missing Y Vbar^H", W_HEAD + "    return np.concatenate([qr_vjp(Q, U, Qbar, Ubar), Q @ Vbar], axis=-1)",
     "Q̄′"),
    ("qr_wide", "Q^H Vbar for Q Vbar", W_HEAD + "    return np.concatenate([qr_vjp(Q, U, Qbar + Y @ mH(Vbar), Ubar), "
     "mH(Q) @ Vbar], axis=-1)", "Ȳ"),
    ("qr_wide", "Y Vbar^T (no conjugate)", W_HEAD + "    return np.concatenate([qr_vjp(Q, U, Qbar + Y @ "
     "np.swapaxes(Vbar, -1, -2), Ubar), Q @ Vbar], axis=-1)", "Q̄′"),
    ("qr_wide", "copyltu in the square part", W_HEAD +
     "    Qp = Qbar + Y @ mH(Vbar)\n    M = U @ mH(Ubar) - mH(Qp) @ Q\n"
     "    Xbar = solve_right(Qp + Q @ copyltu(M), mH(U))\n    return np.concatenate([Xbar, Q @ Vbar], axis=-1)",
     "hcopyltu"),
    ("qr_wide", "Qbar for Qbar' inside M", W_HEAD +
     "    Qp = Qbar + Y @ mH(Vbar)\n    M = U @ mH(Ubar) - mH(Qbar) @ Q\n"
     "    Xbar = solve_right(Qp + Q @ hcopyltu(M), mH(U))\n    return np.concatenate([Xbar, Q @ Vbar], axis=-1)",
     "Q̄′"),
    ("lq", "sign of Qbar in M", "def vjp(L, Q, Lbar, Qbar):\n    M = mH(L) @ Lbar + Qbar @ mH(Q)\n"
     "    return np.linalg.solve(mH(L), Qbar + hcopyltu(M) @ Q)", "Q̄ term"),
    ("lq", "L^-1 for L^-H", "def vjp(L, Q, Lbar, Qbar):\n    " + M_LQ +
     "return np.linalg.solve(L, Qbar + hcopyltu(M) @ Q)", "L⁻ᴴ"),
    ("lq", "copyltu for hcopyltu", "def vjp(L, Q, Lbar, Qbar):\n    " + M_LQ +
     "return np.linalg.solve(mH(L), Qbar + copyltu(M) @ Q)", "hcopyltu"),
    ("lq", "missing Qbar term", "def vjp(L, Q, Lbar, Qbar):\n    " + M_LQ +
     "return np.linalg.solve(mH(L), hcopyltu(M) @ Q)", "Q̄ term"),
    ("lq", "missing conjugate on L", "def vjp(L, Q, Lbar, Qbar):\n"
     "    M = np.swapaxes(L, -1, -2) @ Lbar - Qbar @ mH(Q)\n"
     "    return np.linalg.solve(mH(L), Qbar + hcopyltu(M) @ Q)", "L̄ term"),
    ("lq_deep", "missing Vbar^H Y", L_HEAD + "    return np.concatenate([lq_vjp(U, Q, Ubar, Qbar), Vbar @ Q], axis=-2)",
     "Q̄′"),
    ("lq_deep", "Vbar Q^H for Vbar Q", L_HEAD + "    return np.concatenate([lq_vjp(U, Q, Ubar, Qbar + mH(Vbar) @ Y), "
     "Vbar @ mH(Q)], axis=-2)", "Ȳ"),
    ("lq_deep", "Vbar^T Y (no conjugate)", L_HEAD + "    return np.concatenate([lq_vjp(U, Q, Ubar, Qbar + "
     "np.swapaxes(Vbar, -1, -2) @ Y), Vbar @ Q], axis=-2)", "Q̄′"),
    ("lq_deep", "U^-1 for U^-H", L_HEAD + "    Qp = Qbar + mH(Vbar) @ Y\n    M = mH(U) @ Ubar - Qp @ mH(Q)\n"
     "    Xbar = np.linalg.solve(U, Qp + hcopyltu(M) @ Q)\n    return np.concatenate([Xbar, Vbar @ Q], axis=-2)",
     "L⁻ᴴ"),
]
CC_HEAD = ("def vjp(Q, R, Qbar, Rbar):\n    M = R @ mH(Rbar) - mH(Qbar) @ Q\n"
           "    d = np.diagonal(M, axis1=-2, axis2=-1)[..., None] * np.eye(M.shape[-1])\n")
CC_TAIL = "    return Q @ Rbar + solve_right(Q @ inner + Qbar - Q @ (mH(Q) @ Qbar), mH(R))"
WRONG += [
    ("complex_correction", "no correction", CC_HEAD + "    inner = P_L(M.shape[-1]) * (M - mH(M))\n" + CC_TAIL,
     "correction"),
    ("complex_correction", "correction with the wrong sign", CC_HEAD +
     "    inner = P_L(M.shape[-1]) * (M - mH(M)) - 1j * np.imag(d)\n" + CC_TAIL, "correction"),
    ("complex_correction", "Im(diag M) without the i", CC_HEAD +
     "    inner = P_L(M.shape[-1]) * (M - mH(M)) + np.imag(d)\n" + CC_TAIL, "correction"),
    ("complex_correction", "E for P_L", CC_HEAD + "    inner = E(M.shape[-1]) * (M - mH(M)) + 1j * np.imag(d)\n"
     + CC_TAIL, "hcopyltu(M)"),
    ("complex_correction", "missing the Q Q^H Qbar term", CC_HEAD +
     "    inner = P_L(M.shape[-1]) * (M - mH(M)) + 1j * np.imag(d)\n"
     "    return Q @ Rbar + solve_right(Q @ inner + Qbar, mH(R))", "Q̄ term"),
    ("pivoting", "P for P^T", "def vjp(Q, R, P, Qbar, Rbar):\n    return qr_vjp(Q, R, Qbar, Rbar) @ P", "Pᵀ"),
    ("pivoting", "P forgotten", "def vjp(Q, R, P, Qbar, Rbar):\n    return qr_vjp(Q, R, Qbar, Rbar)", "permutation"),
    ("pivoting", "P on the left", "def vjp(Q, R, P, Qbar, Rbar):\n    return P.T @ qr_vjp(Q, R, Qbar, Rbar)",
     "permutation"),
    ("pivoting", "Qbar and Rbar swapped", "def vjp(Q, R, P, Qbar, Rbar):\n    return qr_vjp(Q, R, Rbar, Qbar) @ P.T",
     "QR part"),
]
F_HEAD = "def qr_wide(A):\n    m = A.shape[-2]\n    X, Y = md.split(A, indices=[m], axis=-1)\n    Q, U = md.qr(X)\n"
WRONG += [
    ("figure2", "transpose for adjoint",
     F_HEAD + "    return Q, md.concat([U, md.matmul(md.transpose(Q), Y)], axis=-1)",
     "adjoint"),
    ("figure2", "R = [U|Y]", F_HEAD + "    return Q, md.concat([U, Y], axis=-1)", "V = Qᴴ Y"),
    ("figure2", "md.qr of the wide A", "def qr_wide(A):\n    return tuple(md.qr(A))", "Split A first"),
    ("figure2", "V computed outside the graph", F_HEAD + "    V = md.tensor(mH(Q.data) @ Y.data)\n"
     "    return Q, md.concat([U, V], axis=-1)", "graph"),
]


@pytest.mark.parametrize("name,what,source,words", WRONG, ids=[f"{w[0]}: {w[1]}" for w in WRONG])
def test_wrong_solution_fails_and_hint_names_the_part(name, what, source, words):
    g = ex.grade(name, compile_fn(name, source))
    assert not g.ok
    assert words in g.hint(1), f"{what}: part {g.part!r}, hint 1: {g.hint(1)}\n{g}"
    assert g.hint(2) and g.hint(3) and g.hint(2) != g.hint(1)
    assert ex.REGISTRY[name].solution.strip().splitlines()[-1].strip() not in "\n".join(g.hint(i) for i in (1, 2, 3))
    assert len(str(g).splitlines()) <= 40, str(g)


def test_every_decomposition_exercise_has_four_wrong_solutions():
    counts = {n: sum(w[0] == n for w in WRONG) for n in ex.list()}
    for name in ("qr", "qr_jvp", "qr_wide", "lq", "lq_deep", "complex_correction", "pivoting", "figure2"):
        assert counts[name] >= 4, name


# -- a learner function that cannot be graded: a plain sentence, no traceback from matdiff ------------------------
BROKEN = [
    ("raises", "def vjp(Q, R, Qbar, Rbar):\n    return Q[:, 9]", ["raised IndexError", "line 2: return Q[:, 9]"]),
    ("wrong shape", "def vjp(Q, R, Qbar, Rbar):\n    return R[..., :1]", ["has shape (4, 1), expected (4, 4)"]),
    ("NaN", "def vjp(Q, R, Qbar, Rbar):\n    return Qbar / 0", ["NaN or inf"]),
    ("None", "def vjp(Q, R, Qbar, Rbar):\n    Qbar + Q", ["returned None", "return"]),
    ("not an array", "def vjp(Q, R, Qbar, Rbar):\n    return 'Abar'", ["NumPy array of numbers"]),
    ("complex for real", "def vjp(Q, R, Qbar, Rbar):\n    return 1j * Qbar", ["complex where a real result"]),
    (".T on a batch", "def vjp(Q, R, Qbar, Rbar):\n    M = R @ Rbar.conj().T - Qbar.conj().T @ Q\n"
     "    return solve_right(Qbar + Q @ hcopyltu(M), R.conj().T)", ["raised ValueError", "not .T"]),
]


@pytest.mark.parametrize("what,source,words", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_learner_function_gets_a_plain_explanation(what, source, words):
    g = ex.grade("qr", compile_fn("qr", source))
    text = str(g)
    assert not g.ok and g.problem and g.part == "call"
    for w in words:
        assert w in text, text
    assert "Traceback" not in text and "matdiff/" not in text
    assert len(text.splitlines()) <= 40


def test_an_endless_loop_is_stopped_and_explained(monkeypatch):
    from matdiff.teach.exercises import grader
    monkeypatch.setattr(grader, "TIME_LIMIT", 0.3)
    source = ("def vjp(Q, R, Qbar, Rbar):\n    while True:\n        try:\n            pass\n"
              "        except Exception:\n            pass")
    g = ex.grade("qr", compile_fn("qr", source))
    assert not g.ok and g.part == "call"
    assert "ran for more than 0.3 s" in str(g) and "loop" in str(g)


def test_a_raise_after_failures_keeps_the_diagnosis_and_says_so():
    g = ex.grade("qr", compile_fn("qr", "def vjp(Q, R, Qbar, Rbar):\n    return np.linalg.solve(Q, Qbar)"))
    assert g.part != "call" and g.problem is None               # the square cases failed first: diagnosed
    assert "then, on the real deep 6x3 case: `vjp` raised LinAlgError" in str(g)


def test_an_array_where_one_number_is_expected_is_explained():
    fn = compile_fn("trace_identity", "def pairing(X, dX):\n    return np.sum(X * dX, axis=0)")
    g = ex.grade("trace_identity", fn)
    assert "expected ()" in str(g) and "return one number" in str(g)


def test_wrong_count_of_outputs_is_explained():
    g = ex.grade("matmul", compile_fn("matmul", "def vjp(A, B, Cbar):\n    return Cbar @ mH(B)"))
    assert "should return 2 arrays (Abar, Bbar)" in str(g)


def test_grade_refuses_unknown_exercise_and_non_function():
    with pytest.raises(ex_errors().MatdiffError, match="no exercise 'qrr'"):
        ex.grade("qrr", print)
    with pytest.raises(ex_errors().MatdiffError, match="fn must be your function"):
        ex.grade("qr", "vjp")


def ex_errors():
    import matdiff
    return matdiff


# -- localisation: the structure finding and the heat map ----------------------------------------------------------
def test_structure_names_the_triangle_and_the_heat_map_shows_the_error():
    wrong = next(w for w in WRONG if w[1] == "the wrong triangle")
    g = ex.grade("qr", compile_fn("qr", wrong[2]))
    assert "strict lower triangle" in g.where and "diagonal" not in g.where     # the diagonal was right
    assert "strict lower triangle" in g.hint(2) and "Eq 3" in g.hint(2)
    pic = g.heatmap()
    assert "█" in pic and "|true|" in pic
    svg = g._repr_svg_()
    assert svg.startswith("<svg") and svg.count("<rect") == 2 * 16               # two 4x4 maps
    page = g._repr_html_()                                                       # Jupyter: text + inline SVG
    assert page.startswith("<pre>") and "<svg" in page and "█" not in page and "hint 1:" in page
    assert repr(g) == str(g)


def test_complex_only_error_is_localised_to_the_imaginary_diagonal():
    wrong = next(w for w in WRONG if w[1] == "copyltu for hcopyltu")
    g = ex.grade("qr", compile_fn("qr", wrong[2]))
    real = [c for c in g.checks if c.case.startswith("real")]
    assert real and all(c.ok for c in real)                      # real input: copyltu is hcopyltu
    assert "diagonal (imaginary part)" in g.where and "diagonal (real part)" not in g.where


def test_qbar_probe_localises_a_term():
    wrong = next(w for w in WRONG if w[1] == "missing Qbar term")
    g = ex.grade("qr", compile_fn("qr", wrong[2]))
    by = {(c.case, c.probe): c.ok for c in g.checks}
    assert by["real square 4x4", "Qbar = 0"] and not by["real square 4x4", "Rbar = 0"]


def test_hint_levels_grow_and_solution_only_on_request():
    wrong = next(w for w in WRONG if w[1] == "sign of Qbar in M")
    fn = compile_fn("qr", wrong[2])
    g = ex.grade("qr", fn)
    assert g.solution is None and "solution:" not in str(g)
    assert "Eq 3" in g.hint(2) and g.hint(3) not in (g.hint(1), g.hint(2))
    assert "hint 2:" not in str(g) and "hint 2:" in str(ex.grade("qr", fn, hint=2))
    s = str(ex.grade("qr", fn, solution=True))
    assert "solution:" in s and "hcopyltu(M), mH(R)" in s


def test_grading_is_deterministic():
    wrong = next(w for w in WRONG if w[1] == "R^-1 for R^-H")
    fn = compile_fn("qr", wrong[2])
    assert str(ex.grade("qr", fn)) == str(ex.grade("qr", fn))


def test_heatmap_scales_to_the_larger_map():
    text = block_map("x", np.zeros((2, 2)), np.ones((2, 2)))
    assert text.count("█") == 4 * 2 + 1 and "scale: █ = 1" in text   # no error: the error map is blank
    assert svg_maps("x", np.ones((1, 3)), np.ones((1, 3))).count("<rect") == 6


# -- start: templates and notebooks -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ex.list())
def test_start_writes_a_template_that_imports_raises_and_grades_kindly(name, tmp_path):
    from matdiff.teach.exercises.cli import load
    py, nb = ex.start(name, str(tmp_path))
    e = ex.REGISTRY[name]
    text = open(py, encoding="utf-8").read()
    assert e.equation in text and e.signature in text and "raise NotImplementedError" in text
    fn = load(py, e.func)
    assert callable(fn)
    with pytest.raises(NotImplementedError):
        fn(*([np.eye(3)] * len(e.signature.split("(")[1].split(")")[0].split(","))))
    g = ex.grade(name, fn)
    assert not g.ok and "not implemented yet" in str(g) and "Traceback" not in str(g)
    assert len(str(g).splitlines()) <= 6


@pytest.mark.parametrize("name", ["qr", "figure2"])
def test_notebook_version_is_valid_and_its_cells_define_the_stub(name, tmp_path):
    import nbformat
    _, nb = ex.start(name, str(tmp_path))
    book = nbformat.read(nb, as_version=4)
    nbformat.validate(book)
    ns = {}
    for cell in book.cells[1:3]:
        assert cell.cell_type == "code"
        exec(cell.source, ns)
    assert callable(ns[ex.REGISTRY[name].func])
    assert "ex.grade(" in book.cells[3].source


def test_filled_template_passes_and_start_never_overwrites(tmp_path):
    from matdiff.teach.exercises.cli import load
    py, _ = ex.start("qr", str(tmp_path))
    src = open(py, encoding="utf-8").read().split("# -- your rule --")[0] + ex.REGISTRY["qr"].solution
    open(py, "w", encoding="utf-8").write(src)
    assert ex.start("qr", str(tmp_path))[0] == py and open(py, encoding="utf-8").read() == src
    assert ex.grade("qr", load(py, "vjp")).ok


# -- main: the command line the coordinator wires to `python -m matdiff exercises` --------------------------------
def test_main_list_start_check(tmp_path, capsys):
    assert ex.main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(n in out for n in ex.list()) and "vjp(Q, R, Qbar, Rbar) -> Abar" in out
    assert ex.main(["start", "lq", str(tmp_path)]) == 0
    assert (tmp_path / "lq.py").exists() and (tmp_path / "lq.ipynb").exists()
    capsys.readouterr()
    assert ex.main(["check", "lq", str(tmp_path / "lq.py")]) == 1
    assert "not implemented yet" in capsys.readouterr().out


def test_main_check_hint_levels_and_solution(tmp_path, capsys):
    wrong = tmp_path / "qr.py"
    wrong.write_text("from matdiff.exercises import mH, solve_right\nfrom matdiff.paper import copyltu\n\n"
                     "def vjp(Q, R, Qbar, Rbar):\n    M = R @ mH(Rbar) - mH(Qbar) @ Q\n"
                     "    return solve_right(Qbar + Q @ copyltu(M), mH(R))\n")
    assert ex.main(["check", "qr", str(wrong)]) == 1
    out = capsys.readouterr().out
    assert "hint 1: hcopyltu" in out and "hint 2:" not in out and "solution:" not in out
    assert ex.main(["check", "qr", str(wrong), "--hint", "3"]) == 1
    out = capsys.readouterr().out
    assert "hint 2:" in out and "hint 3:" in out and "Section 4.2" in out
    assert ex.main(["check", "qr", str(wrong), "--solution"]) == 1
    assert "solution:" in capsys.readouterr().out
    right = tmp_path / "right.py"
    right.write_text("import numpy as np\nfrom matdiff.exercises import mH, solve_right\n"
                     "from matdiff.paper import hcopyltu\n\n" + ex.REGISTRY["qr"].solution)
    assert ex.main(["check", "qr", str(right)]) == 0
    assert "✓ all" in capsys.readouterr().out


@pytest.mark.parametrize("argv,words", [
    (["check", "nope", "x.py"], "no exercise 'nope'"),
    (["check", "qr", "/nonexistent/qr.py"], "no file"),
    (["check", "qr", "{bad}"], "at line 1"),
    (["check", "qr", "{nofunc}"], "defines no function `vjp`"),
])
def test_main_check_refuses_plainly(argv, words, tmp_path, capsys):
    (tmp_path / "bad.py").write_text("def vjp(Q, R, Qbar, Rbar)\n    return Q\n")
    (tmp_path / "nofunc.py").write_text("x = 1\n")
    argv = [a.format(bad=tmp_path / "bad.py", nofunc=tmp_path / "nofunc.py") for a in argv]
    assert ex.main(argv) == 1
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_main_bad_usage_returns_nonzero(capsys):
    assert ex.main(["check", "qr"]) == 2
    assert "usage" in capsys.readouterr().err


def test_cold_grade_of_a_correct_qr_in_a_fresh_process_is_fast():
    code = ("import time, matdiff.exercises as ex; ns = ex.namespace(); exec(ex.REGISTRY['qr'].solution, ns)\n"
            "t = time.perf_counter(); g = ex.grade('qr', ns['vjp'])\n"
            "print(json.dumps([g.ok, time.perf_counter() - t]))")
    out = subprocess.run([sys.executable, "-c", "import json\n" + code], capture_output=True, text=True, check=True)
    ok, seconds = json.loads(out.stdout)
    assert ok and seconds < 1.0


@pytest.mark.parametrize("name", ex.list())
def test_a_scaled_reference_fails_every_exercise_without_crashing_the_grader(name):
    right = compile_fn(name, ex.REGISTRY[name].solution)

    def scaled(*args):
        out = right(*args)
        return tuple(1.5 * o for o in out) if isinstance(out, tuple) else 1.5 * out
    g = ex.grade(name, scaled)
    assert not g.ok and g.hint(1) and g.hint(3)
    assert len(str(ex.grade(name, scaled, hint=3))) and len(str(g).splitlines()) <= 40


BASICS = [
    ("trace_identity", "def pairing(X, dX):\n    return float(np.trace(X @ dX))", "transpose"),
    ("trace_identity", "def pairing(X, dX):\n    return float(np.real(np.sum(X * dX)))", "conjugate X"),
    ("trace_identity", "def pairing(X, dX):\n    return np.sum(np.conj(X) * dX)", "np.real"),
    ("trace_identity", "def pairing(X, dX):\n    return float(np.real(np.trace(mH(X) @ dX)))", "axis1=-2"),
    ("matmul", "def vjp(A, B, Cbar):\n    return Cbar @ np.swapaxes(B, -1, -2), np.swapaxes(A, -1, -2) @ Cbar",
     "adjoint"),
    ("matmul", "def vjp(A, B, Cbar):\n    return Cbar @ mH(B), 2 * mH(A) @ Cbar", "B̄"),
    ("matmul", "def vjp(A, B, Cbar):\n    return Cbar @ B.conj().T, A.conj().T @ Cbar", "not .T"),
]


@pytest.mark.parametrize("name,source,words", BASICS, ids=[b[1].splitlines()[1].strip() for b in BASICS])
def test_wrong_basics_fail_with_a_pointed_first_hint(name, source, words):
    g = ex.grade(name, compile_fn(name, source))
    assert not g.ok and words in g.hint(1), str(g)
