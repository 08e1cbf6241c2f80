"""Notation, hints (three levels per part) and solutions of the QR/LQ exercises.

A part is what the grader's diagnosis names (``factor``, ``Qbar``, ``Rbar``, ``hcopyltu``, ``middle``, ``complex``,
``deep``, ``wide``, ``batch``, ``rule``). Level 1 says which part, level 2 the equation and ``{where}`` (the
structural finding), level 3 is stronger -- but never the whole rule: that is ``solution=True``.
"""
QR_NOTATION = ("A = QR (m >= n, k = n): Q (m x k) with QᴴQ = I, R (k x k) upper triangular with a real diagonal. "
               "Qbar, Rbar: the adjoints of Q, R (same shapes). Return Abar (m x n). Allowed: NumPy, "
               "matdiff.paper (copyltu, hcopyltu, E, P_L, sym, symh) and the given solve_right / mH. Inputs may "
               "carry batch axes in front: use mH (not .T) and @.")

LQ_NOTATION = ("A = LQ (m <= n, k = m): L (k x k) lower triangular with a real diagonal, Q (k x n) with QQᴴ = I. "
               "Lbar, Qbar: the adjoints of L, Q. Return Abar (m x n). Allowed: NumPy, matdiff.paper, the given "
               "mH / solve_right. Inputs may carry batch axes in front.")

_BATCH = ("Batching: the single matrices pass, the stacked ones fail.",
          "On a stack (..., m, n) every operation must act on the last two axes: `.T` reverses *all* axes, "
          "np.linalg.inv/solve broadcast but np.dot does not. {where}",
          "Replace `.T` by np.swapaxes(X, -1, -2) (or the given mH), np.dot by @, and build masks for the last "
          "two axes only.")


def _qr_family(eq, T, Tinv, term_q, term_r, bar_t):
    return {
        "factor": (f"The factor {Tinv}: undoing your answer with a different factor gives the right bracket.",
                   f"{eq}: the bracket is multiplied by {Tinv} -- the inverse of the *adjoint* of {T}. {{where}}",
                   f"Check {T}⁻¹ vs {Tinv}: with the given solve_right(X, T) = X T⁻¹, you need T = mH({T}) on the "
                   "side the equation puts it, not T = " + T + "."),
        "Qbar": ("The Q̄ term: your Ā is right when Q̄ = 0 and wrong when the other adjoint is 0.",
                 f"{eq}: Q̄ appears twice -- added to the bracket on its own, and inside M as {term_q}. {{where}}",
                 f"Check the sign of {term_q} in M, that Q̄ itself is added in the bracket, and that every Q̄ is "
                 "conjugate-transposed (ᴴ) where the equation says so."),
        "Rbar": (f"The {bar_t} term: your Ā is right when {bar_t} = 0 and wrong when Q̄ = 0.",
                 f"{eq}: {bar_t} enters only through M = {term_r} ... . {{where}}",
                 f"Check {term_r}: the order of the product, its sign and the conjugate transpose ({bar_t}ᴴ, not "
                 f"{bar_t}ᵀ) for complex input."),
        "hcopyltu": ("hcopyltu: the diagonal of the middle matrix is wrong (its imaginary part: complex input).",
                     "Section 4.2: hcopyltu(M) = symh(E ∘ M) conjugates the lower triangle into the upper one and "
                     "keeps only the REAL part of the diagonal; copyltu (Eq 3) does not. {where}",
                     "For complex input use matdiff.paper.hcopyltu(M) (or symh(E * M)), not copyltu(M)."),
        "middle": ("The middle term Q·hcopyltu(M) (it carries both adjoints): wrong with either one set to 0.",
                   f"{eq}: {{where}}",
                   "hcopyltu copies the LOWER triangle of M to the upper one (E has 2 below the diagonal, 0 above); "
                   "check the mask's triangle, the sign in front of the term, and which side Q multiplies."),
        "complex": ("The complex part: real inputs pass, complex ones fail -- a transpose where an adjoint belongs.",
                    f"{eq} (complex: Section 4.3): every ᵀ of the real rule becomes ᴴ. {{where}}",
                    "Look for .T or np.swapaxes without np.conj, and for copyltu where hcopyltu is needed."),
        "deep": ("The deep case: square inputs pass, deep ones (m > n) fail.",
                 f"{eq} holds for m >= n. For deep Q, Q Qᴴ ≠ I: nothing may be simplified with it. {{where}}",
                 "Q̄ must be added to the bracket whole (its part outside span(Q) survives); use shapes k = n."),
        "wide": ("The wide case: square inputs pass, wide ones (m < n) fail.",
                 f"{eq} holds for m <= n. For wide Q, Qᴴ Q ≠ I: nothing may be simplified with it. {{where}}",
                 "Q̄ must be added to the bracket whole (its part outside the row space of Q survives)."),
        "batch": _BATCH,
        "rule": ("The rule itself.", f"{eq}: {{where}}", "Compare your code line by line with the equation."),
    }


