# %% [markdown]
# # 09 · The same graph on the GPU (CuPy), when CuPy and a device are present
#
# Rules call only the backend interface, so the QR graph of tutorial 03 runs unchanged on CuPy arrays.
# Pivot selection is the one step that goes to the host (geqp3), once, explicitly. Without a GPU every step
# says it is skipped (and ``--step`` does not wait on it).

# %%
import numpy as np

import matdiff as md
from matdiff.teach.tutorial import same, step

GPU = md.backend.gpu_available()
SKIP = None if GPU else "no GPU"
if not GPU:
    print("No GPU here: CuPy with a CUDA device is needed -- pip install 'matdiff[gpu-cuda12]' (or gpu-cuda13; "
          "nvidia-smi shows the CUDA version). The steps below are skipped.")
rng = np.random.default_rng(9)
a = rng.standard_normal((3, 6)) + 1j * rng.standard_normal((3, 6))

# %%
step("1. Wide complex QR on the GPU: the Figure 2 graph on CuPy arrays", skip=SKIP)
if GPU:
    A = md.tensor(a, requires_grad=True, device="gpu", name="A")
    with md.Tape() as tape:
        Q, R = md.qr(A)
    print(tape)
    print(Q)

# %%
step("2. Backward on the GPU, compared with the CPU", skip=SKIP)
if GPU:
    md.sum(md.real(R * R.conj())).backward()
    Ac = md.tensor(a, requires_grad=True)
    Rc = md.qr(Ac).R
    md.sum(md.real(Rc * Rc.conj())).backward()
    same("A.grad", A.grad.get(), Ac.grad, labels=("GPU", "CPU"), rtol=1e-10)

# %%
step("3. gradcheck on the GPU (pivoted too)", skip=SKIP)
if GPU:
    for piv in (False, True):
        report = md.gradcheck(lambda A: tuple(md.qr(A, pivoting=piv)[:2]), [A])
        print(f"pivoting={piv}:", report.summary)
        assert report.ok
