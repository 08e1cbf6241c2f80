# %% [markdown]
# # 04 · LQ: Eq 17 for square/wide matrices, and deep LQ by the row partition (Proposition 3)
#
# A = LQ with L lower triangular and Q Q^T = I. For m <= n (Seeger et al., the paper's Eq 17):
#
#     Abar = L^{-T} [Qbar + copyltu(M) Q],  M = L^T Lbar - Qbar Q^T
#
# For deep A (m > n) L is not square. Prop. 3 partitions rows: A = [X; Y], X = U Q, V = Y Q^T, L = [U; V]:
#     Xbar = U^{-T} [Qbar' + copyltu(M) Q],  Ybar = Vbar Q,  Qbar' = Qbar + Vbar^T Y,  M = U^T Ubar - Qbar' Q^T.

# %%
import numpy as np

import matdiff as md
from matdiff import paper
from matdiff.teach.tutorial import can_draw, display, figures_dir, same, show, step, your_turn

rng = np.random.default_rng(4)
step("1. Wide LQ: one node, Eq 17 by hand")
a = rng.standard_normal((3, 5))
A = md.tensor(a, requires_grad=True, name="A")
L, Q = md.lq(A)
show("L (lower triangular)", L)
Lbar, Qbar = rng.standard_normal((3, 3)), rng.standard_normal((3, 5))     # the loss <Lbar, L> + <Qbar, Q>
md.backward([L, Q], [Lbar, Qbar])
Ld, Qd = L.data, Q.data
M = Ld.T @ Lbar - Qbar @ Qd.T
Abar = np.linalg.solve(Ld.T, Qbar + paper.copyltu(M) @ Qd)               # Eq 17
same("Abar (Eq 17)", A.grad, Abar)

# %%
step("2. Deep LQ: the row partition of Proposition 3, from nodes")
b = rng.standard_normal((6, 3))
B = md.tensor(b, requires_grad=True, name="A")
with md.Tape() as tape:
    X, Y = md.split(B, [3], axis=-2, name=("X", "Y"))             # A = [X; Y]
    # The raw square-LQ node (Eq 17), called directly so the graph is exactly Proposition 3's; md.lq(X) would
    # pick this same node for a square X.
    U, Qx = md.registry["lq"](X, name=("U", "Q"))                  # X = U Q
    V = md.matmul(Y, md.adjoint(Qx), name="V")                     # V = Y Q^T
    Lx = md.concat([U, V], axis=-2, name="L")                      # L = [U; V]
print(tape)
same("L Q", Lx.data @ Qx.data, b, labels=("L Q", "A"))
Lbar2, Qbar2 = rng.standard_normal((6, 3)), rng.standard_normal((3, 3))
md.backward([Lx, Qx], [Lbar2, Qbar2])

# %%
step("3. Proposition 3 by hand")
Ud, Qd, Yd = U.data, Qx.data, Y.data
Ubar, Vbar = Lbar2[:3], Lbar2[3:]
Qbar_prime = Qbar2 + Vbar.T @ Yd
same("Qbar'", Qx.grad, Qbar_prime, labels=("Q.grad", "Qbar + Vbar^T Y"))  # what the engine summed
M = Ud.T @ Ubar - Qbar_prime @ Qd.T
Xbar = np.linalg.solve(Ud.T, Qbar_prime + paper.copyltu(M) @ Qd)
Ybar = Vbar @ Qd
same("Xbar (Prop. 3)", B.grad[:3], Xbar)
same("Ybar = Vbar Q", B.grad[3:], Ybar)

# %%
step("4. md.lq: graph and fused agree; LQ(A) is QR(A^T)^T")
grads = []
for fused in (False, True):
    B2 = md.tensor(b, requires_grad=True)
    md.backward(list(md.lq(B2, fused=fused)), [Lbar2, Qbar2])
    grads.append(B2.grad)
same("Abar", grads[0], grads[1], labels=("graph", "fused"), rtol=1e-12)
with md.no_grad():
    Qt, Rt = md.qr(b.T)
same("L", Lx.data, Rt.data.T, labels=("LQ(A)", "QR(A^T)^T"), rtol=1e-12)
same("Q", Qx.data, Qt.data.T, labels=("LQ(A)", "QR(A^T)^T"), rtol=1e-12)

# %%
step("5. gradcheck: wide and deep LQ")
for T in (A, B):
    report = md.gradcheck(lambda A: tuple(md.lq(A)), [T])
    print(report.summary)
    assert report.ok

# %%
step("6. Watch the deep-LQ sweep, one node per frame")
if can_draw():
    B3 = md.tensor(b, requires_grad=True, name="A")
    L3, Q3 = md.lq(B3)
    page = md.draw([L3, Q3], figures_dir() / "04_lq_deep_steps.html", steps=True, seeds=[Lbar2, Qbar2],
                   title="Deep LQ (Proposition 3): backward step by step")
    display(page, "open {file} in a browser: Next/Previous or the arrow keys step through the sweep")
your_turn("lq", "lq_deep")
