"""Drawings of graphs and tapes (``yingshe.graph.viz``): every node drawn with its op,
shape and dtype, edges where values flow, gradient nodes styled apart, escaped labels,
structurally valid Mermaid and DOT, and docs/graphs.md in step with its generator."""

import collections
import importlib.util
import inspect
import os
import re

import numpy as np
import pytest

import yingshe
import yingshe.graph as G
from yingshe.graph import viz
from yingshe.graph.passes import optimize, prune
from yingshe.ops._shapes import shape_str

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# ---- structural parsers (no Mermaid/Graphviz installed: check the grammar we emit) -------

_M_BOX = re.compile(r'^    (n\d+)\["([^"]*)"\]:::(\w+)$')
_M_EDGE = re.compile(r"^    (n\d+) (-->|-\.->) (n\d+)$")
_M_CLASS = re.compile(r"^    classDef (\w+) fill:#[0-9a-f]{6},stroke:#[0-9a-f]{6}$")
_M_STYLE = re.compile(r"^    style (n\d+) stroke-width:3px$")


def parse_mermaid(text):
    """Boxes [(id, label lines, class)], edges [(src, dst, dashed)], outlined ids; fails
    on any line outside the flowchart grammar, an undeclared endpoint or class."""
    lines = text.split("\n")
    if lines[0] == "---":
        end = lines.index("---", 1)
        assert all(re.match(r'^title: "[^"]*"$', ln) for ln in lines[1:end])
        lines = lines[end + 1:]
    assert lines[0] in ("flowchart TB", "flowchart LR")
    boxes, edges, classes, outlined = [], [], set(), []
    for ln in lines[1:]:
        if m := _M_BOX.match(ln):
            label = m.group(2)
            assert "<" not in label.replace("<br/>", "") and ">" not in label.replace(
                "<br/>", ""), ln
            boxes.append((m.group(1), label.split("<br/>"), m.group(3)))
        elif m := _M_EDGE.match(ln):
            edges.append((m.group(1), m.group(3), m.group(2) == "-.->"))
        elif m := _M_CLASS.match(ln):
            classes.add(m.group(1))
        elif m := _M_STYLE.match(ln):
            outlined.append(m.group(1))
        else:
            raise AssertionError(f"not a flowchart line: {ln!r}")
    ids = [b[0] for b in boxes]
    assert len(set(ids)) == len(ids)
    for s, d, _ in edges:
        assert s in ids and d in ids
    assert {b[2] for b in boxes} <= classes
    assert set(outlined) <= set(ids)
    return boxes, edges, outlined


_DOT_STR = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _unescape_dot(s):
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), s)


def parse_dot(text):
    """Boxes [(id, label lines, class)], edges [(src, dst, dashed)], outlined ids; checks
    the braces balance outside strings and every edge endpoint is declared."""
    bare = _DOT_STR.sub('""', text)
    assert '"' not in _DOT_STR.sub("", text)       # every quote belongs to a string
    depth = 0
    for ch in bare:
        depth += ch == "{"
        depth -= ch == "}"
        assert depth >= 0
    assert depth == 0 and bare.startswith("digraph ") and bare.rstrip().endswith("}")
    boxes, edges, outlined = [], [], []
    for ln in text.split("\n")[1:-1]:
        stripped = _DOT_STR.sub('""', ln).strip()
        if m := re.match(r"^(n\d+) \[(.*)\];$", ln.strip()):
            attrs = dict((k, _unescape_dot(v)) for k, v in
                         re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2)))
            boxes.append((m.group(1), attrs["label"].split("\n"), attrs["class"]))
            if "penwidth=3" in _DOT_STR.sub('""', m.group(2)):
                outlined.append(m.group(1))
        elif m := re.match(r"^(n\d+) -> (n\d+)( \[style=dashed\])?;$", stripped):
            edges.append((m.group(1), m.group(2), bool(m.group(3))))
        else:
            assert re.match(r'^(rankdir=\w+|label=""|labelloc=t|node \[.*\]);$', stripped), ln
    ids = [b[0] for b in boxes]
    assert len(set(ids)) == len(ids)
    for s, d, _ in edges:
        assert s in ids and d in ids
    return boxes, edges, outlined


