"""The N-d convolution, pooling and batch-norm kernels (yingshe/ops/_conv.py, _pool.py,
the ``batch_norm`` op) against PyTorch, on shapes drawn by hypothesis.

Each convolution lowering is forced in turn: a column budget of a few bytes cuts every
sample into chunks of one output row (of its first spatial dim), a small one puts a few
samples in each chunk with a shorter last one, the default budget puts the whole (small)
batch in one; stride 1 takes the wide columns and the one-sum transposed convolution,
other strides the exact windows and the slice-add scatter. Non-finite inputs (which must
leave the wide paths) are compared with a direct NumPy definition of the convolution over
the zero-padded input (every term, padding included, is multiplied), not with PyTorch,
whose oneDNN kernels may skip the padding: DESIGN's rule is that oracles must not depend
on the CPU's kernels.
"""

import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from numpy.lib.stride_tricks import sliding_window_view

import yingshe as Y
from yingshe.backend import jit
from yingshe.ops import _conv
from yingshe.testing.reference import torch as import_torch

RTOL, ATOL = 1e-10, 1e-12     # float64 vs PyTorch (yingshe/testing/tolerances.py)
FN = {1: "conv1d", 2: "conv2d", 3: "conv3d"}
TFN = {1: "conv_transpose1d", 2: "conv_transpose2d", 3: "conv_transpose3d"}


def _budget(monkeypatch, budget):
    """Chunk budget in bytes: 8 (with no floor on a chunk's columns) cuts every sample
    into chunks of one output row (of its first spatial dim) in the forward and weight
    gradient, and makes every chunk of the transposed convolution one sample (numba's
    too); ~1.5 KB puts a few of these small samples in a chunk (the last one shorter);
    None keeps the default (one chunk)."""
    if budget is not None:
        monkeypatch.setattr(_conv, "COLS_BYTES", budget)
        monkeypatch.setattr(_conv, "SCATTER_BYTES", budget)
        monkeypatch.setattr(_conv, "MIN_COLS", 1)
        # numba's transposed convolution: chunks of one (8 bytes) or two samples
        monkeypatch.setattr(_conv, "LANES", 1 if budget < 100 else 2)


BUDGETS = st.sampled_from([8, 1500, None])


@pytest.fixture(params=["numpy", "numba"])
def backend(request):
    """Each kernel under both backends: NumPy, and numba where it serves the call (batch
    norm, tiling max pooling, the 1-D/2-D transposed convolution's col2im). numba is
    required in CI (the jit extra)."""
    if request.param == "numba" and not jit.available():
        if os.environ.get("YINGSHE_REQUIRE_REFERENCE") == "1" or jit.required():
            pytest.fail("numba is required (the jit extra) but cannot be imported")
        pytest.skip("numba is not installed")
    jit.set_default_backend(request.param)
    try:
        yield request.param
    finally:
        jit.set_default_backend(None)       # the process default: numba when importable


def _grads(m, fn, arrays, g, kw):
    ts = [m.tensor(a, requires_grad=True) for a in arrays]
    out = getattr(m.nn.functional, fn)(*ts, **kw)
    grads = m.autograd.grad(out, ts, grad_outputs=m.from_numpy(g))
    return [out.detach().numpy()] + [t.detach().numpy() for t in grads]


@pytest.mark.parametrize("nd", [2, 3])
def test_chunks_of_two_samples_and_a_last_one(monkeypatch, nd):
    """Five samples in chunks of two (the budget fits two samples' columns): the chunks
    really are 2, 2, 1 in every kernel, and the results are PyTorch's."""
    torch = import_torch()
    rng = np.random.default_rng(7)
    x = rng.standard_normal((5, 3) + (5,) * nd)
    w = rng.standard_normal((4, 3) + (3,) * nd)
    b = rng.standard_normal(4)
    rows = 3 * 3 ** nd                              # C * k^nd (the transpose: Cout * k^nd)
    wide = sum(4 * 7 ** i for i in range(nd)) + 1   # the wide columns' length (pitch 7)
    plane = 7 ** nd                                 # the transposed convolution's plane
    monkeypatch.setattr(_conv, "COLS_BYTES", 2 * rows * wide * 8 + 1)
    monkeypatch.setattr(_conv, "SCATTER_BYTES", 2 * rows * plane * 8 + 1)
    seen = []
    chunk = _conv._chunk
    monkeypatch.setattr(_conv, "_chunk", lambda *a: seen.append(chunk(*a)) or seen[-1])
    kw = dict(padding=1)
    g = rng.standard_normal((5, 4) + (5,) * nd)
    ours = _grads(Y, FN[nd], (x, w, b), g, kw)
    ref = _grads(torch, FN[nd], (x, w, b), g, kw)
    assert seen and all(m == 2 for m in seen), seen
    for name, a, r in zip(("out", "gx", "gw", "gb"), ours, ref):
        np.testing.assert_allclose(a, r, rtol=RTOL, atol=ATOL, err_msg=name)


