"""``matdiff.paper`` (``md.paper``): the paper's helper operators under their public name -- ``sym``, ``symh``,
``E``, ``P_L``, ``copyltu``, ``hcopyltu`` (Sections 2.3, 4.2). They are defined once, in :mod:`matdiff.ops.paper`;
this module is the name users and learners import (``from matdiff.paper import hcopyltu``)."""
from .ops.paper import P_L, E, copyltu, hcopyltu, sym, symh

__all__ = ["sym", "symh", "E", "P_L", "copyltu", "hcopyltu"]
