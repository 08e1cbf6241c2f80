"""autodiff.py: ``backward(trace=True)`` prints the sweep node by node, and autodiff binds Tensor's whole surface
(``SURFACE``: operators, ``.T``, ``.mH``, ``reshape``, ``backward``, ``float(T)``...) in one table. (backward, grad and
jvp themselves: tests/engine/test_engine.py; second order: tests/checks/test_higher_order.py.)"""
import matdiff as md
from matdiff import autodiff
from matdiff.testing import leaf


def test_backward_trace_prints_each_node_with_its_adjoints(capsys):
    A = leaf((3, 2), name="A")
    Q, R = md.qr(A)
    md.sum(R * R).backward(trace=True)
    out = capsys.readouterr().out
    assert out.index("sum") < out.index("mul") < out.index("qr")       # reverse execution order
    assert "── node #1 qr: A = Q R" in out and "── node #3 sum" in out            # numbered from #1 in this graph
    assert "Eq 3" in out and "R\u0304: shape (2, 2)" in out and "A\u0304 (this node's part): shape (3, 2)" in out
    assert "[]" not in out                      # sum and mul cite no source: no empty brackets


def test_tensors_surface_is_one_table_and_every_entry_is_bound():
    for name, method in autodiff.SURFACE.items():
        assert md.Tensor.__dict__[name] is method, name
    for name in ("__matmul__", "__add__", "__getitem__", "T", "mH", "reshape", "backward", "__float__", "__eq__",
                 "__array__", "__array_ufunc__"):
        assert name in autodiff.SURFACE, name
    A = leaf((2, 2))
    assert (A @ A).node.op.name == "matmul" and A.mH.node.op.name == "adjoint" and A.reshape(4).shape == (4,)
