"""What an exercise is: its cases, probes, expected outputs and hints -- and the generic grading loop.

:class:`Exercise` is graded by :meth:`Exercise.grade`; :class:`VjpExercise` is the common kind (a forward on NumPy
arrays, cotangents, the learner's vjp), whose true answer comes from central differences of that forward.
Subclasses set the class attributes and, where the generic ones do not fit, ``args``/``expected``/``diagnose``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...errors import MatdiffError
from . import _linalg as la
from .grader import TOL, Check, Grade, LearnerError, as_outputs, call

REGISTRY = {}


def exercise(cls):
    """Class decorator: register one instance under ``cls.name`` (the order of definition is the course order)."""
    REGISTRY[cls.name] = cls()
    return cls


@dataclass
class Case:
    """One input of the grading: ``label`` ("complex deep 5x3"), ``tags`` ({"complex", "deep", "single"}), data."""
    label: str
    tags: frozenset
    data: dict = field(default_factory=dict)


def make_cases(specs, seed):
    """Cases from ``(shape, complex)`` specs, each seeded with ``seed + index`` (deterministic)."""
    cases = []
    for i, (shape, cplx) in enumerate(specs):
        m, n = shape[-2:]
        kind = "square" if m == n else "deep" if m > n else "wide"
        batch = "batch" if len(shape) > 2 else "single"
        label = f"{'complex' if cplx else 'real'} {kind} {'batch ' * (batch == 'batch')}{'x'.join(map(str, shape))}"
        cases.append(Case(label, frozenset({"complex" if cplx else "real", kind, batch}),
                          {"rng": np.random.default_rng(seed + i), "shape": shape, "cplx": cplx, "index": i}))
    return cases


class Exercise:
    """Base class. Attributes: ``name``, ``title``, ``equation`` (where in the paper), ``func`` (the learner's
    function name), ``signature``, ``outputs`` (names of what it returns), ``notation``, ``hints`` (part ->
    (level 1, 2, 3); level 2 may use ``{where}``), ``solution`` (source of the body), ``template`` (the given code)."""
    name = title = equation = func = signature = notation = solution = template = ""
    outputs = ()
    probes = ("all",)
    hints = {}
    seed = 0

    def cases(self):
        if "_cases" not in self.__dict__:
            self._cases = [self.prepare(c) for c in make_cases(self.specs, self.seed)]
        return self._cases

    def prepare(self, case):
        return case

    def grade(self, fn, solution=False):
        """Run ``fn`` on every case and probe; return the :class:`Grade`."""
        checks, failing = [], []
        for case in self.cases():
            for probe in self.probes:
                true, ref = self.expected(case, probe)
                try:
                    out = as_outputs(call(fn, self.args(case, probe), self.func), self.outputs, true, self.func)
                except LearnerError as p:
                    if not failing:
                        return self._problem(p, case, probe, checks, solution)
                    return self._verdict(checks, failing, fn, solution, [f"then, on the {case.label} case: {p}"])
                errs = [la.relerr(o, t) for o, t in zip(out, true)]
                bad = tuple(nm for nm, e in zip(self.outputs, errs) if e > TOL)
                checks.append(Check(case.label, probe, not bad, max(errs),
                                    max(la.relerr(o, r) for o, r in zip(out, ref)), bad))
                if bad:
                    failing.append((case, probe, out, true))
        return self._verdict(checks, failing, fn, solution)

    def _verdict(self, checks, failing, fn, solution, notes=()):
        g = Grade(self.name, not failing, checks, solution=self.solution if solution else None, ex=self)
        g.notes = self.notes(fn) + list(notes)
        if failing:
            results = {(c.case, c.probe): c for c in checks}
            case, probe, out, true = failing[0]
            g.part = self.diagnose(results, failing)
            g.where = self.structure(case, probe, out, true) or ""
            where = g.where[:1].upper() + g.where[1:] + "." if g.where else "See the heat map."
            hints = self.hints.get(g.part) or self.hints.get("rule") or (f"The rule ({self.equation}).",) * 3
            g.hints = tuple(h.format(where=where) for h in hints)
            i = next(i for i, nm in enumerate(self.outputs) if nm in next(c for c in checks if not c.ok).bad)
            g.maps = (f"{self.outputs[i]}, {case.label}, {probe}", np.abs(out[i] - true[i]), np.abs(true[i]))
        return g

    def _problem(self, p, case, probe, checks, solution):
        where = "" if p.kind == "todo" else f"\n  (on the {case.label} case, probe {probe!r})"
        if "batch" in case.tags and checks and all(c.ok for c in checks):
            where += ("\n  The single matrices passed; on a stack (..., m, n) act on the last two axes only: "
                      "mH or np.swapaxes(X, -1, -2), not .T; np.trace(X, axis1=-2, axis2=-1)")
        g = Grade(self.name, False, checks, ex=self, part="call", problem=p.args[0] + where,
                  solution=self.solution if solution else None)
        helps = (self.signature_help(),) * 2
        g.hints = (p.args[0],) if p.kind == "todo" else (p.args[0] + where, *helps)
        return g

    def signature_help(self):
        return f"The signature is `{self.signature}`. {self.notation}"

    def notes(self, fn):
        return []

    def structure(self, case, probe, out, true):
        return ""

    def diagnose(self, results, failing):
        return first_part(failing, self.hints)


def first_part(failing, hints):
    """The fallback diagnosis: the tag of the first failing case that has a hint (complex, deep, batch, ...)."""
    for tag in ("complex", "deep", "wide", "batch"):
        if tag in failing[0][0].tags and tag in hints:
            return tag
    return "rule"


def solo(results, case, probes):
    """Which of ``probes`` fail on ``case`` (each probe keeps one cotangent and zeroes the others)."""
    return [p for p in probes if (case.label, p) in results and not results[case.label, p].ok]


def grade(name, fn, *, hint=1, solution=False):
    """Grade the learner's function ``fn`` for exercise ``name``; ``str(result)`` shows hints up to ``hint``."""
    if name not in REGISTRY:
        raise MatdiffError(f"no exercise {name!r}; the exercises are: {', '.join(REGISTRY)}")
    if not callable(fn):
        raise MatdiffError(f"grade({name!r}, fn): fn must be your function, got {type(fn).__name__}; "
                           f"pass it as grade({name!r}, {REGISTRY[name].func})")
    g = REGISTRY[name].grade(fn, solution=solution)
    g.level = max(1, min(3, int(hint)))
    return g
