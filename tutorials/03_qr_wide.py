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
from matdiff.teach.tutorial import can_draw, display, figures_dir, same, step, your_turn

rng = np.random.default_rng(2)
m, n = 3, 5
a = rng.standard_normal((m, n))
Qbar, Rbar = rng.standard_normal((m, m)), rng.standard_normal((m, n))
# The loss these seeds stand for: L = <Qbar, Q> + <Rbar, R> (Frobenius inner products).

step("1. Figure 2 from nodes: split -> qr -> adjoint -> matmul -> concat")
A = md.tensor(a, requires_grad=True, name="A")
with md.Tape() as tape:
    X, Y = md.split(A, [m], axis=-1, name=("X", "Y"))          # A = [X|Y]
    # The raw square-QR node (Eq 3), called directly so the graph is exactly Figure 2's; md.qr(X) would pick
    # this same node for a square X.
    Q, U = md.registry["qr"](X, name=("Q", "U"))
    V = md.matmul(md.adjoint(Q), Y, name="V")                    # V = Q^T Y
    R = md.concat([U, V], axis=-1, name="R")                     # R = [U|V]
print(tape)
same("Q R", Q.data @ R.data, a, labels=("Q R", "A"))
if can_draw():
    display(md.draw([Q, R], figures_dir() / "figure2_qr_wide.png",
                    title="Figure 2: wide QR = split -> qr -> adjoint -> matmul -> concat"),
            "drew the graph built above: {files}")

# %%
step("2. Backward: Q's adjoint is the sum of what its two consumers send")
md.backward([Q, R], [Qbar, Rbar])
Vbar = Rbar[:, m:]
Qbar_prime = Qbar + Y.data @ Vbar.T               # Eq 9's Qbar'
same("Qbar'", Q.grad, Qbar_prime, labels=("Q.grad", "Qbar + Y Vbar^T"))  # what the engine summed

# %%
step("3. Eq 9-10 by hand")
Ud, Qd = U.data, Q.data
Ubar = Rbar[:, :m]
M = Ud @ Ubar.T - Qbar_prime.T @ Qd
Xbar = np.linalg.solve(Ud, (Qbar_prime + Qd @ paper.copyltu(M)).T).T      # Eq 9
Ybar = Qd @ Vbar                                                          # Eq 10
same("Xbar (Eq 9)", A.grad[:, :m], Xbar)
same("Ybar (Eq 10)", A.grad[:, m:], Ybar)

# %%
step("4. md.qr builds the same graph; fused=True is one node with the closed formula")
grads = {}
for fused in (False, True):
    A2 = md.tensor(a, requires_grad=True, name="A")
    with md.Tape() as t2:
        Q2, R2 = md.qr(A2, fused=fused)
    md.backward([Q2, R2], [Qbar, Rbar])
    grads[fused] = A2.grad
    print(f"fused={fused}: nodes {[nd.op.name for nd in t2]}")
same("Abar", grads[False], grads[True], labels=("graph", "fused (Eq 9-10)"), rtol=1e-12)
same("Abar", grads[False], A.grad, labels=("md.qr's graph", "the graph built by hand"), rtol=1e-12)

# %%
step("5. Lemma 2, worked out by hand, beside the engine's forward mode (jvp)")
# Lemma 2 (Eq 11-13): with dA = [dX|dY], C = Q^T dX U^{-1}, dU = (sym(C) ∘ E^T) U, dQ = (dX - Q dU) U^{-1},
# and dV = Q^T (dY - dQ V).
dA = rng.standard_normal((m, n))
_, (dQ, dR) = md.jvp(lambda A: tuple(md.qr(A)), [a], [dA])
dX, dY, Vd = dA[:, :m], dA[:, m:], V.data
Uinv = np.linalg.inv(Ud)
C = Qd.T @ dX @ Uinv
dU = (paper.sym(C) * paper.E(m).T) @ Ud                           # Eq 13
dQ_hand = (dX - Qd @ dU) @ Uinv                                   # Eq 11
dV = Qd.T @ (dY - dQ_hand @ Vd)                                   # Eq 12
same("dQ", dQ, dQ_hand, labels=("jvp", "Lemma 2"))
same("dR = [dU|dV]", dR, np.concatenate([dU, dV], axis=1), labels=("jvp", "Lemma 2"))
h = 1e-6
with md.no_grad():
    (Qp, Rp), (Qm, Rm) = md.qr(a + h * dA), md.qr(a - h * dA)
same("dR", dR, (Rp.data - Rm.data) / (2 * h), labels=("jvp", "central difference"), rtol=1e-7)

# %%
step("6. gradcheck of the wide graph")
report = md.gradcheck(lambda A: tuple(md.qr(A)), [A])
print(report)
assert report.ok

# %%
step("7. Watch Qbar' form, one node per frame")
if can_draw():
    A3 = md.tensor(a, requires_grad=True, name="A")
    Q3, R3 = md.qr(A3)
    page = md.draw([Q3, R3], figures_dir() / "03_qr_wide_steps.html", steps=True, seeds=[Qbar, Rbar],
                   title="Wide QR (Figure 2): backward step by step")
    display(page, "open {file} in a browser; the frame after 'adjoint' shows Qbar' = Qbar + Y Vbar^T")
your_turn("qr_wide", "figure2")
