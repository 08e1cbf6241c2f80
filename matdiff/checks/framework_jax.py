"""The JAX adapter of ``checks/frameworks.py``: a JAX function's forward, vjp and jvp on host arrays, and the
equations of its jaxpr, for blame.

* vjp: ``jax.vjp``, ``jax.vmap``-ped over the checker's stack of seeds. JAX's cotangent convention is the conjugate
  of matdiff's (PyTorch's): the cotangents are conjugated going in and the adjoints coming out.
* jvp: ``jax.jvp``.
* blame: ``jax.make_jaxpr(f)`` at the checked inputs, evaluated one equation at a time; each equation with a
  differentiable input is a Piece -- a ``custom_jvp``/``custom_vjp`` rule and a ``jit``-ted function by its name,
  a primitive (``dot_general``, ``qr`` ...) by its own -- located by its source line.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.core import Literal

from .framework_common import Piece, name_of, ref_of
from .framework_common import outputs as common_outputs

__all__ = ["Piece", "name_of", "ref_of"]


def _inexact(dtype):
    return jnp.issubdtype(dtype, jnp.inexact)


def differentiated(xs):
    """Positions checked: every float or complex array (JAX arrays carry no requires_grad)."""
    return [i for i, x in enumerate(xs) if hasattr(x, "dtype") and _inexact(x.dtype)]


def host(x):
    return np.array(x)


def native(a, like):
    return jnp.asarray(a, dtype=getattr(like, "dtype", None))


def outputs(out, keep_structure=False):
    """``f``'s result as a list of arrays (``keep_structure``: a tuple if ``f`` returned one, else the array)."""
    return common_outputs(out, jax.Array, "JAX", keep_structure)


def reshape(v, shape):
    return jnp.reshape(v, shape)


def over_axis0(fn, flat, axes, count):
    """``fn`` over axis 0 of the inputs marked 0 in ``axes``: ``jax.vmap``, else ``lax.map`` (one slice at a time,
    for what has no batching rule, such as a host callback)."""
    try:
        return list(jax.vmap(fn, in_axes=tuple(axes))(*flat))
    except Exception:
        mapped = [k for k, ax in enumerate(axes) if ax == 0]

        def one(slices):
            args = list(flat)
            for k, v in zip(mapped, slices):
                args[k] = v
            return fn(*args)
        return list(jax.lax.map(one, tuple(flat[k] for k in mapped)))


def _float_part(f, natives, diff):
    """``g(*d)``: ``f`` with the inputs at ``diff`` replaced by ``d``, returning its float outputs."""
    def g(*d):
        args = list(natives)
        for i, v in zip(diff, d):
            args[i] = v
        return tuple(o for o in outputs(f(*args)) if _inexact(o.dtype))
    return g


def _float_mask(f, natives):
    """Which of ``f``'s outputs are float -- from their shapes and dtypes alone (``jax.eval_shape``: no compute)."""
    return [_inexact(o.dtype) for o in jax.eval_shape(lambda *a: tuple(outputs(f(*a))), *natives)]


def vjp(f, natives, diff, cots, lead):
    """Adjoints of the inputs at ``diff`` for output adjoints ``cots`` (with ``lead`` leading seed axes)."""
    cs = [c for c, keep in zip(cots, _float_mask(f, natives)) if keep]
    outs, pull = jax.vjp(_float_part(f, natives, diff), *[natives[i] for i in diff])
    cs = tuple(jnp.conj(jnp.reshape(jnp.asarray(c), (-1,) * bool(lead) + tuple(o.shape)).astype(o.dtype))
               for c, o in zip(cs, outs))
    adj = pull(cs) if not lead else jax.vmap(pull)(cs)
    return [jnp.conj(a) for a in adj]


def jvp(f, natives, diff, tangents):
    """Output tangents (None for an integer output) for input tangents at ``diff``."""
    mask = _float_mask(f, natives)
    ts = [jnp.asarray(t).astype(natives[i].dtype) for t, i in zip(tangents, diff)]
    _, dout = jax.jvp(_float_part(f, natives, diff), tuple(natives[i] for i in diff), tuple(ts))
    it = iter(dout)
    return [next(it) if keep else None for keep in mask]