def _mermaid_unescape(s):
    for code, ch in (("#quot;", '"'), ("#lt;", "<"), ("#gt;", ">"), ("#96;", "`"),
                     ("#amp;", "&"), ("#35;", "#")):
        s = s.replace(code, ch)
    return s


def both(obj, **kw):
    """The drawing parsed from Mermaid and from DOT, with the same labels in both."""
    m = parse_mermaid(G.to_mermaid(obj, **kw))
    d = parse_dot(G.to_dot(obj, **kw))
    boxes_m = [(i, [_mermaid_unescape(p) for p in lab], c) for i, lab, c in m[0]]
    assert boxes_m == d[0] and m[1] == d[1] and m[2] == d[2]
    return d


# ---- graphs -------------------------------------------------------------------------------

def _small_graph():
    g = G.Graph()
    with g.as_default():
        x = G.placeholder(yingshe.float32, [4, 3], name="x")
        w = G.Variable(np.ones((3, 2), np.float32), name="w")
        c = G.constant(np.full((2,), 0.5, np.float32))
        loss = ((x @ w + c) ** 2).mean()
        mark = len(g.nodes)
        (dw,) = G.gradients(loss, [w])
        first = range(mark, len(g.nodes))
        s = dw.sum()                            # a forward op reading a gradient
        mark = len(g.nodes)
        (dw2,) = G.gradients(s, [w])            # a second scope: gradients_1/...
        second = range(mark, len(g.nodes))
    return g, set(first) | set(second), second, [loss, dw, dw2]


def _head(n):
    if n.kind == "placeholder":
        return n.name
    if n.kind == "read":
        return n.var.name
    return n.type


def test_every_graph_node_is_drawn_with_op_shape_dtype_and_line():
    g, _, _, _ = _small_graph()
    boxes, edges, _ = both(g)
    assert len(boxes) == len(g.nodes)
    index = {b[0]: i for i, b in enumerate(boxes)}
    for n, (_, label, cls) in zip(g.nodes, boxes):
        text = "\n".join(label)
        if n.kind in ("placeholder", "read", "op"):
            assert label[0].split("(")[0] == _head(n), (n, label)
        else:
            assert n.kind in text or "const" in text
        for m in n.metas:
            assert f"{shape_str(m.shape)} {m.dtype.name}" in text, (n, label)
        if n.site:
            assert f"{os.path.basename(n.site[0])}:{n.site[1]}" in text
    expected = collections.Counter((g.nodes.index(x._gnode), i)
                                   for i, n in enumerate(g.nodes)
                                   for x in n.inputs if isinstance(x, G.Symbol))
    assert collections.Counter((index[s], index[d]) for s, d, _ in edges) == expected


def test_gradient_nodes_get_the_gradient_style_and_only_they():
    g, grad_nodes, second, _ = _small_graph()
    for text_boxes in (parse_mermaid(G.to_mermaid(g))[0], parse_dot(G.to_dot(g))[0]):
        styles = [b[2] for b in text_boxes]
        kinds = {"placeholder": "feed", "read": "var", "constant": "const", "op": "fwd"}
        for i, (n, cls) in enumerate(zip(g.nodes, styles)):
            if i in grad_nodes:    # added by one of the two gradients() calls
                assert cls == "grad", (n, cls)
            else:
                assert cls == kinds[n.kind], (n, cls)
    assert any(g.nodes[i].name.startswith("gradients_1/") for i in second)
    assert len(grad_nodes) < len(g.nodes) - 3


