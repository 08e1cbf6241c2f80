"""Build the tutorials' notebooks from their scripts: ``python tutorials/make_notebooks.py`` (needs jupytext).

The ``NN_*.py`` scripts (percent cells) are the source; the ``NN_*.ipynb`` beside them are generated, without
outputs, so plain Jupyter opens every tutorial. ``tests/test_notebooks.py`` fails when they are out of date.
"""
import sys
from pathlib import Path

import jupytext

HERE = Path(__file__).resolve().parent
KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}


def notebook_text(script):
    """The .ipynb text for one tutorial script."""
    nb = jupytext.read(script)
    nb.metadata = {"kernelspec": KERNEL, "language_info": {"name": "python"}}
    for k, cell in enumerate(nb.cells):          # stable ids: the same script gives the same notebook
        cell.id = f"{script.stem[:2]}-{k:02d}"
    return jupytext.writes(nb, fmt="ipynb")


def main():
    for script in sorted(HERE.glob("[0-9][0-9]_*.py")):
        script.with_suffix(".ipynb").write_text(notebook_text(script), encoding="utf-8")
        print("wrote", script.with_suffix(".ipynb").name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