@pytest.mark.parametrize("nd", [2, 3])
def test_numba_transpose_leaves_samples_too_big_for_its_lanes(backend, monkeypatch, nd):
    """Where even half of LANES samples' columns exceed LANES_BYTES, or a sample has more
    than LANES_POSITIONS positions, the NumPy lowerings run under numba too (measured
    faster there), with PyTorch's result; under the default sizes numba's path runs."""
    torch = import_torch()
    calls = []
    real = _conv._transpose_numba
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 2) + (5,) * nd)
    w = rng.standard_normal((4, 2) + (3,) * nd)
    g = rng.standard_normal((3, 4) + (5,) * nd)
    ref = _grads(torch, FN[nd], (x, w), g, dict(padding=1))
    for limit, numba_runs in ((None, backend == "numba"), ("LANES_BYTES", False),
                              ("LANES_POSITIONS", False)):
        monkeypatch.undo()
        monkeypatch.setattr(_conv, "_transpose_numba",
                            lambda *a: calls.append(1) or real(*a))
        if limit is not None:
            monkeypatch.setattr(_conv, limit, 1)
        calls.clear()
        ours = _grads(Y, FN[nd], (x, w), g, dict(padding=1))
        assert bool(calls) == numba_runs, (limit, calls)
        for name, a, r in zip(("out", "gx", "gw"), ours, ref):
            np.testing.assert_allclose(a, r, rtol=RTOL, atol=ATOL, err_msg=name)