def test_symbols_draw_the_subgraph_they_depend_on():
    g = G.Graph()
    with g.as_default():
        x = G.placeholder(yingshe.float64, [2], name="x")
        unused = x * 3.0
        y = (x + 1.0).exp()
    boxes, edges, outlined = both(y)
    heads = [b[1][0] for b in boxes]
    # (promotion may add a same-dtype cast before add: drawn as it is in the graph)
    assert [h for h in heads if h != "cast"] == ["x", "add", "exp"]
    assert "mul" not in heads and unused._gnode in g.nodes
    assert outlined == [boxes[-1][0]]
    assert len(edges) == len(boxes) - 1   # a chain from x to exp


def test_program_of_a_training_step_styles_updates_and_control_edges():
    g = G.Graph()
    with g.as_default():
        x = G.placeholder(yingshe.float32, [8, 2], name="x")
        y = G.placeholder(yingshe.float32, [8, 1], name="y")
        w = G.Variable(np.zeros((2, 1), np.float32), name="w")
        loss = ((x @ w - y) ** 2).mean()
        train_op = G.train.GradientDescentOptimizer(0.1).minimize(loss)
    program = optimize(prune([loss, train_op], [x, y]))
    boxes, edges, outlined = both(program)
    assert len(boxes) == len(program.nodes)
    for n, (bid, label, cls) in zip(program.nodes, boxes):
        if n.kind == "assign":
            assert cls == "update" and label[0].startswith("assign_set w")
        if n.kind == "no_op":
            assert cls == "update"
    n_control = sum(len(n.control) for n in program.nodes)
    assert n_control and sum(dashed for *_, dashed in edges) == n_control
    fetched = {id(f) if isinstance(f, G.Node) else id(f._gnode) for f in program.fetches}
    assert outlined == [b[0] for n, b in zip(program.nodes, boxes) if id(n) in fetched]


def test_labels_with_quotes_brackets_and_markup_are_escaped():
    nasty = 'a"b[c]<d>{e}#f&g`h\\n'
    g = G.Graph()
    with g.as_default():
        x = G.placeholder(yingshe.float32, [2], name=nasty)
        y = x * 2.0
    text = G.to_mermaid(y, title='my "graph" <1>')
    boxes, _, _ = parse_mermaid(text)
    assert _mermaid_unescape(boxes[0][1][0]) == nasty
    dboxes, _, _ = parse_dot(G.to_dot(y, title='my "graph" {1}'))
    assert dboxes[0][1][0] == nasty


# ---- eager tapes --------------------------------------------------------------------------

def test_tape_lists_ops_leaves_shapes_and_lines():
    rng = np.random.default_rng(0)
    xa, wa, ba, ya = (rng.standard_normal(s) for s in ((5, 3), (3, 2), (2,), (5, 2)))
    x, y = yingshe.tensor(xa), yingshe.tensor(ya)
    w = yingshe.nn.Parameter(yingshe.tensor(wa))
    b = yingshe.nn.Parameter(yingshe.tensor(ba))
    line = inspect.currentframe().f_lineno + 1
    loss = ((x @ w + b - y) ** 2).mean()
    boxes, edges, outlined = both(loss, names={"w": w, "b": b, "x": x})
    by_id = {bid: (label, cls) for bid, label, cls in boxes}
    ops = [(label[0].split("(")[0], label) for label, cls in by_id.values() if cls == "fwd"]
    assert [o for o, _ in ops] == ["matmul", "add", "sub", "pow", "mean"]
    # output shapes and dtypes, from NumPy
    want = {"matmul": (xa @ wa).shape, "add": (xa @ wa + ba).shape,
            "sub": (xa @ wa + ba - ya).shape, "pow": ya.shape, "mean": ()}
    for op, label in ops:
        assert f"{shape_str(want[op])} float64" in label
        assert f"test_viz.py:{line}" in label
    leaves = {label[0]: (label, cls) for label, cls in by_id.values() if cls != "fwd"}
    assert leaves["w"] == (["w", "requires_grad (3, 2) float64"], "var")
    assert leaves["b"] == (["b", "requires_grad (2,) float64"], "var")
    assert leaves["x"][1] == "feed"
    head = {bid: label[0].split("(")[0] for bid, (label, _) in by_id.items()}
    drawn = collections.Counter((head[s], head[d]) for s, d, _ in edges)
    assert drawn == collections.Counter([("x", "matmul"), ("w", "matmul"), ("matmul", "add"),
                                         ("b", "add"), ("add", "sub"), ("tensor ", "sub"),
                                         ("sub", "pow"), ("pow", "mean")])
    assert [head[i] for i in outlined] == ["mean"]


