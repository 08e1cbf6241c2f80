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
from matdiff.tutorial import show, step

rng = np.random.default_rng(4)
step("1. Wide LQ: one node, Eq 17 by hand")
a = rng.standard_normal((3, 5))
A = md.tensor(a, requires_grad=True, name="A")
L, Q = md.lq(A)
show("L (lower triangular)", L)
Lbar, Qbar = rng.standard_normal((3, 3)), rng.standard_normal((3, 5))
md.backward([L, Q], [Lbar, Qbar])
Ld, Qd = L.data, Q.data
M = Ld.T @ Lbar - Qbar @ Qd.T
Abar = np.linalg.solve(Ld.T, Qbar + paper.copyltu(M) @ Qd)               # Eq 17
assert np.allclose(A.grad, Abar)
print("Eq 17 by hand == engine")

# %%
step("2. Deep LQ: the row partition of Proposition 3, from nodes")
b = rng.standard_normal((6, 3))
B = md.tensor(b, requires_grad=True, name="A")
with md.Tape() as tape:
    X, Y = md.split(B, [3], axis=-2)                 # A = [X; Y]
    U, Qx = md.registry["lq"](X)                     # X = U Q
    V = Y @ Qx.mH                                    # V = Y Q^T
    Lx = md.concat([U, V], axis=-2)                  # L = [U; V]
print(tape)
assert np.allclose(Lx.data @ Qx.data, b)
Lbar2, Qbar2 = rng.standard_normal((6, 3)), rng.standard_normal((3, 3))
md.backward([Lx, Qx], [Lbar2, Qbar2])

# %%
step("3. Proposition 3 by hand")
Ud, Qd, Yd = U.data, Qx.data, Y.data
Ubar, Vbar = Lbar2[:3], Lbar2[3:]
Qbar_prime = Qbar2 + Vbar.T @ Yd
assert np.allclose(Qx.grad, Qbar_prime), "the engine accumulated Qbar' into Q"
M = Ud.T @ Ubar - Qbar_prime @ Qd.T
Xbar = np.linalg.solve(Ud.T, Qbar_prime + paper.copyltu(M) @ Qd)
Ybar = Vbar @ Qd
assert np.allclose(B.grad, np.concatenate([Xbar, Ybar], axis=0))
print("Prop. 3 by hand == engine graph")

# %%
step("4. md.lq: graph and fused agree; LQ(A) is QR(A^T)^T")
grads = []
for fused in (False, True):
    B2 = md.tensor(b, requires_grad=True)
    md.backward(list(md.lq(B2, fused=fused)), [Lbar2, Qbar2])
    grads.append(B2.grad)
assert np.linalg.norm(grads[0] - grads[1]) <= 1e-12 * np.linalg.norm(grads[0])
Qt, Rt = md.qr(b.T)
assert np.allclose(Rt.data.T, Lx.data) and np.allclose(Qt.data.T, Qx.data)
print("graph == fused, LQ(A) == QR(A^T)^T")

# %%
step("5. gradcheck: wide and deep LQ")
for T in (A, B):
    report = md.gradcheck(lambda A: tuple(md.lq(A)), [T])
    print(report.summary)
    assert report.ok