@pytest.mark.parametrize("nd,stride", [(2, 1), (2, 2)])
def test_chunks_capped_by_columns(monkeypatch, nd, stride):
    """Small samples: the byte budget would take all five in one chunk, MAX_COLS (two
    samples' columns) makes the chunks 2, 2, 1 in the forward and the weight gradient,
    and the results are PyTorch's."""
    torch = import_torch()
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 2) + (6,) * nd)
    w = rng.standard_normal((3, 2) + (3,) * nd)
    b = rng.standard_normal(3)
    out = 6 // stride
    # one sample's columns: wide at stride 1 (padded pitch 8), else the exact windows
    per = sum(5 * 8 ** i for i in range(nd)) + 1 if stride == 1 else out ** nd
    monkeypatch.setattr(_conv, "MAX_COLS", 2 * per + 1)
    seen = []
    chunks = _conv._Columns.chunks
    monkeypatch.setattr(_conv._Columns, "chunks",
                        lambda self: [seen.append(c[1]) or c for c in chunks(self)])
    kw = dict(padding=1, stride=stride)
    g = rng.standard_normal((5, 3) + (out,) * nd)
    ours = _grads(Y, FN[nd], (x, w, b), g, kw)
    ref = _grads(torch, FN[nd], (x, w, b), g, kw)
    assert seen and seen == [2, 2, 1] * (len(seen) // 3), seen
    for name, a, r in zip(("out", "gx", "gw", "gb"), ours, ref):
        np.testing.assert_allclose(a, r, rtol=RTOL, atol=ATOL, err_msg=name)


@pytest.mark.parametrize("nd,stride", [(2, 1), (2, 2), (3, 1), (3, 2)])
def test_one_sample_in_runs_of_output_rows(monkeypatch, nd, stride):
    """Samples whose columns exceed the budget are cut into runs of output rows: with a
    budget of three rows' columns (and no floor on a run) every sample of the forward and
    the weight gradient is several chunks, the last one shorter, and the results are
    PyTorch's. (``conv1d`` runs as a ``conv2d`` of height 1: one row, never cut.)"""
    torch = import_torch()
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 3) + (8,) * nd)
    w = rng.standard_normal((4, 3) + (3,) * nd)
    b = rng.standard_normal(4)
    # an output row's columns: the padded input's row pitch (wide, stride 1), else the
    # output's; a column is C * k^nd = 3^(nd + 1) float64 values
    pitch = 10 ** (nd - 1) if stride == 1 else 4 ** (nd - 1)
    monkeypatch.setattr(_conv, "COLS_BYTES", 3 * 3 ** (nd + 1) * pitch * 8)
    monkeypatch.setattr(_conv, "MIN_COLS", 1)
    seen = []
    chunks = _conv._Columns.chunks
    monkeypatch.setattr(_conv._Columns, "chunks",
                        lambda self: [seen.append(c) or c for c in chunks(self)])
    kw = dict(padding=1, stride=stride)
    out = 8 // stride
    g = rng.standard_normal((2, 4) + (out,) * nd)
    ours = _grads(Y, FN[nd], (x, w, b), g, kw)
    ref = _grads(torch, FN[nd], (x, w, b), g, kw)
    # (first sample, samples, first row, end row, columns): runs of 3 rows, a shorter last
    runs = [(r0, r1) for _, mm, r0, r1, _ in seen if mm == 1]
    assert runs and len(runs) == len(seen), seen
    assert sorted(set(runs)) == [(r, min(r + 3, out)) for r in range(0, out, 3)], seen
    for name, a, r in zip(("out", "gx", "gw", "gb"), ours, ref):
        np.testing.assert_allclose(a, r, rtol=RTOL, atol=ATOL, err_msg=name)


@pytest.mark.parametrize("nd,stride,dilation", [(1, 1, 1), (2, 1, 1), (2, 2, 1), (2, 1, 2)])
def test_numba_transpose_in_chunks_of_two_samples(backend, monkeypatch, nd, stride, dilation):
    """numba's transposed convolution (the input gradient) in chunks of two samples, the
    last one short (its spare lane zero): five samples are three col2im calls of two
    lanes (the NumPy backend never enters it), and every gradient is PyTorch's."""
    torch = import_torch()
    monkeypatch.setattr(_conv, "LANES", 2)
    lanes = []
    col2im = _conv._col2im_numba

    def spy(*a):
        fn = col2im(*a)
        return None if fn is None else (
            lambda cols, buf, *rest: lanes.append(buf.shape[-1]) or fn(cols, buf, *rest))

    monkeypatch.setattr(_conv, "_col2im_numba", spy)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((5, 3) + (7,) * nd)
    w = rng.standard_normal((4, 3) + (3,) * nd)
    kw = dict(padding=1, stride=stride, dilation=dilation)
    out = getattr(torch.nn.functional, FN[nd])(torch.from_numpy(x), torch.from_numpy(w), **kw)
    g = rng.standard_normal(tuple(out.shape))
    ours = _grads(Y, FN[nd], (x, w), g, kw)
    ref = _grads(torch, FN[nd], (x, w), g, kw)
    assert lanes == ([2, 2, 2] if backend == "numba" else []), lanes
    for name, a, r in zip(("out", "gx", "gw"), ours, ref):
        np.testing.assert_allclose(a, r, rtol=RTOL, atol=ATOL, err_msg=name)


@st.composite
def conv_cases(draw):
    nd = draw(st.integers(1, 3))
    groups = draw(st.sampled_from([1, 2]))
    cg, og = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    n = draw(st.sampled_from([0, 1, 2, 5]))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    stride = tuple(draw(st.sampled_from([1, 1, 2])) for _ in range(nd))
    dilation = tuple(draw(st.sampled_from([1, 1, 2])) for _ in range(nd))
    padding = tuple(draw(st.integers(0, 2)) for _ in range(nd))
    size = tuple(draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), 6))
                 for k, d, p in zip(kernel, dilation, padding))
    return dict(nd=nd, groups=groups, cg=cg, og=og, n=n, kernel=kernel, stride=stride,
                dilation=dilation, padding=padding, size=size)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=conv_cases(), budget=BUDGETS, seed=st.integers(0, 2 ** 16))
