"""Notation, hints and solutions of ``qr_wide``, ``lq_deep`` and ``pivoting`` (see :mod:`.hints` for the levels)."""
from .hints import _qr_family

QRW_NOTATION = ("A = QR with m < n: Q (m x m) unitary, R (m x n) upper trapezoidal. Partition A = [X|Y], R = [U|V], "
                "Rbar = [Ubar|Vbar] with X, U, Ubar m x m. Return Abar = [Xbar|Ybar] (m x n). Given: qr_vjp (Eq 3 / "
                "21 for a square block), mH, solve_right. Inputs may carry batch axes in front.")
LQD_NOTATION = ("A = LQ with m > n: L (m x n) lower trapezoidal, Q (n x n) unitary. Partition A = [X; Y], "
                "L = [U; V], Lbar = [Ubar; Vbar] with X, U, Ubar n x n. Return Abar = [Xbar; Ybar] (m x n). Given: "
                "lq_vjp (Eq 17 for a square block), mH, solve_right.")
PIV_NOTATION = ("Pivoted QR: A P = B = Q R with P (n x n) a permutation matrix (A P permutes A's columns). Qbar, "
                "Rbar: the adjoints of Q and R. Return Abar (m x n). Given: qr_vjp (Eq 3 / 21: Bbar from Qbar, "
                "Rbar), mH. P receives no gradient.")


def _partitioned(eq, ybar, qprime, T, base):
    h = _qr_family(eq, T, f"{T}⁻ᴴ", *base)
    h["Ybar"] = (f"The Y block: Ȳ is wrong ({ybar}).",
                 f"{eq}: Ȳ = {ybar.split('= ')[1]} -- the adjoint of V = {'Qᴴ Y' if T == 'U' else 'Y Qᴴ'} "
                 "with respect to Y. {where}",
                 "Which side does Q multiply, and is it Q or Qᴴ? Check the shapes: Ȳ has Y's shape.")
    h["Qprime"] = (f"The V̄ term of Q̄′: right when V̄ = 0, wrong otherwise -- Q̄′ = {qprime}.",
                   f"{eq}: V depends on Q too, so Q's adjoint gains a term: Q̄′ = {qprime}, and Q̄′ (not Q̄) goes "
                   "into both the bracket and M. {where}",
                   f"Compute Q̄′ = {qprime} first (ᴴ, not ᵀ, for complex input) and call the square rule with it.")
    return h


QRW_HINTS = _partitioned("Eq 9-10 / 26: X̄ = [Q̄′ + Q hcopyltu(M)] U⁻ᴴ, Ȳ = Q V̄", "Ȳ = Q V̄", "Q̄ + Y V̄ᴴ", "U",
                         ("−Q̄′ᴴ Q", "U Ūᴴ", "Ū"))
LQD_HINTS = _partitioned("Proposition 3: X̄ = U⁻ᴴ [Q̄′ + hcopyltu(M) Q], Ȳ = V̄ Q", "Ȳ = V̄ Q", "Q̄ + V̄ᴴ Y", "L",
                         ("−Q̄′ Qᴴ", "Uᴴ Ū", "Ū"))
LQD_HINTS["Lbar"] = LQD_HINTS.pop("Rbar")

PIV_HINTS = {
    "transpose": ("The permutation's transpose: right for a swap (P = Pᵀ), wrong for a cycle.",
                  "Section 3: B = A P, so Ā = B̄ Pᵀ. A swap is its own inverse and hides P vs Pᵀ; a cycle does not.",
                  "Multiply B̄ by P.T (equivalently: Abar[..., perm] = Bbar), not by P."),
    "permutation": ("The permutation: your B̄ is right but it is not mapped back to A's columns correctly.",
                    "Section 3: B = A P permutes columns, so Ā = B̄ Pᵀ -- on the right.",
                    "P acts on columns: multiply on the right (B̄ @ P.T), not on the left, and do not leave it out."),
    "qr": ("The QR part: no ordering of your Ā's columns gives the right B̄ -- B̄ itself is wrong.",
           "Eq 3 / 21 gives B̄ from Q̄, R̄ (qr_vjp(Q, R, Qbar, Rbar)); then Ā = B̄ Pᵀ.",
           "Call the given qr_vjp with the arguments in its order (Q, R, Qbar, Rbar)."),
    "batch": ("Batching: the single matrices pass, the stacked ones fail.",
              "P is one n x n matrix for the whole stack: B̄ @ P.T broadcasts. {where}",
              "Use @ (not np.dot) and transpose only P."),
}
PIV_HINTS["rule"] = PIV_HINTS["qr"]

QRW_SOLUTION = '''def vjp(A, Q, R, Qbar, Rbar):
    m = A.shape[-2]
    Y, U, Ubar, Vbar = A[..., m:], R[..., :m], Rbar[..., :m], Rbar[..., m:]
    Qbar_prime = Qbar + Y @ mH(Vbar)                          # Q̄′ = Q̄ + Y V̄ᴴ
    Xbar = qr_vjp(Q, U, Qbar_prime, Ubar)                     # Eq 9 / 26
    return np.concatenate([Xbar, Q @ Vbar], axis=-1)         # [X̄ | Ȳ], Ȳ = Q V̄ (Eq 10)
'''
LQD_SOLUTION = '''def vjp(A, L, Q, Lbar, Qbar):
    n = A.shape[-1]
    Y, U, Ubar, Vbar = A[..., n:, :], L[..., :n, :], Lbar[..., :n, :], Lbar[..., n:, :]
    Qbar_prime = Qbar + mH(Vbar) @ Y                          # Q̄′ = Q̄ + V̄ᴴ Y
    Xbar = lq_vjp(U, Q, Ubar, Qbar_prime)                     # Proposition 3
    return np.concatenate([Xbar, Vbar @ Q], axis=-2)         # [X̄; Ȳ], Ȳ = V̄ Q
'''
PIV_SOLUTION = '''def vjp(Q, R, P, Qbar, Rbar):
    return qr_vjp(Q, R, Qbar, Rbar) @ P.T                     # Ā = B̄ Pᵀ (Section 3)
'''
QRW_TEMPLATE = ("qr", "mH", "solve_right", "qr_vjp")
LQD_TEMPLATE = ("lq", "mH", "solve_right", "lq_vjp")
PIV_TEMPLATE = ("qr", "mH", "solve_right", "qr_vjp")
