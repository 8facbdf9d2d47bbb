"""The fusion pass and the numba backend.

Oracles: the unfused program (NumPy, one call per op) for values and gradients, the
interpreter running a fused program member by member (so the pass's grouping and order
are checked apart from the kernels), and counts derived from the model's structure.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import yingshe as Y
import yingshe.graph as G
from yingshe.backend import jit
from yingshe.graph.interpreter import run_program
from yingshe.graph.passes import optimize, pipeline, prune
from yingshe.graph.passes.fuse import FUSED, fuse
from yingshe.graph.verify import verify
from yingshe.testing.tolerances import tol


def require_numba():
    """Skip without numba, except where CI requires it (``YINGSHE_REQUIRE_NUMBA=1``)."""
    if not jit.available():
        if jit.required():
            pytest.fail("YINGSHE_REQUIRE_NUMBA=1 but numba cannot be imported")
        pytest.skip("numba is not installed (the jit extra)")


def _run(fetches, feeds, **kw):
    with G.Session(**kw) as s:
        return s.run(fetches, feeds)


def _close(got, want, dtype="float64", what=""):
    rtol, atol = tol("graph", dtype)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=what)


def _fused_nodes(program):
    return [n for n in program.nodes if n.kind == "op" and n.op is FUSED]


# ---- the pass ---------------------------------------------------------------------------------

def test_a_chain_and_its_reductions_become_one_node():
    G.reset_default_graph()
    x = G.placeholder(Y.float64, (4, 5), name="x")
    b = G.placeholder(Y.float64, (5,), name="b")
    y = Y.tanh(x * 2.0 + b)            # mul, add (broadcast b), tanh
    total = y.sum()                    # a full reduction of y
    cols = (y * y).mean(0)             # mul, then a partial reduction
    program = optimize(prune([total, cols, y], [x, b]), passes=pipeline("numba"))
    verify(program)
    (node,) = _fused_nodes(program)
    group = node.attrs["group"]
    assert [m.op.name for m in group.members] == ["mul", "add", "tanh", "sum", "mul", "mean"]
    assert len(node.metas) == 3        # y (fetched), the sum, the mean
    rng = np.random.default_rng(0)
    feeds = {x: rng.standard_normal((4, 5)), b: rng.standard_normal(5)}
    want = _run([total, cols, y], feeds, backend="numpy")
    _close(_run([total, cols, y], feeds, backend="numba", executor="interpreter"), want)


def test_fusion_never_makes_a_cycle_through_a_library_call():
    # a -> matmul -> c, and a -> c: {a, c} in one kernel would need the matmul's result
    # before the kernel runs and the kernel's a before the matmul
    G.reset_default_graph()
    x = G.placeholder(Y.float64, (3, 3), name="x")
    w = G.placeholder(Y.float64, (3, 3), name="w")
    a = Y.exp(x) * 2.0
    m = a @ w
    c = Y.sigmoid(a + m)
    program = fuse(prune([c], [x, w]))
    verify(program)
    for node in _fused_nodes(program):
        names = [m_.op.name for m_ in node.attrs["group"].members]
        assert not ("exp" in names and "sigmoid" in names), names
    rng = np.random.default_rng(1)
    feeds = {x: rng.standard_normal((3, 3)), w: rng.standard_normal((3, 3))}
    _close(_run([c], feeds, backend="numba", executor="interpreter"),
           _run([c], feeds, backend="numpy"))


def _groups_by_ops(program):
    return [[m.op.name for m in node.attrs["group"].members] for node in _fused_nodes(program)]


def test_sibling_groups_reading_one_input_share_a_kernel():
    # exp(x).sum() and tanh(x) * 2 read x and nothing of each other: one loop
    G.reset_default_graph()
    x = G.placeholder(Y.float64, (4, 3), name="x")
    total = Y.exp(x).sum()
    y = Y.tanh(x) * 2.0
    program = optimize(prune([total, y], [x]), passes=pipeline("numba"))
    verify(program)
    assert sorted(map(sorted, _groups_by_ops(program))) == [["exp", "mul", "sum", "tanh"]]
    feeds = {x: np.random.default_rng(2).standard_normal((4, 3))}
    _close(_run([total, y], feeds, backend="numba"), _run([total, y], feeds, backend="numpy"))


def test_siblings_with_a_path_between_them_stay_apart():
    # exp(x) -> matmul -> (tanh(x) + m): one kernel would need the matmul first and last
    G.reset_default_graph()
    x = G.placeholder(Y.float64, (3, 3), name="x")
    w = G.placeholder(Y.float64, (3, 3), name="w")
    a = Y.exp(x) * 2.0
    c = Y.tanh(x) + a @ w
    program = optimize(prune([c], [x, w]), passes=pipeline("numba"))
    verify(program)
    for names in _groups_by_ops(program):
        assert not ("exp" in names and "tanh" in names), names
    rng = np.random.default_rng(3)
    feeds = {x: rng.standard_normal((3, 3)), w: rng.standard_normal((3, 3))}
    _close(_run([c], feeds, backend="numba"), _run([c], feeds, backend="numpy"))


@pytest.mark.parametrize("case", ["mse-mean", "mse-sum", "bce-mean", "bce-weight-sum",
                                  "bce-pos-weight"])
def test_a_reduced_pointwise_loss_joins_its_gradients_kernel(case):
    # the reduced loss is split into its pointwise form and a mean/sum, which fuse with
    # the loss gradient (a sibling reading the same prediction and target)
    require_numba()
    G.reset_default_graph()
    F = Y.nn.functional
    p = G.placeholder(Y.float32, (7, 2), name="p")
    t = G.placeholder(Y.float32, (7, 2), name="t")
    w = G.placeholder(Y.float32, (2,), name="w")
    kind, _, how = case.partition("-")
    if kind == "mse":
        loss = F.mse_loss(p, t, reduction=how)
    elif how == "weight-sum":
        loss = F.binary_cross_entropy_with_logits(p, t, weight=w, reduction="sum")
    else:
        loss = F.binary_cross_entropy_with_logits(
            p, t, pos_weight=w if how == "pos-weight" else None)
    (gp,) = G.gradients(loss, [p])
    program = optimize(prune([loss, gp], [p, t, w]), passes=pipeline("numba"))
    verify(program)
    groups = _groups_by_ops(program)
    op = {"mse": "mse_loss", "bce": "binary_cross_entropy_with_logits"}[kind]
    if how == "pos-weight":            # (x, t, None, pw): no scalar call fits, kept whole
        assert not any(op in names for names in groups), groups
    else:
        (names,) = [ns for ns in groups if op in ns]
        assert ("sum" if "sum" in how else "mean") in names and len(groups) == 1, groups
    rng = np.random.default_rng(4)
    feeds = {p: (rng.standard_normal((7, 2)) * 3).astype(np.float32),
             t: rng.uniform(0, 1, (7, 2)).astype(np.float32),
             w: rng.uniform(0.5, 2, 2).astype(np.float32)}
    _close(_run([loss, gp], feeds, backend="numba"), _run([loss, gp], feeds, backend="numpy"),
           dtype="float32")


@pytest.mark.parametrize("dim,shape,kernel", [((0,), (6, 5), True), ((1,), (6, 5), True),
                                               ((0, 1), (6, 5), False),
                                               ((0,), (512, 256), False)])
def test_a_lone_partial_reduction_of_a_library_result(dim, shape, kernel):
    # a bias gradient: the sum over the batch of a matmul's result, with no elementwise
    # group to join, is a kernel when small and partial; full sums and big arrays stay
    # NumPy's
    require_numba()
    G.reset_default_graph()
    a = G.placeholder(Y.float64, (shape[0], 3), name="a")
    b = G.placeholder(Y.float64, (3, shape[1]), name="b")
    out = (a @ b).sum(dim)
    program = optimize(prune([out], [a, b]), passes=pipeline("numba"))
    verify(program)
    assert _groups_by_ops(program) == ([["sum"]] if kernel else [])
    rng = np.random.default_rng(5)
    feeds = {a: rng.standard_normal((shape[0], 3)), b: rng.standard_normal((3, shape[1]))}
    _close(_run([out], feeds, backend="numba"), _run([out], feeds, backend="numpy"))


def test_random_and_stateful_ops_stay_out_and_keep_their_order():
    G.reset_default_graph()
    v = G.Variable(np.ones((4,)), name="v")
    x = G.placeholder(Y.float64, (4,), name="x")
    first = G.assign(v, v * 2.0 + x)          # elementwise into an assign
    noise = G.random_normal((4,), dtype=Y.float64)
    second = G.assign_add(v, Y.exp(noise) * 0.0 + 1.0)
    program = fuse(prune([first, second], [x]))
    verify(program)
    kinds = [n.type for n in program.nodes]
    assert kinds.index("assign") < len(kinds) - 1 - kinds[::-1].index("assign")
    for node in _fused_nodes(program):
        assert not any(m.random or m.stateful for m in node.attrs["group"].members)
    order = [n for n in program.nodes if n.kind == "assign"]
    assert [n.attrs["mode"] for n in order] == ["set", "add"]


# ---- every group convex, on DAGs with side paths drawn by hypothesis -----------------------

# Ops of one (3, 3) iteration shape: elementwise ones (fusible), library calls (matmul,
# cumsum: no scalar formula) that make side paths around a group, and full reductions
# broadcast back (a group may not consume its own reduction).
_DAG_STEPS = ("exp", "tanh", "add", "mul", "sub", "matmul", "cumsum", "plus_sum")


def _dag_op(kind, a, b):
    if kind in ("exp", "tanh"):
        return getattr(Y, kind)(a * 0.25)
    if kind in ("add", "mul", "sub"):
        return getattr(Y, kind)(a, b)
    if kind == "matmul":
        return (a @ b) * 0.25
    if kind == "cumsum":
        return Y.cumsum(a, 0) * 0.5
    return a + b.sum() * 0.1          # plus_sum: a reduction of b, broadcast into a


@st.composite
def dags(draw):
    n_in = draw(st.integers(1, 3))
    steps = draw(st.lists(st.tuples(st.sampled_from(_DAG_STEPS), st.integers(0, 6),
                                    st.integers(0, 6)), min_size=2, max_size=16))
    n_out = draw(st.integers(1, 3))
    return n_in, steps, n_out


def _build_dag(n_in, steps, n_out):
    xs = [G.placeholder(Y.float64, (3, 3), name=f"x{i}") for i in range(n_in)]
    vals = list(xs)
    for kind, i, j in steps:   # operands counted back from the newest value
        vals.append(_dag_op(kind, vals[-1 - i % len(vals)], vals[-1 - j % len(vals)]))
    return xs, vals[-n_out:]


def _reaches(succ, starts, targets) -> bool:
    """Whether a path from ``starts`` (node ids) reaches any of ``targets``."""
    seen, stack = set(), list(starts)
    while stack:
        k = stack.pop()
        if k in targets:
            return True
        if k not in seen:
            seen.add(k)
            stack.extend(succ.get(k, ()))
    return False


def check_groups_convex(before, after):
    """Every fusion group of ``after`` is convex in ``before``'s dependence graph (no path
    leaves the group and re-enters it), and the graph of groups and the remaining nodes
    has no cycle: checked by plain graph search, independently of the pass."""
    succ: dict[int, set] = {}
    for nd in before.nodes:
        for x in nd.inputs:
            if hasattr(x, "_gnode"):
                succ.setdefault(x._gnode.id, set()).add(nd.id)
        for c in nd.control:
            succ.setdefault(c.id, set()).add(nd.id)
    unit = {nd.id: nd.id for nd in before.nodes}
    groups = [frozenset(m.id for m in node.attrs["group"].members)
              for node in _fused_nodes(after)]
    for g in groups:
        outside = {s for m in g for s in succ.get(m, ()) if s not in g}
        assert not _reaches({k: v for k, v in succ.items()}, outside, g), \
            f"a path leaves and re-enters the group {sorted(g)}"
        for m in g:
            unit[m] = min(g)
    usucc: dict[int, set] = {}
    for a, bs in succ.items():
        for b in bs:
            if unit[a] != unit[b]:
                usucc.setdefault(unit[a], set()).add(unit[b])
    state: dict[int, int] = {}
    for root in set(unit.values()):     # iterative DFS: a back edge is a cycle
        if root in state:
            continue
        stack = [(root, iter(usucc.get(root, ())))]
        state[root] = 1
        while stack:
            u, it = stack[-1]
            v = next(it, None)
            if v is None:
                state[u] = 2
                stack.pop()
            elif state.get(v) == 1:
                raise AssertionError(f"the groups form a cycle through unit {v}")
            elif v not in state:
                state[v] = 1
                stack.append((v, iter(usucc.get(v, ()))))


# the second derivative of cross_entropy with probability targets made two groups that
# depend on each other, each convex on its own; this DAG has that shape: groups
# {a, a'} and {c, b, b'} with a -> (matmul) -> b and b' -> (cumsum) -> a'
_TWO_WAY = (2, [("exp", 1, 0),         # a = exp(x0)
                ("tanh", 1, 0),        # c = tanh(x1)
                ("matmul", 1, 1),      # X = a @ a
                ("mul", 1, 1),         # b' = c * c
                ("cumsum", 0, 0),      # Y = cumsum(b')
                ("add", 3, 2),         # b = c + X
                ("add", 5, 1)], 2)     # a' = a + Y; fetched: b, a'


@settings(max_examples=200, deadline=None)
@given(dags())
@example(_TWO_WAY)
def test_every_fusion_group_is_convex(dag):
    G.reset_default_graph()
    xs, outs = _build_dag(*dag)
    before = optimize(prune(outs, xs), passes=pipeline("numpy"))
    after = fuse(before)
    verify(after)
    check_groups_convex(before, after)
    rng = np.random.default_rng(0)
    values = [rng.uniform(-1, 1, (3, 3)) for _ in xs]
    _close(run_program(after, values), run_program(before, values), what=str(dag))


# ---- fused == unfused, drawn by hypothesis --------------------------------------------------

_UNARY = ("tanh", "sigmoid", "relu", "neg", "sin", "square", "abs")
_BINARY = ("add", "sub", "mul", "maximum", "minimum", "where_gt", "div_safe")


def _apply(name, a, b=None):
    if name == "where_gt":
        return Y.where(a > b, a, b * 0.5)
    if name == "div_safe":
        return a / (1.0 + b * b)
    if name in _UNARY:
        return getattr(Y, name)(a)
    return getattr(Y, name)(a, b)


@st.composite
def chains(draw):
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=ndim, max_size=ndim)))
    n_in = draw(st.integers(1, 3))
    shapes = []
    for _ in range(n_in):
        drop = draw(st.integers(0, ndim - 1))
        s = [d if draw(st.booleans()) else 1 for d in shape[drop:]]
        shapes.append(tuple(s))
    shapes[0] = shape   # one full-shape input fixes the iteration shape
    steps = draw(st.lists(st.tuples(st.sampled_from(_UNARY + _BINARY),
                                    st.integers(0, 10), st.integers(0, 10),
                                    st.sampled_from((None, 0.5, 2.0))),
                          min_size=1, max_size=6))
    dims = tuple(sorted(set(draw(st.lists(st.integers(0, ndim - 1), max_size=ndim)))))
    reduce = draw(st.sampled_from(("sum", "mean", "none")))
    return shape, shapes, steps, dims, reduce


@settings(max_examples=12)
@given(chains())
def test_fused_equals_unfused_values_and_gradients(chain):
    require_numba()
    shape, shapes, steps, dims, reduce = chain
    G.reset_default_graph()
    xs = [G.placeholder(Y.float64, s, name=f"x{i}") for i, s in enumerate(shapes)]
    vals = list(xs)
    for name, i, j, scalar in steps:
        a = vals[i % len(vals)]
        b = scalar if scalar is not None and name in ("add", "mul", "maximum") \
            else vals[j % len(vals)]
        out = _apply(name, a, b)
        if tuple(out.shape) != shape:          # keep the iteration shape
            out = out + xs[0] * 0.0
        vals.append(out)
    y = vals[-1]
    if reduce != "none":
        y = getattr(y, reduce)(dims if dims else None)
    loss = (y * y).sum()
    grads = G.gradients(loss, xs)
    fetches = [y] + [g for g in grads if g is not None]
    rng = np.random.default_rng(0)
    feeds = {x: rng.uniform(-2, 2, s) for x, s in zip(xs, shapes)}
    want = _run(fetches, feeds, backend="numpy")
    for executor in ("codegen", "interpreter"):
        got = _run(fetches, feeds, backend="numba", executor=executor)
        _close(got, want, what=f"{executor}: {chain}")


# ---- compiled training steps -------------------------------------------------------------------

def _step(workload, backend):
    from yingshe.compare.engines import pytorch_style as ps
    from yingshe.compare.workloads import WORKLOADS, batches, build
    w = WORKLOADS[workload]
    arrays = build(workload)
    _, step = ps.training_step(Y, "yingshe-compiled", w, arrays)
    step.backend = backend
    data = [(Y.from_numpy(arrays["x"][i]), Y.from_numpy(arrays["y"][i]))
            for i in batches(w, 6)]
    return step, data


# (fused kernels, library calls) of one compiled SGD step of a linear model, by its
# structure: the forward (linear) is a library call; a reduced pointwise loss (mse,
# the logistic loss) is split into its pointwise form and a mean, which joins its
# gradient's kernel (the loss and the gradient read the same prediction and target:
# sibling groups merged), with the bias gradient's sum fused into it (linreg: the mse
# gradient 2 (p - y) / n is sub and mul; logreg: the logistic loss's backward op has a
# scalar formula); softmax's cross_entropy and its backward are row-wise library calls
# (their own numba kernels), and the bias gradient's sum of the latter's result is a
# kernel of its own (NumPy's strided partial sum costs more); the weight gradient is a
# transpose and a matmul; each parameter's update is the optimizer's fused op (``sgd_update``, a library call that
# is itself one numba pass; stateful with several outputs, the fusion pass leaves it
# alone).
COUNTS = {
    # kernels: mse + mean, its grad + bias sum; library: linear, transpose, matmul,
    # 2 updates
    "linreg": (1, 5),
    # kernels: bce + mean, bce backward + bias sum; library: linear, transpose, matmul,
    # 2 updates
    "logreg": (1, 5),
    # kernels: the bias gradient's sum over the batch (a lone partial reduction of a
    # library result); library: linear, cross_entropy, cross_entropy backward,
    # transpose, matmul, 2 updates
    "softmax": (1, 7),
}


@pytest.mark.parametrize("workload", sorted(COUNTS))
def test_kernel_and_library_call_counts(workload):
    require_numba()
    step, data = _step(workload, "numba")
    for d in data[:3]:
        step(*d)
    stats = step._last.fn.kernel_stats
    assert (len(stats.kernels), stats.library_calls) == COUNTS[workload], \
        step.explain()


def _speed_workloads():
    from yingshe.compare.workloads import SPEED
    return list(SPEED)


@pytest.mark.parametrize("workload", _speed_workloads())
def test_training_trajectories_match_across_backends(workload):
    require_numba()
    losses = {}
    for backend in ("numpy", "numba"):
        step, data = _step(workload, backend)
        losses[backend] = [float(step(*d).item()) for d in data]
    rtol, atol = tol("graph", "float32")
    np.testing.assert_allclose(losses["numba"], losses["numpy"], rtol=rtol, atol=atol)


def test_explain_shows_groups_kernels_and_compile_time():
    require_numba()
    f = Y.compile(lambda x: Y.sigmoid(x * 3.0 + 1.0).sum(), backend="numba")
    x = Y.from_numpy(np.linspace(-1, 1, 12).reshape(3, 4))
    np.testing.assert_allclose(f(x).item(), (1 / (1 + np.exp(-(x.numpy() * 3 + 1)))).sum(),
                               rtol=1e-12)
    text = f.explain()
    assert "fusion groups: 1 numba kernels" in text
    assert "mul (mul), add (add), sigmoid (sigmoid), sum (sum)" in text
    assert "def kernel(" in text and "compiled (or loaded from the cache) in" in text


def test_numpy_backend_is_unfused_and_needs_no_numba(monkeypatch):
    monkeypatch.setattr(jit, "_numba", [None])
    monkeypatch.delenv("YINGSHE_REQUIRE_NUMBA", raising=False)
    f = Y.compile(lambda x: Y.tanh(x * 2.0).sum())
    x = Y.from_numpy(np.arange(6.0))
    assert f(x).item() == pytest.approx(np.tanh(np.arange(6.0) * 2).sum(), rel=1e-12)
    assert not _fused_nodes(f._last.program)
    assert not hasattr(f._last.fn, "kernel_stats")
    with pytest.raises(jit.BackendUnavailable):
        Y.compile(lambda x: x, backend="numba")


def test_unknown_backend_is_refused_early():
    with pytest.raises(ValueError, match="unknown backend"):
        Y.compile(lambda x: x, backend="cuda")
    with pytest.raises(ValueError, match="unknown backend"):
        G.Session(backend="fast")


def test_a_second_process_loads_the_cached_kernel(tmp_path):
    require_numba()
    code = textwrap.dedent("""
        import numpy as np, yingshe as Y
        f = Y.compile(lambda x: (Y.exp(x) * 0.5 + x).sum(), backend="numba")
        f(Y.from_numpy(np.ones((3, 2))))
        (name, group, source), = f._last.fn.kernel_stats.kernels
        k = f._last.fn.globals[name]
        print(sum(k.stats.cache_hits.values()), sum(k.stats.cache_misses.values()))
    """)
    env = dict(os.environ, YINGSHE_CACHE_DIR=str(tmp_path),
               PYTHONPATH=os.path.dirname(os.path.dirname(Y.__file__)))
    runs = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, check=True).stdout.split() for _ in range(2)]
    assert runs[0] == ["0", "1"]          # compiled, then written to the cache
    assert runs[1] == ["1", "0"]          # loaded from the cache, not recompiled