def test_conv_forward_and_gradients_match_torch(backend, monkeypatch, case, budget, seed):
    torch = import_torch()
    _budget(monkeypatch, budget)
    rng = np.random.default_rng(seed)
    nd, G = case["nd"], case["groups"]
    x = rng.standard_normal((case["n"], G * case["cg"]) + case["size"])
    w = rng.standard_normal((G * case["og"], case["cg"]) + case["kernel"])
    b = rng.standard_normal(G * case["og"])
    kw = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"],
              groups=G)
    ref_out = getattr(torch.nn.functional, FN[nd])(*map(torch.from_numpy, (x, w, b)), **kw)
    g = rng.standard_normal(tuple(ref_out.shape))
    ours = _grads(Y, FN[nd], (x, w, b), g, kw)
    ref = _grads(torch, FN[nd], (x, w, b), g, kw)
    for name, a, r in zip(("out", "gx", "gw", "gb"), ours, ref):
        assert a.shape == r.shape, name
        np.testing.assert_allclose(a, r, rtol=RTOL, atol=ATOL, err_msg=name)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=conv_cases(), budget=BUDGETS, out_pad=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_conv_transpose_matches_torch(backend, monkeypatch, case, budget, out_pad, seed):
    torch = import_torch()
    _budget(monkeypatch, budget)
    rng = np.random.default_rng(seed)
    nd, G = case["nd"], case["groups"]
    # an output padding below the stride or the dilation, as PyTorch requires
    op = tuple(int(out_pad and max(s, d) > 1) for s, d in zip(case["stride"], case["dilation"]))
    kw = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"],
              groups=G, output_padding=op)
    out = [(n - 1) * s - 2 * p + d * (k - 1) + o + 1
           for n, s, p, d, k, o in zip(case["size"], case["stride"], case["padding"],
                                       case["dilation"], case["kernel"], op)]
    if min(out) <= 0:
        return
    x = rng.standard_normal((case["n"], G * case["cg"]) + case["size"])
    w = rng.standard_normal((G * case["cg"], case["og"]) + case["kernel"])
    b = rng.standard_normal(G * case["og"])
    g = rng.standard_normal((case["n"], G * case["og"]) + tuple(out))
    ours = _grads(Y, TFN[nd], (x, w, b), g, kw)
    ref = _grads(torch, TFN[nd], (x, w, b), g, kw)
    for name, a, r in zip(("out", "gx", "gw", "gb"), ours, ref):
        assert a.shape == r.shape, name
        np.testing.assert_allclose(a, r, rtol=RTOL, atol=ATOL, err_msg=name)


def _windows(x, kshape, stride, pad, dil):
    """(N, C, *out, *k) windows of the zero-padded input."""
    nd = x.ndim - 2
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple((p, p) for p in pad))
    reach = tuple(d * (k - 1) + 1 for d, k in zip(dil, kshape))
    win = sliding_window_view(xp, reach, axis=tuple(range(2, 2 + nd)))
    return win[(slice(None),) * 2 + tuple(slice(None, None, s) for s in stride)
               + tuple(slice(None, None, d) for d in dil)]


def _einsum(spec, *arrays):
    with np.errstate(invalid="ignore", over="ignore"):
        return np.einsum(spec, *arrays)


def _ref_conv(x, w, stride, pad, dil):
    """Every term of the convolution over the zero-padded input, in float64 (groups 1)."""
    sp, k = "xyz"[:x.ndim - 2], "XYZ"[:x.ndim - 2]
    return _einsum(f"nc{sp}{k},oc{k}->no{sp}", _windows(x, w.shape[2:], stride, pad, dil), w)


def _ref_wgrad(x, g, kshape, stride, pad, dil):
    sp, k = "xyz"[:x.ndim - 2], "XYZ"[:x.ndim - 2]
    return _einsum(f"nc{sp}{k},no{sp}->oc{k}", _windows(x, kshape, stride, pad, dil), g)


