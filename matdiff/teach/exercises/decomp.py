"""The QR and LQ exercises: ``qr`` (Eq 3 / 21), ``complex_correction`` (Section 4.4), ``lq`` (Eq 17) and the
shared diagnosis -- the factor probe, the imaginary diagonal, Q̄ = 0 vs R̄ = 0, then the first failing case's kind.
"""

from ...autodiff import backward
from ...engine.tensor import tensor
from ...ops import lq as md_lq
from ...ops import qr as md_qr
from . import _linalg as la
from . import hints as H
from . import structure as st
from .catalog import exercise, solo
from .given import eq8_uncorrected
from .vjp import VjpExercise

SPECS_QR = [((4, 4), False), ((6, 3), False), ((4, 4), True), ((5, 3), True), ((2, 4, 3), False), ((2, 5, 3), True)]


def engine_vjp(f, A, cots):
    """The reference: matdiff's own nodes, ``A.grad`` after a backward of ``f(A)`` seeded with ``cots``."""
    t = tensor(A.copy(), requires_grad=True)
    backward(list(f(t)), [c.copy() for c in cots])
    return t.grad


class Decomposition(VjpExercise):
    """QR (``side = "qr"``: ``Ā = [Q̄ + Q S] R⁻ᴴ``) or LQ (``side = "lq"``: ``Ā = L⁻ᴴ [Q̄ + S Q]``)."""
    side, tri = "qr", "R"
    term_parts = {"Rbar = 0": "Qbar", "Qbar = 0": "Rbar"}     # the probe that fails alone -> the wrong term
    specs = SPECS_QR
    middle, inner = "hcopyltu(M)", None

    def forward(self, A):
        return la.qr(A)

    def parts(self, case, probe, out, true):
        """The learner's arrays the structure needs: (T, Q, Q̄ used in the bracket, yours, true)."""
        env = self.env(case, probe)
        return env[self.tri], env["Q"], env["Qbar"], out[0], true[0]

    def structure(self, case, probe, out, true):
        T, Q, Qbar, y, t = self.parts(case, probe, out, true)
        return st.describe(self.side, T, Q, Qbar, y, t, self.middle, self.inner)

    def diagnose(self, results, failing):
        case, probe, out, true = failing[0]
        T, Q, Qbar, y, t = self.parts(case, probe, out, true)
        if st.factor_wrong(self.side, T, y, t):
            return "factor"
        if "complex" in case.tags and st.imag_diagonal(self.side, T, Q, Qbar, y, t):
            return "hcopyltu"
        kind = _passed_kind(results, self.cases(), case)
        if kind:
            return kind
        bad = solo(results, case, self.term_parts)
        if len(bad) == 1:                     # "Rbar = 0" fails: the Q̄ term is wrong (and vice versa)
            return self.term_parts[bad[0]]
        return "complex" if "complex" in case.tags else "middle"


def _passed_kind(results, cases, case):
    """``"deep"``/``"wide"``/``"batch"`` when the failing case differs from a passing one only in that tag."""
    def ok(c):
        return all(r.ok for k, r in results.items() if k[0] == c.label)
    for tag in ("deep", "wide", "batch"):
        if tag in case.tags:
            base = {"deep": "square", "wide": "square", "batch": "single"}[tag]
            others = [c for c in cases if (case.tags - {tag}) | {base} == c.tags]
            if others and all(ok(c) for c in others):
                return tag
    return None


@exercise
class QRExercise(Decomposition):
    name, title = "qr", "QR backward, square and deep, real and complex"
    equation = "Eq 3 (real) / Eq 21 (complex)"
    func, signature = "vjp", "vjp(Q, R, Qbar, Rbar) -> Abar"
    notation = H.QR_NOTATION
    hints, solution, template = H.QR_HINTS, H.QR_SOLUTION, H.QR_TEMPLATE
    seed = 100

    def reference(self, env):
        return engine_vjp(md_qr, env["A"], [env["Qbar"], env["Rbar"]])


@exercise
class ComplexCorrection(QRExercise):
    name, title = "complex_correction", "Eq 8 (Walter & Lehmann) and the complex correction of Section 4.4"
    equation = "Eq 8 + Section 4.4 (C = i Im(diag M))"
    middle = "hcopyltu(M) (Eq 24)"
    specs = [((4, 4), False), ((4, 4), True), ((5, 3), True), ((2, 4, 3), True)]
    hints, solution, template = H.CC_HINTS, H.CC_SOLUTION, H.CC_TEMPLATE
    seed = 200

    def notes(self, fn):
        """Eq 8 without the correction, on the complex square case: how wrong it is."""
        case = self.cases()[1]
        true = self.expected(case, "all")[0][0]
        err = la.relerr(eq8_uncorrected(*self.args(case, "all")), true)
        return super().notes(fn) + [f"Eq 8 *without* the correction on the {case.label} case: relative error "
                                    f"{err:.2g} -- the correction is not optional"]


@exercise
class LQExercise(Decomposition):
    name, title = "lq", "LQ backward, square and wide, real and complex"
    equation = "Eq 17 (complex: hcopyltu, Section 4.2)"
    func, signature = "vjp", "vjp(L, Q, Lbar, Qbar) -> Abar"
    results, cots, args_names = ("L", "Q"), ("Lbar", "Qbar"), ("L", "Q", "Lbar", "Qbar")
    probes = ("all", "Qbar = 0", "Lbar = 0")
    term_parts = {"Lbar = 0": "Qbar", "Qbar = 0": "Lbar"}
    side, tri = "lq", "L"
    specs = [((4, 4), False), ((3, 6), False), ((4, 4), True), ((3, 5), True), ((2, 3, 4), False), ((2, 3, 5), True)]
    notation = H.LQ_NOTATION
    hints, solution, template = H.LQ_HINTS, H.LQ_SOLUTION, H.LQ_TEMPLATE
    seed = 300

    def forward(self, A):
        return la.lq(A)

    def reference(self, env):
        return engine_vjp(md_lq, env["A"], [env["Lbar"], env["Qbar"]])

