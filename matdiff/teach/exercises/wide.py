"""The partitioned exercises -- ``qr_wide`` (Eq 9-10 / 26), ``lq_deep`` (Proposition 3) -- and ``pivoting``
(Section 3: ``Ā = B̄ Pᵀ``). A wide input is split ``A = [X|Y]`` (deep LQ: ``[X; Y]``); the grader looks at the
Y block first (Ȳ = Q V̄, or V̄ Q), then at Q̄′, then inside the X block's bracket like the square exercises.
"""
import numpy as np

from ...ops import lq as md_lq
from ...ops import permute
from ...ops import qr as md_qr
from . import _linalg as la
from . import wide_hints as W
from .catalog import exercise
from .decomp import Decomposition, QRExercise, engine_vjp


class Partitioned(Decomposition):
    """QR of a wide matrix (axis -1) or LQ of a deep one (axis -2): blocks ``[X|Y]`` / ``[X; Y]``."""
    axis, inner = -1, "Qᴴ(X̄ Uᴴ − Q̄′)"
    probes = ("all", "Rbar = 0", "Qbar = 0", "Vbar = 0")

    def k(self, env):
        return env["A"].shape[-2] if self.axis == -1 else env["A"].shape[-1]

    def block(self, X, first, k):
        return (X[..., :k] if first else X[..., k:]) if self.axis == -1 else (X[..., :k, :] if first else X[..., k:, :])

    def cotangents(self, case, probe):
        cots = super().cotangents(case, probe)
        if probe == "Vbar = 0":
            T = cots[self.cots[1 if self.axis == -1 else 0]].copy()
            k = min(case.data["shape"][-2:])
            self.block(T, False, k)[...] = 0
            cots[self.cots[1 if self.axis == -1 else 0]] = T
        return cots

    def qbar_prime(self, env):
        """``Q̄′ = Q̄ + Y V̄ᴴ`` (QR, Eq 9) or ``Q̄ + V̄ᴴ Y`` (LQ, Proposition 3)."""
        k, Tbar = self.k(env), env[self.tri + "bar"]
        Y, Vbar = self.block(env["A"], False, k), self.block(Tbar, False, k)
        return env["Qbar"] + (Y @ la.mH(Vbar) if self.axis == -1 else la.mH(Vbar) @ Y)

    def parts(self, case, probe, out, true):
        env = self.env(case, probe)
        k = self.k(env)
        return (self.block(env[self.tri], True, k), env["Q"], self.qbar_prime(env), self.block(out[0], True, k),
                self.block(true[0], True, k))

    def structure(self, case, probe, out, true):
        env, text = self.env(case, probe), []
        k = self.k(env)
        if "wide" in case.tags or "deep" in case.tags:
            bad = [nm for nm, first in (("X", True), ("Y", False))
                   if la.relerr(self.block(out[0], first, k), self.block(true[0], first, k)) > 1e-6]
            text.append(f"the error lives in the {' and '.join(bad)} block{'s' * (len(bad) > 1)} of Ā")
        return "; ".join(text + [super().structure(case, probe, out, true)])

    def diagnose(self, results, failing):
        case, probe, out, true = failing[0]
        env = self.env(case, probe)
        k = self.k(env)
        if la.relerr(self.block(out[0], False, k), self.block(true[0], False, k)) > 1e-6:
            return "Ybar"
        if results[case.label, "Vbar = 0"].ok:
            return "Qprime"                   # right without V̄, wrong with it, Ȳ right: the V̄ term of Q̄′
        return super().diagnose(results, failing)


@exercise
class QRWide(Partitioned):
    name, title = "qr_wide", "QR backward of a wide matrix by the partitioning trick"
    equation = "Proposition 2, Eq 9-10 (real) / Eq 26 (complex)"
    func, signature = "vjp", "vjp(A, Q, R, Qbar, Rbar) -> Abar"
    args_names = ("A", "Q", "R", "Qbar", "Rbar")
    specs = [((4, 4), False), ((3, 5), False), ((4, 4), True), ((3, 5), True), ((2, 3, 5), False), ((2, 3, 5), True)]
    notation, hints, solution, template = W.QRW_NOTATION, W.QRW_HINTS, W.QRW_SOLUTION, W.QRW_TEMPLATE
    seed = 400

    def reference(self, env):
        return engine_vjp(lambda t: md_qr(t, fused=True), env["A"], [env["Qbar"], env["Rbar"]])


