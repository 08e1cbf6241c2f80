# %% [markdown]
# # 06 · Complex QR: Eq 21, hcopyltu, the gradient convention, the Section 4.4 correction, wide Eq 26
#
# For complex A = QR (Q^H Q = I, R upper triangular with a *real* diagonal) the paper derives
#
#     Abar = [Qbar + Q hcopyltu(M)] R^{-H},   M = R Rbar^H - Qbar^H Q                       (Eq 21)
#
# where hcopyltu(M) = symh(E ∘ M) conjugates the lower triangle into the upper and keeps Re of the diagonal.
# Convention (PyTorch's): for a real loss L, the gradient of z is dL/dRe z + i dL/dIm z.

# %%
import numpy as np

import matdiff as md
from matdiff import paper
from matdiff.teach.tutorial import same, show, step, your_turn

rng = np.random.default_rng(6)
crandn = lambda *s: rng.standard_normal(s) + 1j * rng.standard_normal(s)  # noqa: E731
a = crandn(4, 3)



def loss(X):
    return md.sum(md.real(md.qr(X).R))            # a real scalar loss of complex A


step("1. The gradient convention on one entry, by finite differences")
A = md.tensor(a, requires_grad=True, name="A")
L = loss(A)
L.backward()
h = 1e-6
e = np.zeros_like(a)
e[1, 2] = 1
dRe = (loss(md.tensor(a + h * e)).item() - loss(md.tensor(a - h * e)).item()) / (2 * h)
dIm = (loss(md.tensor(a + 1j * h * e)).item() - loss(md.tensor(a - 1j * h * e)).item()) / (2 * h)
same("the gradient at entry [1, 2]", A.grad[1, 2], dRe + 1j * dIm, labels=("A.grad[1, 2]", "dL/dRe + i dL/dIm"),
     rtol=1e-7)

# %%
step("2. Eq 21 by hand with hcopyltu")
Ain = md.tensor(a, requires_grad=True, name="A")
Q, R = md.qr(Ain)
show("diag(R) is real", np.diag(R.data))
Qbar, Rbar = crandn(4, 3), crandn(3, 3)      # the real loss Re<Qbar, Q> + Re<Rbar, R> = Re Σ conj(Qbar)∘Q + ...
md.backward([Q, R], [Qbar, Rbar])
Qd, Rd = Q.data, R.data
M = Rd @ Rbar.conj().T - Qbar.conj().T @ Qd
H = paper.hcopyltu(M)
same("hcopyltu(M)", H, paper.symh(paper.E(3) * M), labels=("hcopyltu(M)", "symh(E ∘ M)"), rtol=1e-12)
same("diag(hcopyltu(M))", np.diag(H), np.diag(M).real, labels=("diag hcopyltu(M)", "Re diag M"), rtol=1e-12)
Abar = np.linalg.solve(Rd, (Qbar + Qd @ H).conj().T).conj().T             # [...] R^{-H}
same("Abar (Eq 21)", Ain.grad, Abar)

# %%
step("3. Section 4.4: Eq 8 with ^T read as ^H is wrong for complex input ...")
C = 1j * np.diag(np.diag(M).imag)                                         # the correction C = i Im(diag M)
P_L = paper.P_L(3)
show("C = i Im(diag M)", np.diag(C))
same("hcopyltu(M)", P_L * (M - M.conj().T) + M.conj().T + C, H, labels=("P_L∘(M - M^H) + M^H + C", "hcopyltu(M)"),
     rtol=1e-12)
print("without C they differ by", f"{np.linalg.norm(P_L * (M - M.conj().T) + M.conj().T - H):.3g}",
      "-- exactly the imaginary part of diag(M) that Eq 8 read with ^H keeps")
T = md.tensor(a, requires_grad=True)
wrong = md.gradcheck(lambda A: tuple(md.qr(A, formula="eq8-uncorrected")), [T])
right = md.gradcheck(lambda A: tuple(md.qr(A, formula="eq8")), [T])
print("uncorrected Eq 8:", wrong.summary)
print("corrected Eq 8:  ", right.summary)
assert not wrong.ok and right.ok

# %%
step("4. Wide complex QR (Eq 26): graph and fused, gradcheck")
w = md.tensor(crandn(3, 5), requires_grad=True)
for fused in (False, True):
    report = md.gradcheck(lambda A: tuple(md.qr(A, fused=fused)), [w])
    print(f"fused={fused}:", report.summary)
    assert report.ok
your_turn("complex_correction", "qr")
