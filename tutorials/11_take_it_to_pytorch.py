# %% [markdown]
# # 11 · Take it to PyTorch (and JAX): matdiff's rules inside a real model, and where the frameworks are wrong
#
# ``matdiff.torch.qr`` / ``lq`` are ``torch.autograd.Function``s whose backward is matdiff's own rule (Eq 3,
# Figure 2, Eq 17) run on torch tensors; ``matdiff.jax`` the same as a ``jax.custom_jvp`` on Lemma 1. Here: a
# model trained with torch.optim through ``matdiff.torch.qr``; then, each against central finite differences,
# the places where ``torch.linalg.qr`` and ``jax.scipy.linalg.qr`` give a wrong gradient (or a silent 1e15)
# and matdiff's do not; last, ``md.gradcheck`` finding the wrong rule in a torch ``autograd.Function`` of your own.
# Needs torch and jax: ``pip install 'matdiff[torch,jax]'``.

# %%
import jax
import numpy as np
import torch

import matdiff as md
import matdiff.jax as mj
import matdiff.torch as mt
from matdiff.teach.tutorial import same, step

jax.config.update("jax_enable_x64", True)       # float64 in JAX, to compare with differences at 1e-10
F64 = torch.float64
g = torch.Generator().manual_seed(11)


def grad_and_fd(f, a, h=1e-6):
    """torch's gradient of the real scalar f at a, and the central difference of f entry by entry."""
    x = a.clone().requires_grad_()
    grad, = torch.autograd.grad(f(x), x)
    fd = torch.zeros_like(a)
    for i in np.ndindex(tuple(a.shape)):
        e = torch.zeros_like(a)
        e[i] = h
        fd[i] = (f(a + e) - f(a - e)) / (2 * h)
    return grad, fd


step("1. A layer with orthonormal columns: W = Q of matdiff.torch.qr(P), trained by torch.optim")
# Regression onto 3 orthonormal features of 6 inputs: Y = X W* + noise, W* (6x3) with W*^T W* = I.
# The model keeps W orthonormal by construction -- W = Q(P), P unconstrained -- so SGD never leaves the manifold.
m, k, N = 6, 3, 50
W_star = mt.qr(torch.randn(m, k, dtype=F64, generator=g)).Q
X = torch.randn(N, m, dtype=F64, generator=g)
Y = X @ W_star + 0.01 * torch.randn(N, k, dtype=F64, generator=g)
P = torch.nn.Parameter(torch.eye(m, k, dtype=F64))
opt = torch.optim.SGD([P], lr=0.3)
losses = []
for it in range(60):
    opt.zero_grad()
    loss = ((X @ mt.qr(P).Q - Y) ** 2).mean()
    loss.backward()                              # matdiff's Eq 3 inside torch's autograd
    opt.step()
    losses.append(loss.item())
    if it % 10 == 0 or it == 59:
        print(f"step {it:2d}: loss {losses[-1]:.6f}")
W = mt.qr(P).Q.detach()
print(f"max |W - W*| = {(W - W_star).abs().max():.1e}   (the data's noise is 1e-2)")
same("W^T W", W.T @ W, torch.eye(k, dtype=F64), labels=("W^T W", "I"), rtol=1e-12)
assert losses[-1] < losses[0] / 1000

# %%
step("2. torch.linalg.qr at an upper-triangular input and at the identity: its gradient is wrong")
# LAPACK's Householder reflector is the identity (tau = 0) for a column that is already triangular, so the sign
# of diag R depends on which side of the input you perturb: torch's QR is not even continuous there.
C, D = torch.randn(3, 3, dtype=F64, generator=g), torch.randn(3, 3, dtype=F64, generator=g)
T = torch.triu(torch.randn(3, 3, dtype=F64, generator=g))
e = torch.zeros(3, 3, dtype=F64)
e[1, 0] = 1e-6
print("torch: diag R at T:", torch.diagonal(torch.linalg.qr(T).R).sign().tolist(),
      "  at T + 1e-6 e_21:", torch.diagonal(torch.linalg.qr(T + e).R).sign().tolist())