def test_tape_of_the_same_ops_looks_like_the_graph():
    g = G.Graph()
    with g.as_default():
        xs = G.placeholder(yingshe.float64, [6, 3], name="x")
        ws = G.Variable(np.ones((3, 1)), name="w")
        ls = ((xs @ ws).tanh() * 2.0).sum()
    x = yingshe.tensor(np.ones((6, 3)))
    w = yingshe.nn.Parameter(yingshe.tensor(np.ones((3, 1))))
    le = ((x @ w).tanh() * 2.0).sum()

    def op_labels(obj, **kw):
        return [label for _, label, cls in parse_mermaid(G.to_mermaid(obj, sites=False,
                                                                      **kw))[0]
                if cls == "fwd" and not label[0].startswith("cast")]
    assert op_labels(ls) == op_labels(le, names={"w": w})
    assert [lab[0].split("(")[0] for lab in op_labels(le)] == ["matmul", "tanh", "mul", "sum"]


def test_tape_of_a_module_names_parameters_and_survives_backward():
    yingshe.manual_seed(0)
    lin = yingshe.nn.Linear(3, 2)
    out = lin(yingshe.ones(4, 3)).relu().sum()
    before = G.to_mermaid(out, names=lin)
    out.backward()
    assert G.to_mermaid(out, names=lin) == before    # the tape is still drawable
    labels = [b[1] for b in parse_mermaid(before)[0]]
    assert ["weight", "requires_grad (2, 3) float32"] in labels
    assert ["bias", "requires_grad (2,) float32"] in labels


def test_a_leaf_alone_and_bad_arguments():
    t = yingshe.ones(2, requires_grad=True)
    boxes, edges, outlined = both(t)
    assert boxes == [("n0", ["requires_grad (2,) float32"], "var")] and not edges
    with pytest.raises(TypeError, match="to_mermaid/to_dot"):
        G.to_mermaid(3.0)
    with pytest.raises(TypeError, match="names"):
        G.to_dot(t * 2, names=["w"])


# ---- the docs -----------------------------------------------------------------------------

