# %% [markdown]
# # 03 · Wide QR: build Figure 2 by hand, watch Qbar' appear by accumulation, compare with Eq 9-10
#
# For wide A (m < n), R = [U|V] is not square, so Eq 3 does not apply. The partitioning trick (Prop. 2):
# split A = [X|Y] with X square, take X = QU, then V = Q^T Y. Backprop through this graph gives
#
#     Xbar = [Qbar' + Q copyltu(M)] U^{-T},  Ybar = Q Vbar,  Qbar' = Qbar + Y Vbar^T,  M = U Ubar^T - Qbar'^T Q
#
# (Eq 9-10). In matdiff the term Y Vbar^T is not special-cased: Q feeds two nodes (the loss and V = Q^T Y),
# so the engine *adds* their adjoints -- that sum is Qbar'.

# %%
import numpy as np

import matdiff as md
from matdiff import paper
from matdiff.tutorial import figures_dir, show, step

rng = np.random.default_rng(2)
m, n = 3, 5
a = rng.standard_normal((m, n))
Qbar, Rbar = rng.standard_normal((m, m)), rng.standard_normal((m, n))

step("1. Figure 2 from nodes: split -> qr -> adjoint/matmul -> concat")
A = md.tensor(a, requires_grad=True, name="A")
with md.Tape() as tape:
    X, Y = md.split(A, [m], axis=-1)                # A = [X|Y]
    Q, U = md.registry["qr"](X)                     # the square QR node (Eq 3)
    V = Q.mH @ Y                                    # V = Q^T Y
    R = md.concat([U, V], axis=-1)                  # R = [U|V]
for t, name in ((X, "X"), (Y, "Y"), (Q, "Q"), (U, "U"), (V, "V"), (R, "R")):
    t.name = name
print(tape)
assert np.allclose(Q.data @ R.data, a)

# %%
step("2. Backward: Q's adjoint is the sum of what its two consumers send")
md.backward([Q, R], [Qbar, Rbar])
Vbar = Rbar[:, m:]
Qbar_prime = Qbar + Y.data @ Vbar.T               # Eq 9's Qbar'
show("Q.grad (accumulated by the engine)", Q.grad)
show("Qbar + Y Vbar^T (the paper's Qbar')", Qbar_prime)
assert np.allclose(Q.grad, Qbar_prime)

# %%
step("3. Eq 9-10 by hand")
Ud, Qd = U.data, Q.data
Ubar = Rbar[:, :m]
M = Ud @ Ubar.T - Qbar_prime.T @ Qd
Xbar = np.linalg.solve(Ud, (Qbar_prime + Qd @ paper.copyltu(M)).T).T      # Eq 9
Ybar = Qd @ Vbar                                                          # Eq 10
assert np.allclose(A.grad, np.concatenate([Xbar, Ybar], axis=1))
print("graph gradient == Eq 9-10 by hand")

# %%
step("4. md.qr builds the same graph; fused=True is one node with the closed formula")
grads = {}
for fused in (False, True):
    A2 = md.tensor(a, requires_grad=True, name="A")
    with md.Tape() as t2:
        Q2, R2 = md.qr(A2, fused=fused)
    md.backward([Q2, R2], [Qbar, Rbar])
    grads[fused] = A2.grad
    print(f"fused={fused}: nodes {[nd.op.name for nd in t2.nodes]}")
    if not fused:
        drawing = md.draw([Q2, R2], figures_dir() / "figure2_qr_wide.png",
                          title="Figure 2: wide QR = split -> qr -> matmul -> concat")
        print("drew", ", ".join(map(str, drawing.files)))
rel = np.linalg.norm(grads[True] - grads[False]) / np.linalg.norm(grads[False])
print(f"graph vs fused relative difference: {rel:.2e}")
assert rel < 1e-12 and np.allclose(grads[False], A.grad)

# %%
step("5. gradcheck of the wide graph")
report = md.gradcheck(lambda A: tuple(md.qr(A)), [A])
print(report)
assert report.ok
