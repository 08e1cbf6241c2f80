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
from matdiff.tutorial import show, step

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
assert np.allclose(a[:, perm], Q.data @ R.data)
show("|diag(R)| (non-increasing: geqp3's choice)", np.abs(np.diag(R.data)))

# %%
step("4. Abar = Bbar P^T: the permute node undoes the permutation")
Qbar, Rbar = rng.standard_normal((3, 3)), rng.standard_normal((3, 6))
md.backward([Q, R], [Qbar, Rbar])
B = tape.nodes[0].outputs[0]                     # the permuted matrix AP
P = np.eye(6)[:, perm]                           # A P == A[:, perm]
assert np.allclose(a @ P, B.data)
assert np.allclose(A.grad, B.grad @ P.T)
print("A.grad == B.grad P^T")

# %%
step("5. gradcheck through the pivoted graph")
report = md.gradcheck(lambda A: tuple(md.qr(A, pivoting=True)[:2]), [A])
print(report.summary)
assert report.ok