def test_docs_graphs_md_is_up_to_date():
    path = os.path.join(ROOT, "docs", "make_graphs.py")
    spec = importlib.util.spec_from_file_location("_make_graphs", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    with open(os.path.join(ROOT, "docs", "graphs.md"), encoding="utf-8") as f:
        assert f.read() == mod.render(), "docs/graphs.md is stale: run docs/make_graphs.py"


def test_to_png_draws_every_box_offline(tmp_path):
    """The matplotlib picture (the report's offline drawing): a real PNG, not blank,
    one text label per box (checked through the drawing it renders)."""
    import matplotlib.image as mpimg
    from yingshe.graph.viz import _drawing, _layers, to_png
    g = G.Graph()
    with g.as_default():
        x = G.placeholder(yingshe.float32, [8, 2], name="x")
        w = G.Variable(np.ones((2, 1), np.float32), name="w")
        loss = ((x @ w) ** 2).mean()
        train_op = G.train.GradientDescentOptimizer(0.1).minimize(loss)
    program = optimize(prune([loss, train_op], [x]))
    path = to_png(program, str(tmp_path / "g.png"), title="step")
    img = mpimg.imread(path)
    assert img.shape[0] > 300 and img[..., :3].std() > 0.01
    d = _drawing(program, None, None, False, False)
    level = _layers(d)
    assert len(level) == len(program.nodes)
    for src, dst, _ in d.edges:   # every edge points down the page
        assert level[src] < level[dst]


def _segment_hits_box(p, q, centre, shrink=1e-6):
    """Whether segment p-q enters the inside of the box at ``centre`` (Liang-Barsky)."""
    from yingshe.graph.viz import _BOX_H, _BOX_W
    x0, x1 = centre[0] - _BOX_W / 2 + shrink, centre[0] + _BOX_W / 2 - shrink
    y0, y1 = centre[1] - _BOX_H / 2 + shrink, centre[1] + _BOX_H / 2 - shrink
    t0, t1 = 0.0, 1.0
    dx, dy = q[0] - p[0], q[1] - p[1]
    for pk, qk in ((-dx, p[0] - x0), (dx, x1 - p[0]), (-dy, p[1] - y0), (dy, y1 - p[1])):
        if pk == 0:
            if qk < 0:
                return False
            continue
        t = qk / pk
        if pk < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 > t1:
            return False
    return True


def _training_step(n_vars=2, optimizer="sgd"):
    g = G.Graph()
    with g.as_default():
        x = G.placeholder(yingshe.float32, [8, 3], name="x")
        y = G.placeholder(yingshe.float32, [8, 1], name="y")
        ws = [G.Variable(np.full((3, 1), 0.1 * (i + 1), np.float32), name=f"w{i}")
              for i in range(n_vars)]
        b = G.Variable(np.zeros((1,), np.float32), name="b")
        out = sum((x @ w for w in ws), b)
        loss = ((out - y) ** 2).mean()
        opt = (G.train.GradientDescentOptimizer(0.1) if optimizer == "sgd"
               else G.train.AdamOptimizer(0.01))
        train_op = opt.minimize(loss)
    return optimize(prune([loss, train_op], [x, y]))


@pytest.mark.parametrize("n_vars, optimizer", [(1, "sgd"), (2, "sgd"), (3, "adam")])
def test_to_png_layout_routes_no_edge_through_a_box(n_vars, optimizer):
    """Geometry of the picture: every edge starts at the bottom of its source box and ends
    at the top of its destination box, every segment goes down the page, and no segment
    enters a box other than its own two ends (long edges pass rows in lanes)."""
    from yingshe.graph.viz import _BOX_H, _drawing, _layout
    d = _drawing(_training_step(n_vars, optimizer), None, None, False, False)
    lay = _layout(d)
    assert len(lay.routes) == len(d.edges)
    for route, (src, dst, _) in zip(lay.routes, d.edges):
        assert route[0][1] == pytest.approx(lay.pos[src][1] - _BOX_H / 2)
        assert route[-1][1] == pytest.approx(lay.pos[dst][1] + _BOX_H / 2)
        for p, q in zip(route, route[1:]):
            assert q[1] <= p[1] + 1e-9
            for bid, centre in lay.pos.items():
                if bid not in (src, dst):
                    assert not _segment_hits_box(p, q, centre), (src, dst, bid)
    rows: dict[float, list[float]] = {}
    for x, y in lay.pos.values():
        rows.setdefault(y, []).append(x)
    for xs in rows.values():       # boxes in one row do not overlap
        xs.sort()
        assert all(b - a >= 0.86 for a, b in zip(xs, xs[1:]))


def test_optimizer_arithmetic_is_drawn_as_update():
    """The ops that only compute a Variable's new value (SGD's w - lr * g) are drawn in
    the update colour, like the assigns they feed; forward and gradient ops are not."""
    program = _training_step(2, "sgd")
    boxes, _, _ = both(program)
    by_node = {id(n): b for n, b in zip(program.nodes, boxes)}
    for n in program.nodes:
        cls = by_node[id(n)][2]
        if n.kind == "op" and n.name.startswith("GradientDescent/"):
            assert cls == "update", n.name
        elif n.kind == "op":
            assert cls in ("fwd", "grad"), (n.name, cls)


def test_to_png_is_public_next_to_to_mermaid():
    assert G.to_png is viz.to_png and G.to_mermaid is viz.to_mermaid