def _ref_input_grad(g, w, in_shape, stride, pad, dil):
    """Per kernel position, w^T g over the output grid, added where that position's
    windows read the (padded) input: only the pairs that read an element reach it."""
    nd = g.ndim - 2
    sp = "xyz"[:nd]
    full = tuple(n + 2 * p for n, p in zip(in_shape[2:], pad))
    buf = np.zeros(in_shape[:2] + full)
    for pos in np.ndindex(*w.shape[2:]):
        part = _einsum(f"no{sp},oc->nc{sp}", g, w[(slice(None), slice(None)) + pos])
        sl = tuple(slice(q * d, q * d + (o - 1) * s + 1, s)
                   for q, d, o, s in zip(pos, dil, g.shape[2:], stride))
        with np.errstate(invalid="ignore", over="ignore"):
            buf[(slice(None), slice(None)) + sl] += part
    return buf[(slice(None), slice(None)) + tuple(slice(p, p + n)
                                                  for p, n in zip(pad, in_shape[2:]))]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(nd=st.integers(1, 3), n=st.integers(1, 3), where=st.sampled_from(["x", "w"]),
       value=st.sampled_from([np.inf, -np.inf, np.nan]), stride=st.sampled_from([1, 2]),
       padding=st.integers(0, 1), budget=BUDGETS, seed=st.integers(0, 2 ** 16))
def test_conv_non_finite_values_follow_the_definition(backend, monkeypatch, nd, n, where,
                                                      value, stride, padding, budget, seed):
    """A non-finite input (weight gradient) or weight (input gradient) leaves the wide
    paths: their wrap-around columns would meet it with zeros (0 * inf = NaN) where the
    definition has no term at all."""
    _budget(monkeypatch, budget)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2) + (5,) * nd)
    w = rng.standard_normal((3, 2) + (3,) * nd)
    target = x if where == "x" else w
    target.reshape(-1)[rng.integers(0, target.size, 2)] = value
    st_, pad, dil = (stride,) * nd, (padding,) * nd, (1,) * nd
    out = _ref_conv(x, w, st_, pad, dil)
    g = rng.standard_normal(out.shape)
    pads = tuple((p, p) for p in pad)
    with warnings.catch_warnings():        # NumPy's "invalid value" for 0 * inf, as in
        warnings.simplefilter("ignore", RuntimeWarning)     # yingshe's matmul op
        ours = _conv.forward(x, w, None, st_, pads, dil, 1)
        gw = _conv.weight_grad(x, g, w.shape, st_, pads, dil, 1)
        gx = _conv.transpose(g, w, None, st_, pads, dil, 1, x.shape[2:])
    np.testing.assert_allclose(ours, out, rtol=RTOL, atol=ATOL, equal_nan=True)
    np.testing.assert_allclose(gw, _ref_wgrad(x, g, w.shape[2:], st_, pad, dil), rtol=RTOL,
                               atol=ATOL, equal_nan=True)
    np.testing.assert_allclose(gx, _ref_input_grad(g, w, x.shape, st_, pad, dil), rtol=RTOL,
                               atol=ATOL, equal_nan=True)


# ---- pooling and batch norm: the NumPy passes and the numba loops (the jit extra) ---------

@st.composite
def pool_cases(draw):
    nd = draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    tiling = draw(st.booleans())
    stride = kernel if tiling else tuple(draw(st.integers(1, 2)) for _ in range(nd))
    padding = (0,) * nd if tiling else tuple(draw(st.integers(0, k // 2)) for k in kernel)
    dilation = (1,) * nd if tiling else tuple(draw(st.sampled_from([1, 2])) for _ in range(nd))
    size = tuple(draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), 7))
                 for k, d, p in zip(kernel, dilation, padding))
    return dict(nd=nd, kernel=kernel, stride=stride, padding=padding, dilation=dilation,
                size=size, n=draw(st.sampled_from([0, 1, 2])), c=draw(st.integers(1, 2)),
                ceil_mode=draw(st.booleans()))


