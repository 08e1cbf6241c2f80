# %% [markdown]
# # 08 · Application: differentiable least squares through QR
#
# min_x ||A x - y||: with A = Q R (deep), x = R^{-1} Q^T y. As a graph: qr -> adjoint/matmul -> solve_triangular.
# We fit a quadratic to noisy data, differentiate the fitted coefficients with respect to the *data*, compare
# with the normal equations x = (A^T A)^{-1} A^T y, and run a small optimisation loop on the data.

# %%
import numpy as np

import matdiff as md
from matdiff.teach.tutorial import same, step

rng = np.random.default_rng(8)
t = np.linspace(-1, 1, 20)
A_np = np.stack([np.ones_like(t), t, t * t], axis=1)      # design matrix (20 x 3)
x_true = np.array([0.5, -1.0, 2.0])
y_np = A_np @ x_true + 0.05 * rng.standard_normal(20)


def lstsq(A, y):
    Q, R = md.qr(A)
    return md.solve_triangular(R, Q.mH @ y)                # x = R^{-1} Q^T y


step("1. Fit")
A = md.tensor(A_np, requires_grad=True, name="A")
y = md.tensor(y_np[:, None], requires_grad=True, name="y")
x = lstsq(A, y)
same("x", x.data.ravel(), np.linalg.lstsq(A_np, y_np, rcond=None)[0], labels=("R^{-1} Q^T y", "np.linalg.lstsq"))

# %%
step("2. Gradient of a loss of the coefficients w.r.t. the data, vs the normal equations")
w = np.array([[1.0], [2.0], [-1.0]])
md.sum(x * w).backward()                               # the loss L = w^T x
G = np.linalg.inv(A_np.T @ A_np)                       # normal equations: x = G A^T y
ybar_normal = A_np @ G @ w                              # dL/dy = A G w
r = y_np[:, None] - A_np @ x.data                       # residual
Abar_normal = r @ (G @ w).T - (A_np @ G @ w) @ x.data.T  # dL/dA for x = (A^T A)^{-1} A^T y
same("ybar", y.grad, ybar_normal, labels=("through QR", "normal equations"), rtol=1e-9)
same("Abar", A.grad, Abar_normal, labels=("through QR", "normal equations"), rtol=1e-9)

# %%
step("3. A small optimisation loop: move the data so the fit hits a target")
target = np.array([[0.0], [1.0], [1.0]])
yk = y_np[:, None].copy()
losses = []
for it in range(100):
    yt = md.tensor(yk, requires_grad=True)
    xk = lstsq(md.tensor(A_np), yt)
    diff = xk - target
    L = md.sum(diff * diff)
    L.backward()
    losses.append(L.item())
    yk -= 0.9 * yt.grad                                  # gradient descent on the data
print("loss every 20 steps:", " ".join(f"{v:.2e}" for v in losses[::20]), "... final", f"{losses[-1]:.2e}")
assert losses[-1] < 1e-3 * losses[0]

# %%
step("4. gradcheck of the least-squares graph")
report = md.gradcheck(lstsq, [A, y])
print(report.summary)
assert report.ok
