"""Checking gradients: the Report, Jacobians, gradcheck (finite differences), gradgradcheck (second order), the
trace identity between jvp and vjp -- each a pure check -- and blame.py, the public checkers: a pure check plus
blame (each node of a failing check re-checked alone), applied in that one place."""