QR_HINTS = _qr_family("Eq 3 / Eq 21: Ā = [Q̄ + Q hcopyltu(M)] R⁻ᴴ, M = R R̄ᴴ − Q̄ᴴ Q", "R", "R⁻ᴴ",
                      "−Q̄ᴴ Q", "R R̄ᴴ", "R̄")
LQ_HINTS = _qr_family("Eq 17: Ā = L⁻ᴴ [Q̄ + hcopyltu(M) Q], M = Lᴴ L̄ − Q̄ Qᴴ", "L", "L⁻ᴴ", "−Q̄ Qᴴ", "Lᴴ L̄", "L̄")
LQ_HINTS["Lbar"] = LQ_HINTS.pop("Rbar")

CC_HINTS = dict(QR_HINTS, hcopyltu=(
    "The correction C of Section 4.4: the diagonal of the middle matrix is wrong (complex input).",
    "Section 4.4, Eq 24-25: Eq 8's middle P_L ∘ (M − Mᴴ) + Mᴴ differs from hcopyltu(M) only on the diagonal, by "
    "C = i Im(diag(M)) (Eq 25's last line). {where}",
    "Add C inside the bracket, next to P_L ∘ (M − Mᴴ), before multiplying by Q: C = 1j * diag(Im diag M)."))

QR_SOLUTION = '''def vjp(Q, R, Qbar, Rbar):
    M = R @ mH(Rbar) - mH(Qbar) @ Q                      # M = R R̄ᴴ − Q̄ᴴ Q
    return solve_right(Qbar + Q @ hcopyltu(M), mH(R))     # [Q̄ + Q hcopyltu(M)] R⁻ᴴ   (Eq 21)
'''
LQ_SOLUTION = '''def vjp(L, Q, Lbar, Qbar):
    M = mH(L) @ Lbar - Qbar @ mH(Q)                      # M = Lᴴ L̄ − Q̄ Qᴴ
    return np.linalg.solve(mH(L), Qbar + hcopyltu(M) @ Q)  # L⁻ᴴ [Q̄ + hcopyltu(M) Q]   (Eq 17)
'''
CC_SOLUTION = '''def vjp(Q, R, Qbar, Rbar):
    M = R @ mH(Rbar) - mH(Qbar) @ Q
    C = 1j * np.imag(np.diagonal(M, axis1=-2, axis2=-1))[..., None] * np.eye(M.shape[-1])   # Section 4.4
    inner = P_L(M.shape[-1]) * (M - mH(M)) + C
    return Q @ Rbar + solve_right(Q @ inner + Qbar - Q @ (mH(Q) @ Qbar), mH(R))          # Eq 8 + C
'''
QR_TEMPLATE = ("qr", "mH", "solve_right")
LQ_TEMPLATE = ("lq", "mH", "solve_right")
CC_TEMPLATE = ("qr", "mH", "solve_right", "eq8_uncorrected")
