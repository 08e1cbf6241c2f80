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
from matdiff.tutorial import step

rng = np.random.default_rng(5)
m, n = 6, 4
a = rng.standard_normal((m, n))
Qbar, Rbar = rng.standard_normal((m, n)), rng.standard_normal((n, n))
Q, R = (t.data for t in md.qr(a))
Rinv_T = np.linalg.inv(R).T

step("1. Eq 8 literally, with NumPy")
P_L = paper.P_L(n)
inner = R @ Rbar.T - Rbar @ R.T + Q.T @ Qbar - Qbar.T @ Q
eq8 = Q @ (Rbar + (P_L * inner) @ Rinv_T) + (Qbar - Q @ Q.T @ Qbar) @ Rinv_T

step("2. Eq 3 literally")
M = R @ Rbar.T - Qbar.T @ Q
eq3 = (Qbar + Q @ paper.copyltu(M)) @ Rinv_T
print(f"max |Eq 8 - Eq 3| = {np.abs(eq8 - eq3).max():.2e}")
assert np.allclose(eq8, eq3, atol=1e-12)

# %%
step("3. The key step of Appendix 6.2: the inner matrix is M - M^T, and E = 2 P_L + I")
assert np.allclose(inner, M - M.T)
assert np.array_equal(paper.E(n), 2 * P_L + np.eye(n))
lhs = P_L * (M - M.T) + M.T
print("P_L ∘ (M - M^T) + M^T == copyltu(M):", np.allclose(lhs, paper.copyltu(M)))
assert np.allclose(lhs, paper.copyltu(M))

# %%
step("4. In the engine: md.qr(A, formula='eq8') gives the same gradient as the default Eq 3")
grads = {}
for formula in ("eq3", "eq8"):
    A = md.tensor(a, requires_grad=True)
    md.backward(list(md.qr(A, formula=formula)), [Qbar, Rbar])
    grads[formula] = A.grad
print(f"engine: max |eq8 - eq3| = {np.abs(grads['eq8'] - grads['eq3']).max():.2e}")
assert np.allclose(grads["eq8"], grads["eq3"], atol=1e-12)
report = md.gradcheck(lambda A: tuple(md.qr(A, formula="eq8")), [md.tensor(a, requires_grad=True)])
print(report.summary)
assert report.ok
