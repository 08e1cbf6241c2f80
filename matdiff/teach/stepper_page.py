"""The backward stepper's page (stepper.py fills it): one SVG laid out once, a side panel per frame, a small script.

Frames are CSS classes on that one SVG: ``hot`` on the current node, ``later`` on adjoint edges not computed yet,
``sent`` on the edges the current node just sent. Nothing is laid out again, so no node moves. The script shows
frame ``#N`` (``#last``: the final one), steps with Previous/Next and the arrow keys, scrolls the current node into
the middle of the graph pane, and writes ``document.body.dataset.frame`` (and ``.error`` on a JavaScript error).
"""

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>@@TITLE@@</title>
<style>
 html, body { height: 100%; margin: 0; }
 body { font-family: Helvetica, Arial, sans-serif; display: flex; flex-direction: column; }
 .bar { padding: .4em 1em; border-bottom: 1px solid #ddd; background: #fff; }
 .bar h2 { display: inline; font-size: 1.05em; margin-right: 1em; }
 button { font-size: 1em; margin-right: .4em; }
 main { flex: 1; display: flex; min-height: 0; }
 #graph { flex: 1; overflow: auto; min-width: 0; }
 #graph svg { max-width: 100%; height: auto; display: block; margin: 0 auto; }
 #side { width: 380px; overflow: auto; border-left: 1px solid #ddd; padding: .5em .8em; font-size: 13px; }
 .frame { display: none; } .frame.on { display: block; }
 .caption { white-space: pre-wrap; margin-bottom: .6em; }
 .val { margin: .5em 0 .8em; } .lab { font-weight: bold; } .meta { color: #555; font-size: 12px; }
 table.mat { border-collapse: collapse; font: 12px Menlo, Consolas, monospace; margin-top: 2px; }
 table.mat td { border: 1px solid #ddd; padding: 1px 5px; text-align: right; }
 .edge.later { opacity: .12; }
 .edge.sent path { stroke-width: 3; } .edge.sent text { font-weight: bold; }
 .node.hot polygon, .node.hot path, .node.hot ellipse { fill: #f9c0b8; stroke-width: 3; }
</style></head>
<body>
<div class="bar"><h2>@@TITLE@@</h2><button id="prev">&larr; Previous</button><button id="next">Next &rarr;</button>
<span id="where"></span> &nbsp; <small>arrow keys step; #N in the URL opens frame N, #last the last.
Adjoints: @@SOURCE@@.</small></div>
<main><div id="graph">@@SVG@@</div><div id="side">@@PANELS@@</div></main>
<script>
window.onerror = function (msg) { document.body.dataset.error = String(msg); };
(function () {
  var data = @@FRAMES@@, n = data.length, cur = 0;
  var panels = document.querySelectorAll('.frame'), pane = document.getElementById('graph');
  var edges = Array.prototype.map.call(document.querySelectorAll('#graph g.edge'), function (el) {
    var key = (el.getAttribute('class') || '').split(/\\s+/).filter(function (c) { return c.indexOf('k_') === 0; });
    return [el, key[0] || null];
  });
  function show(k) {
    cur = Math.max(0, Math.min(n - 1, k));
    var f = data[cur], known = {}, sent = {};
    f.known.forEach(function (c) { known[c] = 1; });
    f.sent.forEach(function (c) { sent[c] = 1; });
    edges.forEach(function (e) {
      e[0].classList.toggle('later', e[1] !== null && !known[e[1]]);
      e[0].classList.toggle('sent', e[1] !== null && !!sent[e[1]]);
    });
    Array.prototype.forEach.call(document.querySelectorAll('#graph g.node.hot'),
                                 function (el) { el.classList.remove('hot'); });
    for (var i = 0; i < n; i++) panels[i].classList.toggle('on', i === cur);
    var hot = f.node && document.getElementById(f.node);
    if (hot) {
      hot.classList.add('hot');
      var r = hot.getBoundingClientRect(), c = pane.getBoundingClientRect();
      pane.scrollTop += (r.top + r.height / 2) - (c.top + c.height / 2);
      pane.scrollLeft += (r.left + r.width / 2) - (c.left + c.width / 2);
    }
    document.getElementById('where').textContent = 'frame ' + cur + ' of ' + (n - 1);
    document.body.dataset.frame = String(cur);
    try { if (location.hash !== '#' + cur) history.replaceState(null, '', '#' + cur); } catch (err) {}
  }
  function fromHash() {
    var h = location.hash.slice(1);
    show(h === 'last' ? n - 1 : (parseInt(h, 10) || 0));
  }
  window.matdiffShow = show;
  document.getElementById('prev').onclick = function () { show(cur - 1); };
  document.getElementById('next').onclick = function () { show(cur + 1); };
  document.addEventListener('keydown', function (e) {
    if (e.key === 'ArrowRight') show(cur + 1);
    if (e.key === 'ArrowLeft') show(cur - 1);
  });
  window.addEventListener('hashchange', fromHash);
  fromHash();
  document.body.dataset.ready = '1';
})();
</script></body></html>
"""


def fill(**parts):
    """The page with ``@@TITLE@@``, ``@@SOURCE@@``, ``@@SVG@@``, ``@@PANELS@@``, ``@@FRAMES@@`` filled in (markers,
    not ``str.format``: the CSS and the script are full of braces)."""
    page = PAGE
    for key, text in parts.items():
        page = page.replace(f"@@{key.upper()}@@", text)
    return page
