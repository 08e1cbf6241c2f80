"""The backward stepper shows the user's own backward, holds still between frames (one layout, checked in a real
browser at 1280×800), and shows itself inline; drawings: one-line repr, 144 dpi PNGs, Figure 2's + beside Q with
its equation where no edge runs, loss edges labelled by rules, long graphs drawn left to right."""
import html
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import matdiff as md
from matdiff.teach.graphviz import graph_of, to_dot
from matdiff.teach.stepper import frame_count, sweep_frames
from matdiff.testing import leaf

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
needs_browser = pytest.mark.skipif(CHROMIUM is None, reason="no headless browser (Debian: apt-get install chromium)")

QUICKSTART = """
import numpy as np, matdiff as md
A = md.tensor(np.random.randn(3, 5), requires_grad=True, name="A")
Q, R = md.qr(A)
loss = md.sum(md.real(R * R))
loss.backward()
md.draw([Q, R], "wide_qr.svg")
md.draw([Q, R], "wide_qr.html", steps=True)
"""


def _numeric_grad(f, a, h=1e-6):
    g = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        e = np.zeros_like(a)
        e[i] = h
        g[i] = (f(a + e) - f(a - e)) / (2 * h)
    return g


def _sum_r_squared(a):
    with md.no_grad():
        return float(np.sum(md.qr(a).R.data ** 2))


