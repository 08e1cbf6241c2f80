# %% [markdown]
# # 01 · Matrix backprop basics: a matmul/transpose graph by hand, the trace identity (Eq 2), gradcheck
#
# Reverse mode carries one adjoint matrix per node backwards. For ``C = A B`` and a scalar loss L,
# ``dL = Tr(Cbar^T dC)`` (paper Section 2.2) and ``dC = dA B + A dB`` give, by the cyclic property of the trace,
# ``Abar = Cbar B^T`` and ``Bbar = A^T Cbar``. Run with ``--step`` to pause after each step.

# %%
import numpy as np

import matdiff as md
from matdiff.tutorial import show, step

rng = np.random.default_rng(0)
step("1. Build a small graph by hand: C = A B, D = C^T, L = sum(D ∘ W)")
A = md.tensor(rng.standard_normal((3, 2)), requires_grad=True, name="A")
B = md.tensor(rng.standard_normal((2, 4)), requires_grad=True, name="B")
W = rng.standard_normal((4, 3))                  # a fixed weight: L = <W, D> (Frobenius inner product)
with md.Tape() as tape:
    C = A @ B
    C.name = "C"
    D = C.T
    D.name = "D"
    L = md.sum(D * W)
print("The tape (a Wengert list, in execution order):")
print(tape)

# %%
step("2. Backward, one node at a time (trace=True prints each adjoint)")
L.backward(trace=True)

# %%
step("3. The same adjoints by hand")
Dbar = W                                         # dL/dD for L = sum(D ∘ W)
Cbar = Dbar.T                                    # transpose node: Cbar = Dbar^T
Abar, Bbar = Cbar @ B.data.T, A.data.T @ Cbar    # matmul node
show("Abar (by hand)", Abar)
show("A.grad (engine)", A.grad)
assert np.allclose(A.grad, Abar) and np.allclose(B.grad, Bbar)
print("engine and hand derivation agree")

# %%
step("4. The trace identity (Eq 2) on a random direction")
# For C = f(A, B): Tr(Cbar^T dC) = Tr(Abar^T dA) + Tr(Bbar^T dB). dC comes from forward mode (the jvp rules).
dA, dB = rng.standard_normal((3, 2)), rng.standard_normal((2, 4))
Cval, dC = md.jvp(lambda A, B: A @ B, [A, B], [dA, dB])
lhs = np.trace(Cbar.T @ dC)
rhs = np.trace(Abar.T @ dA) + np.trace(Bbar.T @ dB)
print(f"Tr(Cbar^T dC) = {lhs:.12f}\nTr(Abar^T dA) + Tr(Bbar^T dB) = {rhs:.12f}")
assert abs(lhs - rhs) < 1e-12 * max(1, abs(lhs))
print(md.check_adjoint(lambda A, B: (A @ B).T, [A, B]))

# %%
step("5. gradcheck: every derivative against central differences")
report = md.gradcheck(lambda A, B: (A @ B).T, [A, B])
print(report)
assert report.ok
