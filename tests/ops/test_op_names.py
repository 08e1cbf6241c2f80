"""Internal op objects are named apart from the functional spellings and the builtins (issue 20, point 5): the
registered op ``sum`` is ``elementary.sum_op`` (not a ``class sum`` shadowing the builtin), ``md.concat(parts)`` is
the function and ``structural.concat_op(*parts)`` the op it calls."""
import builtins
import importlib

import matdiff as md
from matdiff.engine.op import Op

MODULES = ["elementary", "structural", "solve", "primitives", "qr", "lq"]


def _op_attributes():
    for name in MODULES:
        module = importlib.import_module(f"matdiff.ops.{name}")
        for attr, value in vars(module).items():
            if isinstance(value, Op):
                yield module, attr, value


def test_every_op_object_in_the_ops_modules_is_named_name_op():
    found = {op.name: (module.__name__, attr) for module, attr, op in _op_attributes() if attr.endswith("_op")}
    wrong = [(module.__name__, attr) for module, attr, op in _op_attributes() if not attr.endswith("_op")]
    assert not wrong, f"op objects not named <name>_op: {wrong}"
    assert {"sum", "concat", "matmul", "qr", "lq_deep", "solve_triangular"} <= set(found)


def test_no_op_object_shadows_a_builtin_or_a_public_function():
    for module, attr, _ in _op_attributes():
        assert not hasattr(builtins, attr), f"{module.__name__}.{attr} shadows the builtin {attr}"
        assert attr not in md.__all__, f"{module.__name__}.{attr} has the name of the public function md.{attr}"


def test_the_functional_spelling_and_the_op_agree():
    import numpy as np

    from matdiff.ops import structural
    U, V = md.tensor(np.ones((2, 2))), md.tensor(np.zeros((2, 1)))
    assert np.array_equal(md.concat([U, V], axis=-1).numpy(), structural.concat_op(U, V, axis=-1).numpy())
