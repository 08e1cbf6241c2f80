"""The first exercises of the course: ``matmul`` (the vjp of C = AB), ``trace_identity`` (the pairing of Eq 2 by
hand) and ``qr_jvp`` (Lemma 1: the variations dQ, dR -- Step 1 of the paper's two-step process).
"""
import numpy as np

from ...ops.qr import qr_jvp
from . import _linalg as la
from . import basics_hints as T
from .catalog import Exercise, exercise
from .decomp import _passed_kind
from .structure import REGIONS, regions
from .vjp import VjpExercise


def _by_output(self, results, failing):
    """The kind of the first failing case if the same case without it passes (deep, batch, complex), else the
    first wrong output (for qr_jvp dR first: dQ is computed from it)."""
    case, probe = failing[0][:2]
    kind = _passed_kind(results, self.cases(), case)
    reals = [c for c in self.cases() if "real" in c.tags]
    if kind is None and "complex" in case.tags and all(results[c.label, "all"].ok for c in reals):
        kind = "complex"
    if kind in self.hints:
        return kind
    bad = results[case.label, probe].bad
    return "dR" if "dR" in bad else bad[0]


@exercise
class MatmulExercise(VjpExercise):
    name, title, equation = "matmul", "the vjp of a matrix product C = A B", "Section 2.2 (Eq 1-2)"
    func, signature = "vjp", "vjp(A, B, Cbar) -> (Abar, Bbar)"
    primals, results, cots = ("A", "B"), ("C",), ("Cbar",)
    args_names, outputs, probes = ("A", "B", "Cbar"), ("Abar", "Bbar"), ("all",)
    specs = [((3, 3), False), ((4, 2), False), ((3, 2), True), ((2, 3, 2), False)]
    notation, hints, solution, template = T.MM_NOTATION, T.MM_HINTS, T.MM_SOLUTION, ("mH",)
    seed = 10

    def forward(self, A, B):
        return A @ B

    def make_primals(self, rng, shape, cplx):
        return {"A": la.matrix(rng, shape, cplx), "B": la.matrix(rng, shape[:-2] + (shape[-1], shape[-2] + 1), cplx)}

    def reference(self, env):
        return env["Cbar"] @ la.mH(env["B"]), la.mH(env["A"]) @ env["Cbar"]

    diagnose = _by_output


@exercise
class TraceIdentity(Exercise):
    name, title = "trace_identity", "the pairing <X, dX> = Re Tr(Xᴴ dX) of the trace identity"
    equation = "Eq 2 (real) / Eq 19 (complex)"
    func, signature, outputs = "pairing", "pairing(X, dX) -> float", ("pairing",)
    specs = [((3, 3), False), ((4, 2), False), ((3, 3), True), ((4, 2), True), ((2, 3, 2), True)]
    notation, hints, solution, template = T.TI_NOTATION, T.TI_HINTS, T.TI_SOLUTION, ()
    seed = 20

    def prepare(self, case):
        d = case.data
        d["X"], d["dX"] = la.matrix(d["rng"], d["shape"], d["cplx"]), la.matrix(d["rng"], d["shape"], d["cplx"])
        return case

    def args(self, case, probe):
        return case.data["X"], case.data["dX"]

    def expected(self, case, probe):
        v = np.array(la.inner(case.data["X"], case.data["dX"]))
        return (v,), (v,)

    def diagnose(self, results, failing):
        part = _by_output(self, results, failing)
        return part if part in ("batch", "complex") else "transpose"

    def notes(self, fn):
        """Eq 2 evaluated with the learner's pairing on a complex 4x3 QR: both sides."""
        rng = np.random.default_rng(21)
        A, dA = la.matrix(rng, (4, 3), True), la.matrix(rng, (4, 3), True)
        Qb, Rb = la.matrix(rng, (4, 3), True), la.matrix(rng, (3, 3), True)
        Q, R = la.qr(A)
        from .given import qr_vjp
        dQ, dR = la.directional(la.qr, [A], [dA])
        try:
            lhs, rhs = fn(qr_vjp(Q, R, Qb, Rb), dA), fn(Qb, dQ) + fn(Rb, dR)
            return [f"Eq 2 with your pairing, complex 4x3 QR: <Ā, dA> = {complex(lhs):.6g}, "
                    f"<Q̄, dQ> + <R̄, dR> = {complex(rhs):.6g}"]
        except Exception:                              # noqa: BLE001 -- the grade already says what is wrong
            return []


@exercise
class QRJvp(VjpExercise):
    name, title, equation = "qr_jvp", "the variations of QR: dQ and dR from dA", "Lemma 1 (complex: Section 4.3)"
    func, signature = "jvp", "jvp(Q, R, dA) -> (dQ, dR)"
    outputs, probes = ("dQ", "dR"), ("all",)
    specs = [((4, 4), False), ((6, 3), False), ((4, 4), True), ((5, 3), True), ((2, 4, 3), False)]
    notation, hints, solution, template = T.JVP_NOTATION, T.JVP_HINTS, T.JVP_SOLUTION, ("qr", "mH", "solve_right")
    seed = 30

    def forward(self, A):
        return la.qr(A)

    def args(self, case, probe):
        d = case.data
        return d["outs"]["Q"], d["outs"]["R"], d["tangents"][0]

    def expected(self, case, probe):
        d = case.data
        true = la.directional(la.qr, [d["prim"]["A"]], d["tangents"])
        return tuple(true), qr_jvp(la.B, d["outs"]["Q"], d["outs"]["R"], d["tangents"][0].copy())

    def diagnose(self, results, failing):
        return _by_output(self, results, failing)

    def structure(self, case, probe, out, true):
        e = regions(out[1], true[1])
        wrong = [r for r in REGIONS if e[r] > 1e-6]
        return f"your dR differs in the {', '.join(wrong)}" if wrong else "your dR is right; dQ is wrong"

    def notes(self, fn):
        """The trace identity with the learner's variations: <Ā, dA> = <Q̄, dQ> + <R̄, dR>."""
        case = self.cases()[2]
        d = case.data
        try:
            dQ, dR = fn(*self.args(case, "all"))
            from .given import qr_vjp
            lhs = la.inner(qr_vjp(d["outs"]["Q"], d["outs"]["R"], d["cots"]["Qbar"], d["cots"]["Rbar"]),
                           d["tangents"][0])
            rhs = la.inner(d["cots"]["Qbar"], dQ) + la.inner(d["cots"]["Rbar"], dR)
        except Exception:                              # noqa: BLE001
            return []
        return [f"trace identity (Eq 2), {case.label}: <Ā, dA> = {lhs:+.8f} (Eq 21)   <Q̄, dQ> + <R̄, dR> = "
                f"{rhs:+.8f} (your dQ, dR)"]
