"""matdiff's layers, lowest first: a module imports only from its own layer or a lower one, and no import -- at the
top of a file or inside a function -- closes a circle. ``tests/test_layers.py`` builds the import graph from the
source with ``ast`` and holds the package to this table; a new module gets its layer here (by its path).

=========  ==========================================================================================================
layer      what it holds
=========  ==========================================================================================================
errors     ``matdiff/errors.py``: every exception and warning a user can meet
backend    ``backend/``: the contract (every primitive a rule may call) and the array libraries (NumPy, CuPy, strict)
engine     ``engine/``: Tensor, the tape (nodes, grad mode, recorder), Op + registry + the call path, the sweeps,
           the notation tapes print in, the array formatter (``engine/show.py``)
ops        ``ops/``: the paper's helpers, the registered ops and their functional spellings, Tensor's operators,
           the Tensor backend that records a backward (``on_tensors.py``)
autodiff   ``autodiff.py``: ``backward`` / ``grad`` / ``jvp`` (and ``Tensor.backward``)
checks     ``checks/``: Report, Jacobians, the pure checks, and ``blame.py`` (the public checkers: check + blame)
teach      ``teach/``: drawings, the backward stepper, the tutorials' helpers, the exercises
tools      ``suite.py`` (the ``check`` command), ``testing.py``, ``__main__.py``, the facades ``paper.py`` and
           ``exercises.py``, the bridges ``torch.py`` and ``jax.py``, and ``matdiff/__init__.py`` itself
           (``import matdiff`` is an import of this layer)
=========  ==========================================================================================================
"""
LAYERS = ("errors", "backend", "engine", "ops", "autodiff", "checks", "teach", "tools")

# module (dotted, below ``matdiff``) or package prefix -> layer; the longest matching prefix wins
MODULES = {
    "errors": "errors",
    "layers": "errors",             # this table: imports nothing
    "backend": "backend",
    "engine": "engine",
    "ops": "ops",
    "autodiff": "autodiff",
    "checks": "checks",
    "teach": "teach",
    "suite": "tools", "testing": "tools", "__main__": "tools", "paper": "tools", "exercises": "tools",
    "torch": "tools", "jax": "tools",   # the bridges: the rules as torch.autograd.Functions, jax.custom_jvp (facades)
    "": "tools",                    # matdiff/__init__.py (only the package itself: a new top-level module needs a row)
}

# Imports of a higher layer that are meant, each with its reason: (importer, imported) -> why. The test exempts
# exactly these edges (from the layer rule and from the circle search) and fails if one is no longer there.
UPWARD = {
    ("matdiff.teach.exercises.templates", "matdiff"):
        "namespace() is what a learner's file runs in: `md` there must be the public package the learner's own "
        "`import matdiff as md` gives, not a lower module",
    ("matdiff.teach.exercises.figure2", "matdiff"):
        "the Figure 2 exercise refuses md.qr of the wide A during the learner's call: it must patch the public "
        "name `matdiff.qr` the learner's code calls, which only the package top holds",
}


def layer_of(module: str) -> str:
    """The layer of ``module`` (``"matdiff.ops.elementary"`` -> ``"ops"``; ``"matdiff"`` -> ``"tools"``)."""
    parts = module.split(".")[1:]
    for k in range(len(parts), 0 if parts else -1, -1):
        key = ".".join(parts[:k])
        if key in MODULES:
            return MODULES[key]
    raise KeyError(f"{module} has no layer in matdiff/layers.py: add it to MODULES")
