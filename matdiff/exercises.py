"""``matdiff.exercises`` (``md.exercises``): write the paper's rules yourself and have matdiff grade them -- the
public name of :mod:`matdiff.teach.exercises` (``list``, ``grade``, ``start``, ``main``), plus the helpers a learner's
file may use (``mH``, ``solve_right``)."""
from .teach.exercises import ORDER, REGISTRY, Check, Grade, grade, list, main, namespace, start  # noqa: A004
from .teach.exercises.given import mH, solve_right

__all__ = ["list", "grade", "start", "main", "Grade", "Check", "REGISTRY", "ORDER", "namespace", "mH", "solve_right"]