for name, A in [("upper-triangular T", T), ("identity", torch.eye(3, dtype=F64))]:
    for lib, qr in [("torch.linalg.qr", torch.linalg.qr), ("matdiff.torch.qr", mt.qr)]:
        ok = torch.autograd.gradcheck(lambda a: tuple(qr(a)), (A.clone().requires_grad_(),), raise_exception=False)
        grad, fd = grad_and_fd(lambda a: (C * qr(a).Q).sum() + (D * qr(a).R).sum(), A)
        print(f"{name:18s} {lib:16s}: gradcheck {'passes' if ok else 'FAILS '}, max |grad - FD| = "
              f"{(grad - fd).abs().max():.1e}")
        assert ok == (lib == "matdiff.torch.qr")
same("matdiff.torch at the identity", grad, fd, labels=("grad", "FD"), rtol=1e-8, values=False)

# %%
step("3. JAX's pivoted wide QR: a wrong gradient, silently; matdiff.jax's is right")
# JAX's wide branch differentiates the unpermuted columns. L = sum(sin(R)) of a 2x4 A with pivoting.
a = np.random.default_rng(0).standard_normal((2, 4))


def jax_fd(f, a, h=1e-6):
    fd = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        e = np.zeros_like(a)
        e[i] = h
        fd[i] = (f(a + e) - f(a - e)) / (2 * h)
    return fd


def theirs(A):
    return jax.numpy.sum(jax.numpy.sin(jax.scipy.linalg.qr(A, pivoting=True, mode="economic")[1]))


def mine(A):
    return jax.numpy.sum(jax.numpy.sin(mj.qr(A, pivoting=True).R))


wrong = np.abs(np.asarray(jax.grad(theirs)(a)) - jax_fd(theirs, a)).max()
print(f"jax.scipy.linalg.qr(pivoting=True): max |grad - FD| = {wrong:.2f}   <- wrong, and no warning")
same("matdiff.jax.qr(pivoting=True)", jax.grad(mine)(a), jax_fd(mine, a), labels=("jax.grad", "FD"), rtol=1e-8)
assert wrong > 1e-3

# %%
step("4. Rank-deficient input: torch gives 1e15 silently; matdiff refuses and says what to do")
Z = torch.tensor([[1.0, 2.0, 3.0], [2.0, 4.0, 5.0], [3.0, 6.0, 7.0]], dtype=F64)      # rank 2
big, _ = grad_and_fd(lambda a: torch.linalg.qr(a).Q.sum(), Z)
print(f"torch.linalg.qr, rank-2 3x3: max |grad| = {big.abs().max():.1e}, no error")
Wd = torch.tensor([[1.0, 2.0, 3.0], [2.0, 4.0, 1.0]], dtype=F64)    # full rank, singular leading 2x2 block
try:
    grad_and_fd(lambda a: mt.qr(a).R.sum(), Wd)
    raise AssertionError("expected a RankDeficientError")
except md.RankDeficientError as err:
    print("matdiff.torch.qr, 2x3 with a singular leading block: RankDeficientError:", err)
    assert "pivoting=True" in str(err) and big.abs().max() > 1e12
grad, fd = grad_and_fd(lambda a: torch.sin(mt.qr(a, pivoting=True).R).sum(), Wd)
same("with pivoting=True", grad, fd, labels=("grad", "FD"), rtol=1e-8)

# %%
step("5. md.gradcheck names the wrong rule in your own torch autograd.Function")
# A hand-written QR Function whose backward forgot copyltu in Eq 3: Abar = (Qbar + Q M) R^{-H} with
# M = R Rbar^H - Qbar^H Q, where the paper has copyltu(M). torch runs it without complaint.


class MyQR(torch.autograd.Function):
    @staticmethod
    def forward(A):
        return tuple(torch.linalg.qr(A))

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*output)

    @staticmethod
    def backward(ctx, Qbar, Rbar):
        Q, R = ctx.saved_tensors
        M = R @ Rbar.mH - Qbar.mH @ Q                      # the bug: Eq 3 takes copyltu(M) here
        return torch.linalg.solve_triangular(R.mH, Qbar + Q @ M, upper=False, left=False)   # B R^{-H}


A = torch.randn(4, 3, dtype=F64, generator=g, requires_grad=True)
rep = md.gradcheck(lambda A: MyQR.apply(A), [A])
print(rep)       # the worst entries: R's strictly lower ones, always 0 -- copyltu is what gives them no derivative
assert not rep.ok and rep.blame and rep.blame[0].op == "MyQR" and "MyQR" in str(rep)
report = md.gradcheck(lambda A: tuple(mt.qr(A)), [A])          # matdiff.torch's own rule, the same check
print(report.summary)
assert report.ok
