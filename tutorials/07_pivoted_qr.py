# %% [markdown]
# # 07 · Pivoted QR: a full-rank wide matrix whose leading block is singular; A P = Q R; Abar = Bbar P^T
#
# The wide QR backward (Figure 2) needs the leading m x m block X of A to be invertible. A full-rank matrix
# can still have a singular leading block -- then column pivoting (LAPACK geqp3) moves independent
# columns first: A P = B = Q R. The graph gets one more node, B = permute(A, perm), whose backward is the
# inverse permutation: Abar = Bbar P^T (paper Section 3).

# %%
import numpy as np

import matdiff as md
from matdiff.teach.tutorial import same, show, step, your_turn

rng = np.random.default_rng(7)
a = rng.standard_normal((3, 6))
a[:, 2] = a[:, 0] - 2 * a[:, 1]          # the first three columns are dependent
step("1. The matrix: rank 3, but its leading 3x3 block has rank 2")
print("rank(A) =", np.linalg.matrix_rank(a), "  rank(A[:, :3]) =", np.linalg.matrix_rank(a[:, :3]))

# %%
step("2. Without pivoting the backward refuses, and says what to do")
A = md.tensor(a, requires_grad=True, name="A")
Q, R = md.qr(A)
try:
    md.sum(md.real(R)).backward()
    raise AssertionError("expected a RankDeficientError")
except md.RankDeficientError as e:
    print("RankDeficientError:", e)
    assert "pivoting=True" in str(e)

# %%
step("3. With pivoting: B = A P, then the wide QR graph on B")
A = md.tensor(a, requires_grad=True, name="A")
with md.Tape() as tape:
    Q, R, perm = md.qr(A, pivoting=True)
print(tape)
print("perm =", perm)
same("Q R", Q.data @ R.data, a[:, perm], labels=("Q R", "A[:, perm]"))
show("|diag(R)| (non-increasing: geqp3's choice)", np.abs(np.diag(R.data)))

# %%
step("4. Abar = Bbar P^T: the permute node undoes the permutation")
# md.qr(A, pivoting=True) is exactly this graph: B = permute(A, perm), then QR of B. Built by hand, B is ours.
Qbar, Rbar = rng.standard_normal((3, 3)), rng.standard_normal((3, 6))    # the loss <Qbar, Q> + <Rbar, R>
A = md.tensor(a, requires_grad=True, name="A")
B = md.permute(A, perm, axis=-1, name="B")       # B = A P
Q, R = md.qr(B)
md.backward([Q, R], [Qbar, Rbar])
P = np.eye(6)[:, perm]                           # A P == A[:, perm]
same("B", B.data, a @ P, labels=("permute(A, perm)", "A P"), rtol=0)
same("Abar", A.grad, B.grad @ P.T, labels=("A.grad", "Bbar P^T"), rtol=0)

# %%
step("5. gradcheck through the pivoted graph")
report = md.gradcheck(lambda A: tuple(md.qr(A, pivoting=True)[:2]), [A])
print(report.summary)
assert report.ok
your_turn("pivoting")
