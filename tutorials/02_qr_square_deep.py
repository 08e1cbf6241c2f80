# %% [markdown]
# # 02 · QR of square and deep matrices: Figure 1, Proposition 1, Eq 3, Lemma 1 through the jvp
#
# For A = QR with A (m x n), m >= n, Q^T Q = I and R upper triangular, the paper proves (Prop. 1)
#
#     Abar = [Qbar + Q copyltu(M)] R^{-T},   M = R Rbar^T - Qbar^T Q        (Eq 3)
#
# from the variations of Lemma 1: dR = (sym(C) ∘ E^T) R, dQ = (dA - Q dR) R^{-1}, C = Q^T dA R^{-1}.

# %%
import numpy as np

import matdiff as md
from matdiff import paper
from matdiff.tutorial import figures_dir, show, step

rng = np.random.default_rng(1)
step("1. One QR node (Figure 1)")
A = md.tensor(rng.standard_normal((5, 3)), requires_grad=True, name="A")
with md.Tape() as tape:
    Q, R = md.qr(A)
print(tape)
show("R (upper triangular, real non-negative diagonal)", R)
assert np.allclose(Q.data @ R.data, A.data) and np.allclose(Q.data.T @ Q.data, np.eye(3))
drawing = md.draw([Q, R], figures_dir() / "figure1_qr_deep.png", title="Figure 1: A -> QR (deep), Eq 3")
print("drew", ", ".join(map(str, drawing.files)))

# %%
step("2. Backward with given upstream adjoints Qbar, Rbar")
Qbar, Rbar = rng.standard_normal((5, 3)), rng.standard_normal((3, 3))
md.backward([Q, R], [Qbar, Rbar])
show("A.grad", A.grad)

# %%
step("3. Eq 3 by hand with the paper's helpers")
Qd, Rd = Q.data, R.data
M = Rd @ Rbar.T - Qbar.T @ Qd
show("M = R Rbar^T - Qbar^T Q", M)
show("copyltu(M) = sym(E ∘ M): the lower triangle copied up", paper.copyltu(M))
assert np.allclose(paper.copyltu(M), paper.sym(paper.E(3) * M))
Abar = np.linalg.solve(Rd, (Qbar + Qd @ paper.copyltu(M)).T).T        # [...] R^{-T}
assert np.allclose(Abar, A.grad)
print("Eq 3 by hand == engine")

# %%
step("4. Lemma 1 through forward mode (jvp)")
dA = rng.standard_normal((5, 3))
(Qv, Rv), (dQ, dR) = md.jvp(lambda A: tuple(md.qr(A)), [A], [dA])
show("dR (upper triangular, as Lemma 1 says)", dR)
assert np.allclose(np.tril(dR, -1), 0)
skew = Qd.T @ dQ
print("Q^T dQ is skew-symmetric:", np.allclose(skew, -skew.T))
h = 1e-6
Qp, Rp = (x.data for x in md.qr(A.data + h * dA))
Qm, Rm = (x.data for x in md.qr(A.data - h * dA))
print("dQ vs central difference:", np.abs(dQ - (Qp - Qm) / (2 * h)).max())
assert np.allclose(dQ, (Qp - Qm) / (2 * h), atol=1e-6) and np.allclose(dR, (Rp - Rm) / (2 * h), atol=1e-6)

# %%
step("5. Trace identity (Eq 2) between the jvp and the vjp, then gradcheck")
print(md.check_adjoint(lambda A: tuple(md.qr(A)), [A]))
report = md.gradcheck(lambda A: tuple(md.qr(A)), [A])
print(report)
assert report.ok
