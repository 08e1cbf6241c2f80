"""matdiff's layers import only downward and no import closes a circle (the table: ``matdiff/layers.py``).

The import graph is built from the source with ``ast`` -- every ``import`` and ``from ... import``, at module level
and inside functions, relative and absolute; ``import matdiff`` is an import of the package top (the tools layer).
``from X import n`` is an edge to the module ``X.n`` where that is a module, else to ``X``; a package's implicit
load of its parent ``__init__`` is not an edge (Python's own doing, not the code's)."""
import ast
from pathlib import Path

import pytest

import matdiff as md
from matdiff.layers import LAYERS, UPWARD, layer_of

PKG = Path(md.__file__).resolve().parent


def _modules():
    """dotted name -> path, for every module of the package."""
    out = {}
    for p in sorted(PKG.rglob("*.py")):
        parts = ("matdiff",) + p.relative_to(PKG).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


MODULES = _modules()


def _target(base, name):
    sub = f"{base}.{name}" if name else base
    return sub if sub in MODULES else base


def imports_of(module, path):
    """The matdiff modules ``module`` imports (anywhere in the file), each with the line of the import."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "matdiff"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{base}.{node.module}" if node.module else base
            elif (node.module or "").split(".")[0] == "matdiff":
                base = node.module
            else:
                continue
            out += [(_target(base, a.name), node.lineno) for a in node.names]
    return [(t, line) for t, line in out if t != module]


def graph():
    return {m: imports_of(m, p) for m, p in MODULES.items()}


def test_every_module_has_a_layer_and_the_graph_sees_function_level_imports():
    for m in MODULES:
        assert layer_of(m) in LAYERS
    g = graph()
    assert any(t == "matdiff.errors" for t, _ in g["matdiff.engine.tape"])
    # a function-level import, and `import matdiff`, are seen (both are the exceptions' own shape)
    assert "matdiff" in [t for t, _ in g["matdiff.teach.exercises.templates"]]


def test_no_module_imports_a_higher_layer():
    rank = {name: k for k, name in enumerate(LAYERS)}
    wrong = [f"{m} ({layer_of(m)}) imports {t} ({layer_of(t)}) at line {line}"
             for m, edges in graph().items() for t, line in edges
             if rank[layer_of(t)] > rank[layer_of(m)] and (m, t) not in UPWARD]
    assert not wrong, "\n".join(wrong)


def test_the_named_exceptions_exist_and_say_why():
    g = graph()
    for (m, t), why in UPWARD.items():
        assert t in [x for x, _ in g[m]], f"{m} no longer imports {t}: remove the exception from matdiff/layers.py"
        assert len(why) > 40


def _circle(g):
    """One circle of ``g`` (a list of modules, first == last) or None -- a depth-first search, by a loop."""
    state = {}
    for start in g:
        if start in state:
            continue
        stack, path = [(start, iter(g[start]))], [start]
        state[start] = "open"
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = "done"
                stack.pop()
                path.pop()
            elif state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            elif nxt not in state:
                state[nxt] = "open"
                stack.append((nxt, iter(g[nxt])))
                path.append(nxt)
    return None


def test_no_import_closes_a_circle():
    g = {m: sorted({t for t, _ in edges if (m, t) not in UPWARD}) for m, edges in graph().items()}
    circle = _circle(g)
    assert circle is None, " -> ".join(circle)


@pytest.mark.parametrize("g, has", [({"a": ["b"], "b": ["c"], "c": ["a"]}, True), ({"a": ["b", "c"], "b": ["c"],
                                                                                   "c": []}, False)])
def test_the_circle_search_finds_a_circle_and_only_a_circle(g, has):
    assert (_circle(g) is not None) == has


def test_a_new_top_level_module_needs_its_row():
    with pytest.raises(KeyError, match="add it to MODULES"):
        layer_of("matdiff.something_new")
    assert layer_of("matdiff") == "tools" and layer_of("matdiff.ops.qr") == "ops"
