# %% [markdown]
# # 05 · Walter & Lehmann's Eq 8 against Eq 3 (Appendix 6.2), numerically
#
# TensorFlow and PyTorch once implemented the square/deep QR gradient of Walter & Lehmann (their Eq 42,
# the paper's Eq 8):
#
#     Abar = Q (Rbar + P_L ∘ (R Rbar^T - Rbar R^T + Q^T Qbar - Qbar^T Q) R^{-T}) + (Qbar - Q Q^T Qbar) R^{-T}
#
# with P_L = (i > j). Appendix 6.2 shows that for real matrices it simplifies to Eq 3, using E = 2 P_L + I.

# %%
import numpy as np

import matdiff as md
from matdiff import paper
from matdiff.teach.tutorial import same, show, step, your_turn

rng = np.random.default_rng(5)
m, n = 6, 4
a = rng.standard_normal((m, n))
Qbar, Rbar = rng.standard_normal((m, n)), rng.standard_normal((n, n))   # the loss <Qbar, Q> + <Rbar, R>
Q, R = (t.data for t in md.qr(a))
Rinv_T = np.linalg.inv(R).T

step("1. Eq 8 literally, with NumPy")
P_L = paper.P_L(n)
inner = R @ Rbar.T - Rbar @ R.T + Q.T @ Qbar - Qbar.T @ Q
eq8 = Q @ (Rbar + (P_L * inner) @ Rinv_T) + (Qbar - Q @ Q.T @ Qbar) @ Rinv_T
show("P_L (ones strictly below the diagonal)", P_L)
show("Abar by Eq 8", eq8)

step("2. Eq 3 literally")
M = R @ Rbar.T - Qbar.T @ Q
eq3 = (Qbar + Q @ paper.copyltu(M)) @ Rinv_T
same("Abar", eq8, eq3, labels=("Eq 8", "Eq 3"), rtol=1e-12)

# %%
step("3. The key step of Appendix 6.2: the inner matrix is M - M^T, and E = 2 P_L + I")
same("the inner matrix", inner, M - M.T, labels=("R Rbar^T - Rbar R^T + Q^T Qbar - Qbar^T Q", "M - M^T"), rtol=1e-12)
same("E", paper.E(n), 2 * P_L + np.eye(n), labels=("E", "2 P_L + I"), rtol=0)
same("copyltu(M)", P_L * (M - M.T) + M.T, paper.copyltu(M), labels=("P_L ∘ (M - M^T) + M^T", "copyltu(M)"),
     rtol=1e-12)

# %%
step("4. In the engine: md.qr(A, formula='eq8') gives the same gradient as the default Eq 3")
grads = {}
for formula in ("eq3", "eq8"):
    A = md.tensor(a, requires_grad=True)
    md.backward(list(md.qr(A, formula=formula)), [Qbar, Rbar])
    grads[formula] = A.grad
same("A.grad", grads["eq8"], grads["eq3"], labels=("formula='eq8'", "formula='eq3'"), rtol=1e-12)
same("A.grad", grads["eq3"], eq3, labels=("engine", "Eq 3 in NumPy above"), rtol=1e-12)
report = md.gradcheck(lambda A: tuple(md.qr(A, formula="eq8")), [md.tensor(a, requires_grad=True)])
print(report.summary)
assert report.ok
your_turn("complex_correction")
