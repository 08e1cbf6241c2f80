"""The code's shape: the public API has type hints (and a py.typed marker); no function in matdiff is longer than
50 lines. (The layers and their import rule: test_layers.py.)"""
import ast
import inspect
from pathlib import Path

import matdiff as md


def test_the_public_api_has_type_hints_and_a_py_typed_marker():
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
    long = []
    for p in Path(md.__file__).parent.rglob("*.py"):
        for n in ast.walk(ast.parse(p.read_text())):
            if isinstance(n, ast.FunctionDef) and n.end_lineno - n.lineno + 1 > 50:
                long.append(f"{p.name}:{n.name} ({n.end_lineno - n.lineno + 1} lines)")
    assert not long, long
