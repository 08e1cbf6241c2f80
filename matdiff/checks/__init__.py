"""Checking gradients: the Report, Jacobians, gradcheck (finite differences), gradgradcheck (second order), the
trace identity between jvp and vjp, and blame (each node of a failing check re-checked alone)."""
