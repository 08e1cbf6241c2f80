# %% [markdown]
# # 02 · QR of square and deep matrices: Figure 1, Proposition 1, Eq 3, Lemma 1 through the jvp
#
# For A = QR with A (m x n), m >= n, Q^T Q = I and R upper triangular, the paper proves (Prop. 1)
#
#     Abar = [Qbar + Q copyltu(M)] R^{-T},   M = R Rbar^T - Qbar^T Q        (Eq 3)
#
# from the variations of Lemma 1: C = Q^T dA R^{-1}, dR = (sym(C) ∘ E^T) R, dQ = (dA - Q dR) R^{-1}.

# %%
import numpy as np

import matdiff as md
from matdiff import paper
from matdiff.teach.tutorial import can_draw, display, figures_dir, same, show, step, your_turn

rng = np.random.default_rng(1)
step("1. One QR node (Figure 1)")
A = md.tensor(rng.standard_normal((5, 3)), requires_grad=True, name="A")
with md.Tape() as tape:
    Q, R = md.qr(A)
print(tape)
show("R (upper triangular, real non-negative diagonal)", R)
same("Q R", Q.data @ R.data, A.data, labels=("Q R", "A"))
same("Q^T Q", Q.data.T @ Q.data, np.eye(3), labels=("Q^T Q", "I"))
if can_draw():
    display(md.draw([Q, R], figures_dir() / "figure1_qr_deep.png", title="Figure 1: A -> QR (deep), Eq 3"))

# %%
step("2. Backward with given upstream adjoints Qbar, Rbar -- and the loss they stand for")
# Seeding Q with Qbar and R with Rbar is backpropagating the loss  L = <Qbar, Q> + <Rbar, R>
# (Frobenius inner products): its adjoints at Q and R are exactly Qbar and Rbar.
Qbar, Rbar = rng.standard_normal((5, 3)), rng.standard_normal((3, 3))
md.backward([Q, R], [Qbar, Rbar], retain_graph=True)
seeded = A.grad.copy()
A.grad = None
L = md.sum(Q * Qbar) + md.sum(R * Rbar)           # the same loss, written out
L.backward()
same("Abar", seeded, A.grad, labels=("seeds Qbar, Rbar", "L.backward()"))

# %%
step("3. Eq 3 by hand with the paper's helpers")
Qd, Rd = Q.data, R.data
M = Rd @ Rbar.T - Qbar.T @ Qd
show("M = R Rbar^T - Qbar^T Q", M)
same("copyltu(M)", paper.copyltu(M), paper.sym(paper.E(3) * M), labels=("copyltu", "sym(E ∘ M)"))
Abar = np.linalg.solve(Rd, (Qbar + Qd @ paper.copyltu(M)).T).T        # [...] R^{-T}
same("Abar (Eq 3)", A.grad, Abar)

# %%
step("4. Lemma 1, worked out by hand, beside the engine's forward mode (jvp)")
dA = rng.standard_normal((5, 3))
(Qv, Rv), (dQ, dR) = md.jvp(lambda A: tuple(md.qr(A)), [A], [dA])
C = Qd.T @ dA @ np.linalg.inv(Rd)                                  # C = Q^T dA R^{-1}
show("C = Q^T dA R^{-1}", C)
dR_hand = (paper.sym(C) * paper.E(3).T) @ Rd                       # dR = (sym(C) ∘ E^T) R
dQ_hand = (dA - Qd @ dR_hand) @ np.linalg.inv(Rd)                  # dQ = (dA - Q dR) R^{-1}
same("dR", dR, dR_hand, labels=("jvp", "Lemma 1"))
same("dQ", dQ, dQ_hand, labels=("jvp", "Lemma 1"))
QtdQ = Qd.T @ dQ
# Q^T dQ is skew: Q^T dQ + (Q^T dQ)^T is zero -- to rounding, against the size of Q^T dQ itself
same("Q^T dQ + (Q^T dQ)^T", QtdQ + QtdQ.T, np.zeros((3, 3)), labels=("jvp", "0"), against=("‖Q^T dQ‖", QtdQ),
     rtol=1e-12)
h = 1e-6
with md.no_grad():
    (Qp, Rp), (Qm, Rm) = md.qr(A.data + h * dA), md.qr(A.data - h * dA)
same("dQ", dQ, (Qp.data - Qm.data) / (2 * h), labels=("jvp", "central difference"), rtol=1e-7, values=False)
same("dR", dR, (Rp.data - Rm.data) / (2 * h), labels=("jvp", "central difference"), rtol=1e-7, values=False)

# %%
step("5. Trace identity (Eq 2) between the jvp and the vjp, then gradcheck")
lhs = np.sum(Qbar * dQ) + np.sum(Rbar * dR)                        # Tr(Qbar^T dQ) + Tr(Rbar^T dR)
rhs = np.sum(Abar * dA)                                            # Tr(Abar^T dA)
same("Tr(Qbar^T dQ) + Tr(Rbar^T dR)  vs  Tr(Abar^T dA)", lhs, rhs, labels=("jvp side", "vjp side"), rtol=1e-12)
print(md.check_adjoint(lambda A: tuple(md.qr(A)), [A]))
report = md.gradcheck(lambda A: tuple(md.qr(A)), [A])
print(report)
assert report.ok

# %%
step("6. Watch the backward sweep, one node per frame")
if can_draw():
    A2 = md.tensor(A.data, requires_grad=True, name="A")
    Q2, R2 = md.qr(A2)
    page = md.draw([Q2, R2], figures_dir() / "02_qr_deep_steps.html", steps=True, seeds=[Qbar, Rbar],
                   title="Deep QR (Figure 1): backward step by step")
    display(page, "open {file} in a browser: Next/Previous or the arrow keys step through the sweep")
your_turn("qr", "qr_jvp")
