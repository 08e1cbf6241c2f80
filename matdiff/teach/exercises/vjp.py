"""The common kind of exercise: a forward on NumPy arrays and the learner's reverse-mode rule for it.

The true adjoints come from central differences of the forward (:func:`matdiff.teach.exercises._linalg.jacobian`, once
per case, then any cotangent is a contraction), the reference from matdiff's rules. A probe named ``"X = 0"`` zeroes
the cotangent ``X``: ``Qbar = 0`` leaves only the R̄ terms of a rule, ``Rbar = 0`` only the Q̄ terms.
"""
import numpy as np

from . import _linalg as la
from .catalog import Exercise
from .grader import LearnerError, as_outputs, call


class VjpExercise(Exercise):
    """Class attributes: ``primals`` (forward inputs), ``results`` (forward outputs), ``cots`` (their cotangents,
    in the same order), ``args_names`` (the learner's arguments, in order), ``specs`` ((shape, complex) per case)."""
    primals = ("A",)
    results = ("Q", "R")
    cots = ("Qbar", "Rbar")
    args_names = ("Q", "R", "Qbar", "Rbar")
    outputs = ("Abar",)
    probes = ("all", "Rbar = 0", "Qbar = 0")

    def forward(self, A):
        raise NotImplementedError

    def reference(self, env):
        raise NotImplementedError

    def fwd(self, case):
        """The forward for ``case`` (pivoting fixes a permutation per case)."""
        return self.forward

    def make_primals(self, rng, shape, cplx):
        return {"A": la.matrix(rng, shape, cplx)}

    def prepare(self, case):
        d = case.data
        prim = self.make_primals(d["rng"], d["shape"], d["cplx"])
        outs = la._tuple(self.fwd(case)(*prim.values()))
        rng = d["rng"]
        cots = {}
        for name, o in zip(self.cots, outs):
            c = rng.standard_normal(o.shape)
            cots[name] = c + 1j * rng.standard_normal(o.shape) if np.iscomplexobj(o) else c
        d.update(prim=prim, outs=dict(zip(self.results, outs)), cots=cots,
                 jac=la.jacobian(self.fwd(case), list(prim.values())),
                 tangents=[la.matrix(rng, p.shape, np.iscomplexobj(p)) for p in prim.values()])
        return case

    def cotangents(self, case, probe):
        cots = dict(case.data["cots"])
        if probe.endswith(" = 0") and probe[:-4] in cots:
            cots[probe[:-4]] = np.zeros_like(cots[probe[:-4]])
        return cots

    def env(self, case, probe):
        d = case.data
        return {**d["prim"], **d["outs"], **self.cotangents(case, probe), **d.get("extra", {})}

    def args(self, case, probe):
        env = self.env(case, probe)
        return tuple(env[n] for n in self.args_names)

    def expected(self, case, probe):
        d, cots = case.data, self.cotangents(case, probe)
        true = la.numeric_grads(list(d["prim"].values()), d["jac"], [cots[n] for n in self.cots])
        return tuple(true), la._tuple(self.reference(self.env(case, probe)))

    def notes(self, fn):
        """The trace identity (Eq 2) with the learner's adjoint on one case, along a random direction."""
        singles = [c for c in self.cases() if {"complex", "single"} <= c.tags]
        case = singles[-1] if singles else self.cases()[0]
        d = case.data
        try:
            out = as_outputs(call(fn, self.args(case, "all"), self.func), self.outputs,
                             self.expected(case, "all")[0], self.func)
        except LearnerError:
            return []
        lhs = sum(la.inner(o, t) for o, t in zip(out, d["tangents"]))
        douts = la.directional(self.fwd(case), list(d["prim"].values()), d["tangents"])
        rhs = sum(la.inner(d["cots"][n], o) for n, o in zip(self.cots, douts))
        bars = " + ".join(f"<{n}, d{r}>" for n, r in zip(self.cots, self.results))
        ins = " + ".join(f"<{o}, d{p}>" for o, p in zip(self.outputs, self.primals))
        return [f"trace identity (Eq 2), {case.label}, a random d{self.primals[0]}:",
                f"  {ins} = {lhs:+.8f} (yours)   {bars} = {rhs:+.8f} (central differences)"
                + ("  ✓" if abs(lhs - rhs) <= 1e-6 * max(1.0, abs(rhs)) else "  ✗ they should be equal")]
