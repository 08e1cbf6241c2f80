"""The tutorials as notebooks: the committed .ipynb files are the scripts' current cells, and each one runs
top to bottom in a real Jupyter kernel (nbclient + ipykernel), as a learner opening it in Jupyter would, and shows
its drawings inline (SVG) and its backward stepper inline (HTML) -- not the paths of files."""
import importlib.util
import shutil
from pathlib import Path

import pytest

TUTORIALS = Path(__file__).resolve().parent.parent / "tutorials"
SCRIPTS = sorted(TUTORIALS.glob("[0-9][0-9]_*.py"))

jupytext = pytest.importorskip("jupytext")
nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")


def _maker():
    spec = importlib.util.spec_from_file_location("make_notebooks", TUTORIALS / "make_notebooks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_every_tutorial_has_an_up_to_date_notebook():
    make = _maker()
    assert len(SCRIPTS) >= 9
    for script in SCRIPTS:
        nb = script.with_suffix(".ipynb")
        assert nb.exists(), f"{nb.name} is missing: run python tutorials/make_notebooks.py"
        assert nb.read_text(encoding="utf-8") == make.notebook_text(script), \
            f"{nb.name} is out of date with {script.name}: run python tutorials/make_notebooks.py"


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem[:2] for s in SCRIPTS])
def test_each_notebook_runs_in_a_jupyter_kernel(script, tmp_path, monkeypatch):
    if script.stem.startswith("11"):                  # tutorial 11 is matdiff inside PyTorch and JAX
        pytest.importorskip("torch")
        pytest.importorskip("jax")
    monkeypatch.setenv("MATDIFF_FIGURES", str(tmp_path))
    nb = nbformat.read(script.with_suffix(".ipynb"), as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()                       # raises CellExecutionError on the first failing cell
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "===" in text and ("OK" in text or script.stem.startswith("09"))
    pictures = [kind for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                for kind in o.get("data", {}) if kind in ("image/svg+xml", "text/html")]
    source = script.read_text(encoding="utf-8")
    draws, pages = source.count("md.draw("), source.count("steps=True")
    if draws and shutil.which("dot"):
        assert pictures, f"{script.name} draws, yet its notebook shows no picture (only text)"
        assert draws == pages or "image/svg+xml" in pictures, f"{script.name}: a drawing, yet no SVG: {pictures}"
        assert not pages or "text/html" in pictures, f"{script.name}: a stepper page, yet no HTML: {pictures}"
        assert "drew " not in text and "in a browser" not in text      # shown inline, not named as a file
    else:
        assert not pictures