@exercise
class LQDeep(Partitioned):
    name, title = "lq_deep", "LQ backward of a deep matrix by the partitioning trick"
    equation = "Proposition 3 (complex: hcopyltu)"
    func, signature = "vjp", "vjp(A, L, Q, Lbar, Qbar) -> Abar"
    axis, side, tri, inner = -2, "lq", "L", "(Uᴴ X̄ − Q̄′) Qᴴ"
    results, cots, args_names = ("L", "Q"), ("Lbar", "Qbar"), ("A", "L", "Q", "Lbar", "Qbar")
    probes = ("all", "Qbar = 0", "Lbar = 0", "Vbar = 0")
    term_parts = {"Lbar = 0": "Qbar", "Qbar = 0": "Lbar"}
    specs = [((4, 4), False), ((5, 3), False), ((4, 4), True), ((5, 3), True), ((2, 5, 3), False), ((2, 5, 3), True)]
    notation, hints, solution, template = W.LQD_NOTATION, W.LQD_HINTS, W.LQD_SOLUTION, W.LQD_TEMPLATE
    seed = 500

    def forward(self, A):
        return la.lq(A)

    def reference(self, env):
        return engine_vjp(lambda t: md_lq(t, fused=True), env["A"], [env["Lbar"], env["Qbar"]])


@exercise
class Pivoting(QRExercise):
    name, title = "pivoting", "QR with column pivoting: the permutation node"
    equation = "Section 3: AP = B = QR, Ā = B̄ Pᵀ"
    func, signature = "vjp", "vjp(Q, R, P, Qbar, Rbar) -> Abar"
    args_names = ("Q", "R", "P", "Qbar", "Rbar")
    probes = ("all",)
    specs = [((4, 4), False), ((4, 4), False), ((6, 4), False), ((5, 4), True), ((2, 5, 4), False)]
    notation, hints, solution, template = W.PIV_NOTATION, W.PIV_HINTS, W.PIV_SOLUTION, W.PIV_TEMPLATE
    seed = 600

    kinds = ("swap", "cycle", "cycle", "cycle", "cycle")      # per case: P = Pᵀ first, then P ≠ Pᵀ

    def perm(self, case):
        n = case.data["shape"][-1]
        return np.array([1, 0, *range(2, n)]) if case.data["kind"] == "swap" else np.roll(np.arange(n), -1)

    def prepare(self, case):
        case.data["kind"] = self.kinds[case.data["index"]]
        perm = self.perm(case)
        case.label += f", P {'a swap (P = Pᵀ)' if case.data['kind'] == 'swap' else 'a cycle'}"
        case.data["extra"] = {"P": np.eye(len(perm))[:, perm], "perm": perm}
        return super().prepare(case)

    def fwd(self, case):
        perm = self.perm(case)
        return lambda A: la.qr(A[..., perm])

    def reference(self, env):
        return engine_vjp(lambda t: md_qr(permute(t, perm=env["perm"], axis=-1)), env["A"],
                          [env["Qbar"], env["Rbar"]])

    def structure(self, case, probe, out, true):
        return ""

    def diagnose(self, results, failing):
        case, probe, out, true = failing[0]
        P, Bbar = case.data["extra"]["P"], true[0] @ case.data["extra"]["P"]
        candidates = [out[0], out[0] @ P, out[0] @ P.T] + ([P @ out[0], P.T @ out[0]] if P.shape[0] == out[0].shape[-2]
                                                           else [])
        if all(la.relerr(c, Bbar) > 1e-6 for c in candidates):
            return "qr"
        swap = next(c for c in self.cases() if c.data["kind"] == "swap")
        return "transpose" if results[swap.label, "all"].ok else "permutation"

