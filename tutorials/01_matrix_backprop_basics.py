# %% [markdown]
# # 01 · Matrix backprop basics: a matmul/transpose graph by hand, the trace identity (Eq 2), gradcheck
#
# Reverse mode carries one adjoint matrix per node backwards. For ``C = A B`` and a scalar loss L,
# ``dL = Tr(Cbar^T dC)`` (paper Section 2.2) and ``dC = dA B + A dB`` give, by the cyclic property of the trace,
# ``Abar = Cbar B^T`` and ``Bbar = A^T Cbar``. Run with ``--step`` to pause after each step; in Jupyter, run the
# cells one by one.

# %%
import numpy as np

import matdiff as md
from matdiff.teach.tutorial import same, step, your_turn

rng = np.random.default_rng(0)
step("1. Build a small graph by hand: C = A B, D = C^T, L = sum(D ∘ W)")
A = md.tensor(rng.standard_normal((4, 2)), requires_grad=True, name="A")
B = md.tensor(rng.standard_normal((2, 5)), requires_grad=True, name="B")
W = md.tensor(rng.standard_normal((5, 4)), name="W")   # a fixed weight (no grad): L = <W, D> (Frobenius product)
with md.Tape() as tape:
    C = md.matmul(A, B, name="C")                # name= names a node's result at the call
    D = md.transpose(C, name="D")
    L = md.sum(md.mul(D, W, name="D∘W"), name="L")
print("The tape (a Wengert list, numbered from #1 in execution order; each rule in this graph's names):")
print(tape)

# %%
step("2. Backward, one node at a time (trace=True prints each adjoint)")
# The trace prints a matrix of more than 16 entries by its shape and norm (C and D here); step 3 shows values.
L.backward(trace=True)

# %%
step("3. The same adjoints by hand")
Dbar = W.data                                      # dL/dD for L = sum(D ∘ W)
Cbar = Dbar.T                                    # transpose node: Cbar = Dbar^T
Abar, Bbar = Cbar @ B.data.T, A.data.T @ Cbar    # matmul node: Abar = Cbar B^T, Bbar = A^T Cbar
same("Abar", A.grad, Abar)
same("Bbar", B.grad, Bbar)

# %%
step("4. The trace identity (Eq 2) on a random direction")
# For C = f(A, B): Tr(Cbar^T dC) = Tr(Abar^T dA) + Tr(Bbar^T dB). dC comes from forward mode (the jvp rules).
dA, dB = rng.standard_normal((4, 2)), rng.standard_normal((2, 5))
Cval, dC = md.jvp(lambda A, B: A @ B, [A, B], [dA, dB])
same("dC = dA B + A dB", dC, dA @ B.data + A.data @ dB, labels=("jvp", "by hand"))
lhs = np.trace(Cbar.T @ dC)
rhs = np.trace(Abar.T @ dA) + np.trace(Bbar.T @ dB)
same("Tr(Cbar^T dC)  vs  Tr(Abar^T dA) + Tr(Bbar^T dB)", lhs, rhs, labels=("left", "right"), rtol=1e-12)
print(md.check_adjoint(lambda A, B: (A @ B).T, [A, B]))

# %%
step("5. gradcheck: every derivative against central differences")
report = md.gradcheck(lambda A, B: (A @ B).T, [A, B])
print(report)
assert report.ok
your_turn("matmul", "trace_identity")
