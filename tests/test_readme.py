"""The README works as written: every ```python block runs, the Quickstart first, in an empty folder; the two
commands open it; it stays short; every relative link in README.md and docs/*.md points at a file that exists.

A block may be skipped only with ``<!-- readme-test: skip (reason) -->`` on the line before it; the reason is
printed by the skip. Keep that rare: a block that needs a GPU, say, not one that fails."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SKIP = re.compile(r"<!--\s*readme-test:\s*skip\s*\((.+)\)\s*-->")
COMMANDS = ["pip install -e . && python -m matdiff check", "pip install -e '.[test]' && pytest"]


def python_blocks(text):
    """[(section heading, first line number, code, skip reason or None)] for every ```python block of ``text``."""
    lines, blocks, section, i = text.splitlines(), [], "", 0
    while i < len(lines):
        if lines[i].startswith("## "):
            section = lines[i][3:].strip()
        if lines[i].strip() == "```python":
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
            skip = SKIP.search(lines[i - 1]) if i else None
            blocks.append((section, i + 2, "\n".join(lines[i + 1:end]) + "\n", skip and skip.group(1)))
            i = end
        i += 1
    return blocks


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


def test_the_readme_opens_with_the_two_commands_and_the_quickstart_comes_first():
    text = README.read_text(encoding="utf-8").splitlines()
    first = text[text.index("```bash") + 1:text.index("```bash") + 3]
    assert [ln.split("  #")[0].strip() for ln in first] == COMMANDS, first
    assert text.index("```bash") < 5, "the two commands are the first thing a reader sees"
    assert BLOCKS and BLOCKS[0][0] == "Quickstart", [b[0] for b in BLOCKS]


@pytest.mark.parametrize("block", BLOCKS, ids=[f"{b[0]}:line{b[1]}" for b in BLOCKS])
def test_each_python_block_of_the_readme_runs(block, tmp_path):
    section, line, code, skip = block
    if skip:
        pytest.skip(f"README block at line {line} ({section}) is marked to skip: {skip}")
    assert not any(tmp_path.iterdir())
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MATDIFF_FIGURES")}
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env=env, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, f"README.md line {line} ({section}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    if section == "Quickstart":             # what it says it writes, it writes (the .svg where dot is installed)
        made = {p.name for p in tmp_path.iterdir()}
        assert {"wide_qr.dot", "wide_qr.html"} <= made, made
        assert "OK" in r.stdout, r.stdout[-2000:]       # the gradcheck and check_adjoint reports print their verdict


def test_the_readme_is_short():
    n = len(README.read_text(encoding="utf-8").splitlines())
    assert n <= 250, f"README.md has {n} lines: move details into docs/ and link them"


def _slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _links(path):
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)   # not inside code blocks
    return re.findall(r"\]\(([^)\s]+)\)", text)


PAGES = [README] + sorted((ROOT / "docs").glob("*.md"))


def broken_links(page):
    """The relative links of ``page`` whose file (or, into a .md page, whose heading) does not exist."""
    broken = []
    for link in _links(page):
        if re.match(r"[a-z]+:", link):                     # http:, https:, mailto:
            continue
        target, _, anchor = link.partition("#")
        dest = (page.parent / target).resolve() if target else page
        if not dest.exists():
            broken.append(link)
        elif anchor and dest.suffix == ".md":
            heads = [_slug(h) for h in re.findall(r"^#+ (.+)$", dest.read_text(encoding="utf-8"), flags=re.M)]
            if anchor not in heads:
                broken.append(f"{link} (no heading #{anchor})")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_to_a_file_that_exists(page):
    assert not broken_links(page), f"{page.relative_to(ROOT)}: {broken_links(page)}"


def test_the_link_checker_finds_a_missing_file_and_a_missing_heading(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# A heading\nsee [this](missing.md), [that](page.md#nowhere), [ok](page.md#a-heading), "
                    "[web](https://example.org/x)\n```\n[in code](ignored.md)\n```\n")
    assert broken_links(page) == ["missing.md", "page.md#nowhere (no heading #nowhere)"]


def test_the_tutorials_table_lists_every_tutorial():
    rows = re.findall(r"^\| (\d\d) \|", README.read_text(encoding="utf-8"), flags=re.M)
    assert rows == sorted(p.name[:2] for p in (ROOT / "tutorials").glob("[0-9][0-9]_*.py")), rows