def first_derivatives(f, xs, seeds, seed):
    """``h(*xs) = J(xs)^H v`` written in JAX (``jax.vjp``): gradgradcheck checks its derivatives."""
    diff = differentiated(xs)
    outs0 = _float_part(f, xs, diff)(*[xs[i] for i in diff])
    if seeds is not None:
        given = seeds if isinstance(seeds, (list, tuple)) else [seeds]
        V = [jnp.asarray(np.asarray(s), dtype=o.dtype) for s, o in zip(given, outs0)]
    else:
        rng = np.random.default_rng(seed + 1)
        V = [jnp.asarray(rng.standard_normal(o.shape) + (1j * rng.standard_normal(o.shape)
                         if jnp.iscomplexobj(o) else 0), dtype=o.dtype) for o in outs0]

    def h(*args):
        _, pull = jax.vjp(_float_part(f, list(args), diff), *[args[i] for i in diff])
        return tuple(jnp.conj(a) for a in pull(tuple(jnp.conj(v) for v in V)))
    h.__qualname__ = f"vjp of {name_of(f)}"
    return h


# -- blame: the equations of f's jaxpr -------------------------------------------------------------------------
def pieces(f, xs):
    """Every equation of ``make_jaxpr(f)`` that a differentiable input reaches, in order, as a Piece; a ``jit``
    equation's Piece has ``inner``: the Pieces of its own jaxpr, which blame opens when the ``jit`` fails."""
    closed = jax.make_jaxpr(f)(*xs)
    return _walk(closed.jaxpr, closed.consts, xs, set(differentiated(xs)))


def _walk(jaxpr, consts, args, live_args):
    env = dict(zip(jaxpr.constvars, consts))
    env.update(zip(jaxpr.invars, args))
    reached = {jaxpr.invars[i] for i in live_args}
    found = []
    for eqn in jaxpr.eqns:
        invals = [v.val if isinstance(v, Literal) else env[v] for v in eqn.invars]
        env.update(zip(eqn.outvars, _bind(eqn, invals)))
        live = [k for k, v in enumerate(eqn.invars)
                if not isinstance(v, Literal) and v in reached and _inexact(v.aval.dtype)]
        if live and any(_inexact(v.aval.dtype) for v in eqn.outvars):
            reached.update(eqn.outvars)
            sub = eqn.params.get("jaxpr") if eqn.primitive.name in ("jit", "pjit") else None
            inner = None if sub is None else (lambda sub=sub, vals=invals, live=live:
                                              _walk(sub.jaxpr, sub.consts, vals, set(live)))
            found.append(Piece(_eqn_name(eqn), _eqn_ref(eqn), _alone(eqn, invals, live), [invals[k] for k in live],
                               inner))
    return found


def _bind(eqn, invals):
    got = eqn.primitive.get_bind_params(eqn.params)
    subfuns, params = got if isinstance(got, tuple) else ((), got)        # older JAX returned (subfuns, params)
    outs = eqn.primitive.bind(*subfuns, *invals, **params)
    return outs if eqn.primitive.multiple_results else [outs]


def _alone(eqn, invals, live):
    def alone(*ds):
        vals = list(invals)
        for k, d in zip(live, ds):
            vals[k] = d
        outs = [o for o in _bind(eqn, vals) if _inexact(o.dtype)]
        return outs[0] if len(outs) == 1 else tuple(outs)
    alone.__qualname__ = _eqn_name(eqn)
    return alone


def _eqn_name(eqn):
    name = eqn.params.get("name")
    if name is None and "call_jaxpr" in eqn.params:           # custom_jvp_call: the function's own name
        info = getattr(getattr(eqn.params["call_jaxpr"], "jaxpr", None), "debug_info", None)
        name = getattr(info, "func_name", None)
    return f"{name} ({eqn.primitive.name})" if name else eqn.primitive.name


def _eqn_ref(eqn):
    try:
        from jax._src import source_info_util  # no public spelling of an equation's source line
        return source_info_util.summarize(eqn.source_info)
    except Exception:
        return ""
