"""The gradcheck cases live in the package (``matdiff.checks``) so ``python -m matdiff check`` runs them too."""
from matdiff.checks import CASES  # noqa: F401
