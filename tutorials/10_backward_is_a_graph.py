# %% [markdown]
# # 10 · The backward pass is a graph: Hessian-vector products through QR, drawn and checked
#
# Every rule is written once, against a few primitives (matmul, transpose, masks, triangular solves ...).
# A first-order backward runs them on arrays. With ``create_graph=True`` the same rules run on Tensors, so Eq 3
# (or Eq 9-10 for a wide matrix) is *recorded* as nodes -- and a gradient becomes a function the engine can
# differentiate again. Its derivative along a direction V is the Hessian-vector product H V.

# %%
import numpy as np

import matdiff as md
from matdiff.teach.tutorial import can_draw, display, figures_dir, same, show, step

rng = np.random.default_rng(10)
m, n = 3, 5
a = rng.standard_normal((m, n))
W = md.tensor(rng.standard_normal((m, n)), name="W")          # a fixed weight (no grad), named for the drawing


def loss(A):
    """A real loss through wide QR: L = sum(W ∘ R ∘ R) -- R enters twice, so the Hessian is not trivial."""
    Q, R = md.qr(A)
    return md.sum(W * R * R)


step("1. The gradient as a graph: md.grad(..., create_graph=True)")
A = md.tensor(a, requires_grad=True, name="A")
with md.Tape() as tape:
    L = loss(A)
    g, = md.grad(L, [A], create_graph=True)
g.name = "Ā"
forward = [nd for nd in tape if nd.origin is None]
recorded = [nd for nd in tape if nd.origin == "backward"]
print(f"{len(forward)} forward nodes, {len(recorded)} nodes recorded by the backward pass:")
print(", ".join(sorted({nd.op.name for nd in recorded})))
show("Ā = dL/dA, a Tensor now", g)

# %%
step("2. The Hessian-vector product H V is the gradient of the gradient along V")
V = rng.standard_normal((m, n))
HV, = md.grad([g], [A], [V])                 # d/dt Ā(A + t V) = H V  (L is real: H is symmetric)


def gradient(x):
    X = md.tensor(x, requires_grad=True)
    return md.grad(loss(X), [X])[0]


h = 1e-5
same("H V", HV, (gradient(a + h * V) - gradient(a - h * V)) / (2 * h),
     labels=("second backward", "central difference of the gradient"), rtol=1e-7)

# %%
step("3. The recorded backward, drawn: Eq 9-10 as nodes")
if can_draw():
    display(md.draw(g, figures_dir() / "10_backward_graph.png", backward=False,
                    title="The gradient of wide QR as a graph: forward (yellow), recorded backward (violet)"))

# %%
step("4. Newton's method on a small nonlinear least-squares problem through QR")
# Find t in R^2 such that the R factor of A(t) = A0 + t1 B1 + t2 B2 matches a target: minimise
# f(t) = 1/2 |R(A(t)) - R*|^2. Newton: t <- t - H^{-1} grad f, with H built column by column from H e_j.
A0, B1, B2 = (rng.standard_normal((m, n)) for _ in range(3))
t_star = np.array([0.3, -0.2])
with md.no_grad():
    R_star = md.qr(A0 + t_star[0] * B1 + t_star[1] * B2).R.data


def f(T):
    """f for T = [t1 t2] (a 1 x 2 tensor): its entries scale B1 and B2 (a 1 x 1 block broadcasts like a scalar)."""
    R = md.qr(A0 + T[:, 0:1] * B1 + T[:, 1:2] * B2).R
    D = R - R_star
    return md.sum(D * D) * 0.5


t = np.array([0.2, -0.1])
errors = []
for it in range(5):
    T = md.tensor(t.reshape(1, 2), requires_grad=True, name="t")
    gt, = md.grad(f(T), [T], create_graph=True)
    H = np.stack([md.grad([gt], [T], [e.reshape(1, 2)], retain_graph=True)[0].ravel() for e in np.eye(2)], axis=1)
    t = t - np.linalg.solve(H, gt.data.ravel())
    errors.append(np.abs(t - t_star).max())
    print(f"step {it + 1}: |t - t*| = {errors[-1]:.2e}")
assert errors[-1] < 1e-12 and errors[2] < errors[1] ** 1.5       # quadratic convergence: the Hessian is exact

# %%
step("5. gradgradcheck: every second derivative against differences of first derivatives")
report = md.gradgradcheck(loss, [A])
print(report.summary)
assert report.ok
