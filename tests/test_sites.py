"""The user's line in errors and drawings, recorded lazily on every tape node.

A tape node keeps the code object and instruction offset of the first frame outside the
package (never the frame) and resolves them to ``file:line`` only when an error, a
drawing or ``explain()`` needs it: these tests pin that the line is the same as the
eager resolution gave, in errors raised at once, at backward time and in graphs.
"""

import gc
import inspect
import os
import sys
import weakref

import numpy as np
import pytest

import yingshe
from yingshe import errors
from yingshe.ops import _registry

HERE = os.path.basename(__file__)


def _line_of(marker: str) -> int:
    """The line of this file holding ``marker`` (a comment), so no number is copied."""
    src = inspect.getsource(sys.modules[__name__]).splitlines()
    hits = [i + 1 for i, line in enumerate(src) if line.rstrip().endswith("# " + marker)]
    assert len(hits) == 1, marker
    return hits[0]


def _site_of(t):
    return errors.resolve_site(t.grad_fn.site)


def test_a_node_names_the_line_that_created_it():
    a = yingshe.ones(2, 2, requires_grad=True)
    y = a * 3.0  # site-mul
    z = yingshe.relu(
        y)  # site-relu-continued
    assert _site_of(y) == (__file__, _line_of("site-mul"))
    assert _site_of(z)[0] == __file__
    assert f"{HERE}:{_line_of('site-mul')}" in repr(y.grad_fn)


def test_lazy_sites_resolve_to_the_line_eager_resolution_gives(monkeypatch):
    """Every node recorded while an eager walk (``errors.user_site``, which reads
    ``f_lineno`` at once) runs beside the lazy one: both must agree, for calls spread over
    lines, inside comprehensions, lambdas and nested functions."""
    eager, nodes = [], []
    lazy, new_node = errors.caller_site, _registry._new_node

    def spy_site(skip=1):
        eager.append(errors.user_site(skip + 1))
        return lazy(skip + 1)

    def spy_new(cls):
        node = new_node(cls)
        nodes.append(node)
        return node

    monkeypatch.setattr(_registry, "caller_site", spy_site)
    monkeypatch.setattr(_registry, "_new_node", spy_new)
    a = yingshe.ones(3, requires_grad=True)
    b = (a
         * 2.0
         + a.exp())
    c = [x * 2.0 for x in (a, b)]
    f = lambda x: yingshe.sigmoid(  # noqa: E731
        x)
    d = f(c[0]) @ f(c[1])

    def inner(x):
        return yingshe.stack([x,
                              x.sin()]).sum(
            0)
    inner(d * a).sum()
    assert len(nodes) == len(eager) > 8
    for node, want in zip(nodes, eager):
        assert errors.resolve_site(node.site) == want


def test_errors_at_backward_time_name_the_recording_line():
    x = yingshe.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1.0
    z = (y * y).sum()  # site-saved
    y.add_(1.0)
    with pytest.raises(RuntimeError, match=f"{HERE}:{_line_of('site-saved')}"):
        z.backward()
    with yingshe.autograd.detect_anomaly():
        w = yingshe.tensor([0.0], requires_grad=True)
        s = w.sqrt()  # site-sqrt
    with pytest.raises(RuntimeError, match=f"sqrt.*{HERE}:{_line_of('site-sqrt')}"):
        with yingshe.autograd.detect_anomaly():
            s.sum().backward()


def test_errors_at_the_call_and_in_graphs_name_the_users_line():
    a = yingshe.ones(2, 3)
    with pytest.raises(yingshe.errors.ShapeError, match=f"{HERE}:{_line_of('site-eager')}"):
        a @ a  # site-eager

    def f(x):
        return x @ x  # site-traced

    with pytest.raises(yingshe.errors.ShapeError, match=f"{HERE}:{_line_of('site-traced')}"):
        yingshe.compile(f)(a)
    import yingshe.graph as G
    with G.Graph().as_default():
        p = G.placeholder(yingshe.float32, (2, 3))
        with pytest.raises(yingshe.errors.ShapeError,
                           match=f"{HERE}:{_line_of('site-graph')}"):
            p @ p  # site-graph


def test_drawings_of_the_tape_name_the_line():
    a = yingshe.ones(2, requires_grad=True)
    y = (a * 2.0).exp()  # site-drawn
    text = yingshe.graph.viz.to_mermaid(y)
    assert f"{HERE}:{_line_of('site-drawn')}" in text


def test_a_site_never_keeps_the_callers_frame_alive():
    class Marker:
        pass

    def make():
        marker = Marker()
        x = yingshe.ones(2, requires_grad=True)
        return x * 2.0, weakref.ref(marker)

    y, ref = make()
    gc.collect()
    assert ref() is None
    assert y.grad_fn.site is not None
    assert not any(isinstance(part, type(sys._getframe())) for part in y.grad_fn.site)
    np.testing.assert_array_equal(y.detach().numpy(), [2.0, 2.0])
