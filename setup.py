"""Packaging glue: the wheel ships the tutorials (scripts and notebooks) inside the package, as
``matdiff/tutorials/``; their source stays the top-level ``tutorials/`` folder. Everything else is in setup.cfg."""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildWithTutorials(build_py):
    def run(self):
        super().run()
        dest = Path(self.build_lib) / "matdiff" / "tutorials"
        dest.mkdir(parents=True, exist_ok=True)
        for src in sorted((HERE / "tutorials").glob("[0-9][0-9]_*")):
            if src.suffix in (".py", ".ipynb"):
                shutil.copy2(src, dest / src.name)


setup(cmdclass={"build_py": BuildWithTutorials})
