"""Watch backward happen: one self-contained HTML page, one frame per node of the backward sweep.

Frame 0 is the forward graph with the seeds arriving from the loss ℒ; frame k highlights the k-th node the
sweep visits, shows its rule (with its equation number) and every adjoint computed so far on its dashed edge;
the last frame shows them all. The SVG frames are inline (no network); Previous/Next buttons and the arrow keys
step; ``#N`` in the URL opens frame N and ``#last`` the final one. The page reports JavaScript errors in
``document.body.dataset.error`` (the browser test reads it).
"""
import html
import shutil
from pathlib import Path

from .draw import Drawing, _render, graph_of, sweep_values, to_dot
from .errors import MatdiffError
from .notation import short_ref

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
 body {{ font-family: Helvetica, Arial, sans-serif; margin: 1em 2em; }}
 .frame {{ display: none; }} .frame.on {{ display: block; }}
 .bar {{ position: sticky; top: 0; background: #fff; padding: .4em 0; border-bottom: 1px solid #ddd; }}
 button {{ font-size: 1em; margin-right: .5em; }} .caption {{ margin: .6em 0; white-space: pre-wrap; }}
 svg {{ max-width: 100%; height: auto; }}
</style></head>
<body>
<div class="bar"><button id="prev">&larr; Previous</button><button id="next">Next &rarr;</button>
<span id="where"></span> &nbsp; <small>arrow keys step; #N in the URL opens frame N, #last the last</small></div>
<h2>{title}</h2>
{frames}
<script>
window.onerror = function (msg) {{ document.body.dataset.error = String(msg); }};
(function () {{
  var frames = document.querySelectorAll('.frame'), n = frames.length, cur = 0;
  function show(k) {{
    cur = Math.max(0, Math.min(n - 1, k));
    for (var i = 0; i < n; i++) frames[i].classList.toggle('on', i === cur);
    document.getElementById('where').textContent = 'frame ' + cur + ' of ' + (n - 1);
    document.body.dataset.frame = String(cur);
    if (location.hash !== '#' + cur) history.replaceState(null, '', '#' + cur);
  }}
  function fromHash() {{
    var h = location.hash.slice(1);
    show(h === 'last' ? n - 1 : (parseInt(h, 10) || 0));
  }}
  document.getElementById('prev').onclick = function () {{ show(cur - 1); }};
  document.getElementById('next').onclick = function () {{ show(cur + 1); }};
  document.addEventListener('keydown', function (e) {{
    if (e.key === 'ArrowRight') show(cur + 1);
    if (e.key === 'ArrowLeft') show(cur - 1);
  }});
  window.addEventListener('hashchange', fromHash);
  fromHash();
  document.body.dataset.ready = '1';
}})();
</script></body></html>
"""


def write_steps(x, path, title, seeds):
    """The page for ``md.draw(outputs, path, steps=True, seeds=...)`` (see :func:`matdiff.draw.draw`)."""
    if shutil.which("dot") is None:
        raise MatdiffError("draw(steps=True) renders every frame with Graphviz's 'dot' program, which is not "
                           "installed: apt-get install graphviz (Debian/Ubuntu), brew install graphviz, or conda "
                           "install graphviz")
    outputs = list(x) if isinstance(x, (list, tuple)) else [x]
    if not all(hasattr(o, "node") and o.requires_grad for o in outputs):
        raise MatdiffError("draw(steps=True) steps through backward from tensors that require grad; pass the outputs "
                           "of the graph (e.g. [Q, R]), not a Tape")
    if seeds is not None:
        from .autodiff import _prepare  # the same seed checks as md.backward
        seeds = _prepare(outputs, seeds)[1]
    g = graph_of(outputs)
    frames = sweep_values(g, outputs, seeds)
    title = title or "backward, step by step"
    parts = []
    for k, (node, values) in enumerate(frames):
        svg = _render(to_dot(g, None, True, highlight=node, values=values), "svg")
        svg = svg[svg.find("<svg"):]                 # drop the XML prologue: the SVG is inline
        parts.append(f'<div class="frame" id="f{k}"><div class="caption">{html.escape(_caption(g, k, node, frames))}'
                     f"</div>{svg}</div>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_PAGE.format(title=html.escape(title), frames="\n".join(parts)), encoding="utf-8")
    return Drawing(to_dot(g, title), [path])


def _caption(g, k, node, frames):
    last = len(frames) - 1
    if node is None and k == 0:
        names = ", ".join(g.names.name(t) for t in g.finals)
        return (f"Frame 0 of {last}: the forward graph. The loss ℒ sends its seeds to {names} "
                "(dashed red edges carry adjoints).")
    if node is None:
        return f"Frame {last} of {last}: the sweep is done; every adjoint is on its edge."
    where = short_ref(node.op.ref)
    return (f"Frame {k} of {last}: node #{g.number[id(node)]} {node.op.name} -- {g.names.rule(node, g.total)}"
            + (f"   [{where}]" if where else "") + "\nIt receives the adjoints of its outputs and sends each input "
            "its contribution (values for small matrices, shape and norm for large ones).")


def frame_count(path):
    """How many frames a written page holds (for tests and tutorials)."""
    return Path(path).read_text(encoding="utf-8").count('<div class="frame"')