def _padding_only_window(case):
    """Whether some window reads only padding (possible with dilation): PyTorch's index
    for it points outside the input (its backward then fails), ours at its padding."""
    from yingshe.ops._pool import geometry
    out, _ = geometry((1, 1) + case["size"], case["kernel"], case["stride"], case["padding"],
                      case["dilation"], case["ceil_mode"])
    for o_n, n, k, s, p, d in zip(out, case["size"], case["kernel"], case["stride"],
                                  case["padding"], case["dilation"]):
        for o in range(o_n):
            if not any(0 <= o * s - p + j * d < n for j in range(k)):
                return True
    return False


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=pool_cases(), nan=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_max_pool_matches_torch(backend, case, nan, seed):
    """Values, indices and gradients, first and second order, with ties (few distinct
    values, -0.0 against 0.0) and NaNs (a window holding one gives NaN and the last NaN's
    index); half the cases tile (kernel == stride: numba's loop when it is chosen)."""
    torch = import_torch()
    nd = case["nd"]
    if _padding_only_window(case):
        return
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, (case["n"], case["c"]) + case["size"]).astype(np.float64)
    x[x == 0] = np.where(rng.random(int((x == 0).sum())) < 0.5, -0.0, 0.0)
    if nan:
        x[rng.random(x.shape) < 0.15] = np.nan
    kw = dict(kernel_size=case["kernel"], stride=case["stride"], padding=case["padding"],
              dilation=case["dilation"], ceil_mode=case["ceil_mode"], return_indices=True)
    fn = f"max_pool{nd}d"
    results = []
    for m in (Y, torch):
        xt = m.tensor(x, requires_grad=True)
        val, idx = getattr(m.nn.functional, fn)(xt, **kw)
        g = m.from_numpy(np.cos(np.arange(val.numel())).reshape(tuple(val.shape)))
        (gx,) = m.autograd.grad((val * g).sum(), (xt,), create_graph=True)
        h = m.from_numpy(np.sin(np.arange(gx.numel())).reshape(tuple(gx.shape)))
        # the second-order term: d/dg of <h, gx(g)> is a gather of h (g enters linearly)
        gt = m.tensor(np.cos(np.arange(val.numel())).reshape(tuple(val.shape)),
                      requires_grad=True)
        (gx2,) = m.autograd.grad((val * gt).sum(), (xt,), create_graph=True)
        (gg,) = m.autograd.grad((gx2 * h).sum(), (gt,))
        results.append([val.detach().numpy(), idx.numpy(), gx.detach().numpy(),
                        gg.detach().numpy()])
    for name, a, r in zip(("val", "idx", "gx", "gg"), *results):
        np.testing.assert_allclose(a, r, rtol=RTOL, atol=ATOL, equal_nan=True, err_msg=name)


@pytest.mark.parametrize("kernel,size", [((2, 2, 2), (6, 4, 8)), ((3, 2, 1), (7, 5, 3))])
def test_max_pool3d_tiling_backward_matches_torch(backend, monkeypatch, kernel, size):
    """3-D tiling windows (numba's backward loop under numba; inputs that the windows
    cover and ones with a leftover row) with ties, -0.0, NaN and inf in g: the gradient
    exactly PyTorch's, and the numba loop really runs under numba."""
    torch = import_torch()
    from yingshe.ops import _numba_kernels
    ran = []
    real = _numba_kernels.kernels

    def spy():
        k = real()
        if k is None:
            return None
        fn = k["max_pool_tiling_backward_3d"]
        return dict(k, max_pool_tiling_backward_3d=lambda *a: ran.append(1) or fn(*a))

    monkeypatch.setattr(_numba_kernels, "kernels", spy)
    rng = np.random.default_rng(9)
    x = rng.integers(-2, 3, (2, 3) + size).astype(np.float32)
    x[x == 0] = -0.0
    x[rng.random(x.shape) < 0.1] = np.nan
    out = [torch.nn.functional.max_pool3d(torch.from_numpy(x), kernel).shape]
    g = rng.standard_normal(tuple(out[0])).astype(np.float32)
    g.reshape(-1)[:3] = [np.inf, np.nan, -0.0]
    grads = []
    for m in (Y, torch):
        xt = m.tensor(x, requires_grad=True)
        val = m.nn.functional.max_pool3d(xt, kernel)
        (gx,) = m.autograd.grad(val, (xt,), grad_outputs=m.from_numpy(g))
        grads.append(gx.detach().numpy())
    # exactly equal (PyTorch adds g into zeros, so its -0.0 there reads +0.0: not bitwise)
    np.testing.assert_allclose(grads[0], grads[1], rtol=0, atol=0, equal_nan=True)
    assert bool(ran) == (backend == "numba"), ran