# -- which backward the stepper shows ---------------------------------------------------------------------------
@needs_dot
def test_the_readme_quickstart_runs_as_pasted(tmp_path):
    r = subprocess.run([sys.executable, "-c", QUICKSTART], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert frame_count(tmp_path / "wide_qr.html") == 7 and (tmp_path / "wide_qr.svg").exists()


@needs_dot
def test_after_the_users_backward_the_frames_show_that_backward(tmp_path):
    a = np.random.default_rng(0).standard_normal((3, 5))
    A = md.tensor(a, requires_grad=True, name="A")
    Q, R = md.qr(A)
    md.sum(md.real(R * R)).backward()
    page = md.draw([Q, R], tmp_path / "wide_qr.html", steps=True)
    assert "your last backward" in page.source
    frames, _ = sweep_frames(graph_of([Q, R]), [Q, R], None)
    seeds = frames[0][1]
    np.testing.assert_allclose(seeds[("loss", id(R))], 2 * R.data, atol=1e-12)    # the user's Rbar, not ones
    np.testing.assert_allclose(seeds[("loss", id(Q))], 0, atol=1e-12)              # the loss does not use Q
    leaf_total = frames[-1][1][id(A)]
    np.testing.assert_allclose(leaf_total, _numeric_grad(_sum_r_squared, a), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(leaf_total, A.grad, rtol=1e-12)
    assert f"{2 * R.data[0, 0]:.3g}" in page.page                                  # the panel shows 2R


@needs_dot
def test_seeds_after_a_backward_rebuild_what_backward_freed(tmp_path):
    a = np.random.default_rng(1).standard_normal((3, 5))
    Qbar, Rbar = np.ones((3, 3)), np.arange(15.0).reshape(3, 5)
    A = md.tensor(a, requires_grad=True, name="A")
    Q, R = md.qr(A)
    md.backward([Q, R], [Qbar, Rbar])                                # frees the graph
    md.draw([Q, R], tmp_path / "s.html", steps=True, seeds=[Qbar, Rbar])
    frames, source = sweep_frames(graph_of([Q, R]), [Q, R], [Qbar, Rbar])
    assert source == "the seeds given"
    np.testing.assert_allclose(frames[-1][1][id(A)], A.grad, rtol=1e-12)


@needs_dot
def test_a_scalar_loss_steps_from_seed_one_without_a_backward(tmp_path):
    a = np.random.default_rng(2).standard_normal((4, 3))
    A = md.tensor(a, requires_grad=True, name="A")
    loss = md.sum(md.qr(A).R * md.qr(A).R)
    page = md.draw(loss, tmp_path / "loss.html", steps=True)
    assert "seed 1" in page.source and A.grad is None                  # .grad untouched
    frames, _ = sweep_frames(graph_of([loss]), [loss], None)
    np.testing.assert_allclose(frames[-1][1][id(A)], _numeric_grad(_sum_r_squared, a), rtol=1e-6, atol=1e-8)


@needs_dot
def test_a_gradients_own_graph_steps_too(tmp_path):
    """create_graph=True: the stepper walks forward and recorded nodes (where several + nodes meet) from seed 1."""
    a = np.random.default_rng(4).standard_normal((3, 5))

    def gradient(x):
        X = md.tensor(x, requires_grad=True, name="A")
        R = md.qr(X).R
        return X, md.grad(md.sum(R * R), [X], create_graph=True)[0]
    A, g = gradient(a)
    energy = md.sum(g * g)
    page = md.draw(energy, tmp_path / "hvp.html", steps=True)
    X = md.tensor(a, requires_grad=True, name="A")
    R = md.qr(X).R
    first = md.draw(md.sum(R * R), tmp_path / "first.html", steps=True)
    assert page.frames > first.frames + 20          # the recorded backward's nodes are stepped too
    frames, _ = sweep_frames(graph_of([energy]), [energy], None)
    numeric = _numeric_grad(lambda x: float(np.sum(gradient(x)[1].data ** 2)), a)
    np.testing.assert_allclose(frames[-1][1][id(A)], numeric, rtol=1e-5, atol=1e-7)


@needs_dot
def test_no_backward_no_seeds_and_no_scalar_says_what_to_pass(tmp_path):
    Q, R = md.qr(leaf((3, 5), name="A"))
    with pytest.raises(md.MatdiffError, match=r"loss\.backward\(\).*seeds=\[Qbar, Rbar\]"):
        md.draw([Q, R], tmp_path / "x.html", steps=True)


@needs_dot
def test_an_input_changed_after_backward_is_refused_not_shown_wrong(tmp_path):
    A = leaf((3, 5), name="A")
    Q, R = md.qr(A)
    md.sum(R * R).backward()
    A.data = A.data * 10.0
    with pytest.raises(md.MatdiffError, match="changed since the forward"):
        md.draw([Q, R], tmp_path / "x.html", steps=True)


# -- one layout, in a real browser ---------------------------------------------------------------------------
_PROBE = """<script>
(function () {
  var out = [], n = document.querySelectorAll('.frame').length, svg = document.querySelector('#graph svg');
  var pane = document.getElementById('graph').getBoundingClientRect();
  for (var k = 0; k < n; k++) {
    if (k > 0) document.dispatchEvent(new KeyboardEvent('keydown', {key: 'ArrowRight'}));
    var s = svg.getBoundingClientRect(), pos = {};
    document.querySelectorAll('#graph g.node').forEach(function (el) {
      var r = el.getBoundingClientRect();
      pos[el.id] = [r.left - s.left, r.top - s.top, r.width, r.height].map(Math.round);
    });
    var hot = document.querySelector('#graph g.node.hot'), r = hot && hot.getBoundingClientRect();
    out.push({frame: document.body.dataset.frame, pos: pos, hot: hot && hot.id,
              rect: r && [r.left, r.top, r.right, r.bottom], visible: document.querySelector('.frame.on').id});
  }
  document.body.dataset.probe = JSON.stringify({frames: out, pane: [pane.left, pane.top, pane.right, pane.bottom]});
})();
</script></body>"""


def _chromium(url, *args):
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,800",
           "--virtual-time-budget=3000", *args, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def _quickstart_page(tmp_path):
    A = md.tensor(np.random.default_rng(3).standard_normal((3, 5)), requires_grad=True, name="A")
    Q, R = md.qr(A)
    md.sum(md.real(R * R)).backward()
    return md.draw([Q, R], tmp_path / "wide_qr.html", steps=True).files[0]


@needs_dot
@needs_browser
def test_every_frame_has_the_same_layout_and_the_current_node_in_view(tmp_path):
    path = _quickstart_page(tmp_path)
    probe = tmp_path / "probe.html"
    probe.write_text(path.read_text(encoding="utf-8").replace("</body>", _PROBE), encoding="utf-8")
    dom = _chromium(probe.as_uri() + "#0", "--dump-dom").stdout
    assert 'data-ready="1"' in dom and "data-error" not in dom, dom[:300]
    got = json.loads(html.unescape(re.search(r'data-probe="([^"]*)"', dom).group(1)))
    frames, (left, top, right, bottom) = got["frames"], got["pane"]
    assert [f["frame"] for f in frames] == [str(k) for k in range(7)]            # the arrow key steps
    assert [f["visible"] for f in frames] == [f"f{k}" for k in range(7)]
    assert len(frames[0]["pos"]) >= 10 and all(f["pos"] == frames[0]["pos"] for f in frames)  # nothing moves
    assert [f["hot"] for f in frames[1:-1]] == ["op5", "op4", "op3", "op2", "op1"]  # reverse execution order
    for f in frames[1:-1]:
        x0, y0, x1, y1 = f["rect"]
        assert left <= x0 and x1 <= right and top <= y0 and y1 <= bottom <= 800, f


@needs_dot
@needs_browser
def test_screenshots_of_the_first_a_middle_and_the_last_frame_differ(tmp_path):
    url = _quickstart_page(tmp_path).as_uri()
    shots = {}
    for frag in ("#0", "#3", "#last"):
        png = tmp_path / f"shot{frag[1:]}.png"
        _chromium(url + frag, f"--screenshot={png}")
        shots[frag] = png.read_bytes()
        assert shots[frag][16:24] == (1280).to_bytes(4, "big") + (800).to_bytes(4, "big")   # PNG IHDR size
    if os.environ.get("MATDIFF_SHOTS"):                                        # to look at them by eye
        for frag, data in shots.items():
            (tmp_path.parent / f"stepper{frag[1:]}.png").write_bytes(data)
    assert len(set(shots.values())) == 3


# -- showing itself -----------------------------------------------------------------------------------------
@needs_dot
def test_reprs_are_one_line_and_the_page_shows_inline(tmp_path):
    A = leaf((3, 5), name="A")
    Q, R = md.qr(A)
    drawing = md.draw([Q, R], tmp_path / "fig.svg")
    assert "\n" not in repr(drawing) and "5 op nodes" in repr(drawing) and "digraph" in drawing.dot
    steps = md.draw([Q, R], tmp_path / "s.html", steps=True, seeds=[np.ones((3, 3)), np.ones((3, 5))])
    assert "\n" not in repr(steps) and "7 frames" in repr(steps)
    shown = steps._repr_html_()
    assert shown.startswith("<iframe srcdoc=\"") and "<script" not in shown           # escaped into the attribute
    srcdoc = html.unescape(re.match(r'<iframe srcdoc="([^"]*)"', shown).group(1))
    assert srcdoc == (tmp_path / "s.html").read_text(encoding="utf-8")


# -- drawings ------------------------------------------------------------------------------------------------
@needs_dot
def test_pngs_are_drawn_at_144_dpi(tmp_path):
    Q, R = md.qr(leaf((3, 5), name="A"))
    drawing = md.draw([Q, R], tmp_path / "fig.png")
    low = subprocess.run(["dot", "-Tpng", "-Gdpi=72"], input=drawing.dot.encode(), capture_output=True).stdout

    def width(png):
        return int.from_bytes(png[16:20], "big")
    assert width((tmp_path / "fig.png").read_bytes()) >= 1.95 * width(low)


def _layout(dot):
    """Graphviz's layout as {name: (x, y, w, h)} of nodes (points) and the edges' control points."""
    js = json.loads(subprocess.run(["dot", "-Tjson"], input=dot.encode(), capture_output=True, check=True).stdout)
    nodes = {o["name"]: tuple(map(float, o["pos"].split(","))) + (float(o["width"]) * 72, float(o["height"]) * 72)
             for o in js["objects"] if "pos" in o}
    points = [p for e in js.get("edges", []) for op in e.get("_draw_", []) if op["op"] in "bB" for p in op["points"]]
    return nodes, points


@needs_dot
def test_figure_2_puts_the_sum_beside_q_where_no_edge_runs_through_its_equation():
    A = leaf((3, 5), name="A")
    Q, R = md.qr(A)
    dot = to_dot([Q, R])
    nodes, points = _layout(dot)
    q, plus = nodes[f"t{id(Q)}"], nodes[f"sum{id(Q)}"]
    eq = next(v for k, v in nodes.items() if k.startswith("eq"))
    assert plus[1] == q[1] == eq[1]                                              # one row: Q, +, Q̄′ = ...
    assert abs(plus[0] - q[0]) < q[2] + 60
    x, y, w, h = eq
    inside = [p for p in points if abs(p[0] - x) < w / 2 - 2 and abs(p[1] - y) < h / 2 - 2]
    assert not inside, inside


def test_loss_edges_are_labelled_by_rules_not_chains():
    A = leaf((3, 5), name="A")
    Q, R = md.qr(A)
    dot = to_dot(md.sum(md.real(R * R)))
    labels = re.findall(r'label="([^"]*)"', dot)
    assert not [lab for lab in labels if lab.count("spread over") > 1 or "spread over t2 ∘" in lab], labels
    assert any("∘ conj(R)" in lab for lab in labels)                             # mul's rule, in the graph's names


def _size(dot):
    """Width and height (points) of Graphviz's layout."""
    js = json.loads(subprocess.run(["dot", "-Tjson"], input=dot.encode(), capture_output=True, check=True).stdout)
    return tuple(map(float, js["bb"].split(",")[2:]))


@needs_dot
def test_a_recorded_backward_is_drawn_to_fit_a_screen():
    A = leaf((3, 5), name="A")
    R = md.qr(A).R
    g, = md.grad(md.sum(R * R * 2.0), [A], create_graph=True)
    dot = to_dot(g, backward=False)
    assert dot.count("shape=box") > 30                           # the whole recorded backward is there
    width, height = _size(dot)
    assert width < 900 and height < 1300, (width, height)        # was 1335 x 5475
    assert _size(to_dot(list(md.qr(A))))[1] > 600                 # a small graph keeps its full labels
