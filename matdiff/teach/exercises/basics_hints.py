"""Notation, hints and solutions of ``matmul``, ``trace_identity``, ``qr_jvp`` and ``figure2``."""

_BATCH = ("Batching: the single matrices pass, the stacked ones fail.",
          "On a stack (..., m, n) transpose only the last two axes: `.T` reverses all of them. {where}",
          "Use np.swapaxes(X, -1, -2) (or the given mH) and @ (not np.dot).")

MM_NOTATION = ("C = A B with A (m x n), B (n x p); Cbar (m x p) is C's adjoint. Return (Abar, Bbar) with the shapes "
               "of A and B. Complex: the adjoint (conjugate transpose), PyTorch's convention.")
MM_HINTS = {
    "Abar": ("Ā (the adjoint of A) is wrong.",
             "Section 2.2: Tr(C̄ᴴ dC) = Tr(C̄ᴴ dA B) + ... = Tr((C̄ Bᴴ)ᴴ dA): read off Ā. {where}",
             "Ā has A's shape m x n: which product of C̄ (m x p) and B (n x p) gives it?"),
    "Bbar": ("B̄ (the adjoint of B) is wrong.",
             "Section 2.2: Tr(C̄ᴴ A dB) = Tr((Aᴴ C̄)ᴴ dB): read off B̄. {where}",
             "B̄ has B's shape n x p: which product of A (m x n) and C̄ (m x p) gives it?"),
    "complex": ("The complex part: real inputs pass, complex fail -- a transpose where an adjoint belongs.",
                "Eq 19: for complex input the pairing is Re Tr(Xᴴ dX), so the rule has ᴴ (conjugate transposes). "
                "{where}", "Replace .T by .conj().T (or mH)."),
    "batch": _BATCH,
}
MM_SOLUTION = '''def vjp(A, B, Cbar):
    return Cbar @ mH(B), mH(A) @ Cbar         # Ā = C̄ Bᴴ, B̄ = Aᴴ C̄
'''

TI_NOTATION = ("X, dX: two matrices of the same shape (m x n, real or complex, possibly a stack). Return the real "
               "number <X, dX> = Re Tr(Xᴴ dX) -- summed over a stack -- the pairing on both sides of Eq 2.")
TI_HINTS = {
    "transpose": ("The transpose: Tr(X dX) is not the pairing -- it needs Xᵀ (and works for m ≠ n).",
                  "Eq 2: Tr(Āᵀ dA). Tr(Xᵀ dX) = Σ_ij X_ij dX_ij: no matrix product needed. {where}",
                  "np.sum(X * dX) is Tr(Xᵀ dX) for real X; it works for any shape and for a stack."),
    "complex": ("The complex part: real inputs pass, complex fail -- conjugate X, and keep the real part.",
                "Eq 19: Tr(Āᴴ dA + h.c.) = 2 Re Tr(Āᴴ dA); the pairing is Re Tr(Xᴴ dX). {where}",
                "np.real(np.sum(np.conj(X) * dX))."),
    "batch": _BATCH,
}
TI_SOLUTION = '''def pairing(X, dX):
    return float(np.real(np.sum(np.conj(X) * dX)))      # Re Tr(Xᴴ dX), summed over a stack
'''

JVP_NOTATION = ("A = QR (m >= n), Q (m x n), R (n x n) upper triangular with a real diagonal; dA a variation of A. "
                "Return (dQ, dR): dR upper triangular with a real diagonal. Allowed: NumPy, matdiff.paper (E, symh, "
                "sym), the given mH / solve_right (X T⁻¹).")
JVP_HINTS = {
    "dR": ("dR is wrong (dQ is built from it, so fix dR first).",
           "Lemma 1: dR = (symh(C) ∘ Eᵀ) R with C = Qᴴ dA R⁻¹. dR must be upper triangular with a real diagonal. "
           "{where}",
           "Eᵀ (not E) keeps the upper triangle; C needs R⁻¹ on the right (solve_right(X, R)), not R⁻ᴴ."),
    "dQ": ("dQ is wrong (your dR is right).",
           "Lemma 1: dQ = (dA − Q dR) R⁻¹. {where}",
           "Check the sign of Q dR and that R⁻¹ multiplies on the right (solve_right(X, R))."),
    "complex": ("The complex part: real inputs pass, complex fail -- sym where symh belongs, or ᵀ where ᴴ.",
                "Section 4.3: C = Qᴴ dA R⁻¹ and dR = (symh(C) ∘ Eᵀ) R, symh(C) = (C + Cᴴ)/2. {where}",
                "Use matdiff.paper.symh (not sym), and mH(Q) (not Q.T)."),
    "deep": ("The deep case: square inputs pass, deep ones fail.",
             "Lemma 1 holds for m >= n; Q is m x n, so Q Qᴴ ≠ I. {where}",
             "Do not replace Q Qᴴ by I or Q⁻¹ by Qᴴ on the left."),
    "batch": _BATCH,
}
JVP_SOLUTION = '''def jvp(Q, R, dA):
    C = solve_right(mH(Q) @ dA, R)                        # C = Qᴴ dA R⁻¹
    dR = (symh(C) * E(R.shape[-1]).T) @ R                 # dR = (symh(C) ∘ Eᵀ) R
    return solve_right(dA - Q @ dR, R), dR                # dQ = (dA − Q dR) R⁻¹
'''