@settings(max_examples=60, deadline=None)
@given(case=pool_cases(), cip=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_avg_pool_matches_torch(case, cip, seed):
    torch = import_torch()
    nd = case["nd"]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((case["n"], case["c"]) + case["size"])
    kw = dict(kernel_size=case["kernel"], stride=case["stride"], padding=case["padding"],
              ceil_mode=case["ceil_mode"], count_include_pad=cip)
    if case["dilation"] != (1,) * nd:
        return      # average pooling has no dilation
    if any(n < k for n, k in zip(case["size"], case["kernel"])):
        return      # PyTorch's avg_pool3d refuses an input smaller than the kernel
    fn = f"avg_pool{nd}d"
    results = []
    for m in (Y, torch):
        xt = m.tensor(x, requires_grad=True)
        out = getattr(m.nn.functional, fn)(xt, **kw)
        g = m.from_numpy(np.cos(np.arange(out.numel())).reshape(tuple(out.shape)))
        (gx,) = m.autograd.grad((out * g).sum(), (xt,))
        results.append([out.detach().numpy(), gx.detach().numpy()])
    for name, a, r in zip(("out", "gx"), *results):
        np.testing.assert_allclose(a, r, rtol=RTOL, atol=ATOL, err_msg=name)


# ---- batch normalisation -------------------------------------------------------------------

@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.sampled_from([0, 2, 3, 7]), c=st.integers(1, 4), sp=st.lists(st.integers(1, 4),
       max_size=3), affine=st.booleans(), noncontig=st.booleans(),
       special=st.sampled_from([None, np.nan, np.inf]), seed=st.integers(0, 2 ** 16))
def test_batch_norm_training_matches_torch(backend, n, c, sp, affine, noncontig, special,
                                           seed):
    """The fused op against PyTorch's: output, running statistics, gradients of input,
    weight and bias, and a second-order term; a NaN or inf in the input makes its
    channel NaN in both."""
    torch = import_torch()
    shape = (n, c) + tuple(sp)
    count = n * int(np.prod(sp))
    if count == 1:
        return      # an error in both (more than one value per channel)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 2 + 0.5
    if noncontig:
        x = np.swapaxes(np.ascontiguousarray(np.swapaxes(x, 0, 1)), 0, 1)
        assert not x.flags.c_contiguous or x.size <= 1 or n <= 1 or c <= 1
    if special is not None and x.size:
        x.reshape(-1)[0] = special
    w, b = rng.standard_normal(c), rng.standard_normal(c)
    g = rng.standard_normal(shape)
    results = []
    for m in (Y, torch):
        xt = m.tensor(x, requires_grad=True)
        wt, bt = m.tensor(w, requires_grad=True), m.tensor(b, requires_grad=True)
        rm, rv = m.zeros(c, dtype=m.float64), m.ones(c, dtype=m.float64)
        args = (wt, bt) if affine else (None, None)
        y = m.nn.functional.batch_norm(xt, rm, rv, *args, training=True)
        ins = [xt] + ([wt, bt] if affine else [])
        grads = m.autograd.grad((y * m.from_numpy(g)).sum(), ins, create_graph=True)
        second = np.zeros(shape)
        if x.size:     # (PyTorch's gradient of an empty input has no history)
            second = m.autograd.grad((grads[0] * grads[0]).sum(), (xt,))[0].detach().numpy()
        results.append([y.detach().numpy(), rm.numpy(), rv.numpy(), second]
                       + [t.detach().numpy() for t in grads])
    for a, r in zip(*results):
        np.testing.assert_allclose(a, r, rtol=1e-9, atol=1e-10, equal_nan=True)
