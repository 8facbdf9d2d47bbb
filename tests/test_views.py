"""Views and in-place writes through them, eagerly and under autograd, against PyTorch.

A view shares its base's memory: a write through it must reach the base, exactly where
PyTorch's ops return views; ``view()`` must succeed exactly where PyTorch's stride rule
allows. Under autograd an in-place op through a view rewrites the base's history
(PyTorch's ``CopySlices``), so gradients flow through both; every case here runs the same
code on ``yingshe`` and ``torch`` (``m``) and compares values and gradients.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import yingshe
from yingshe.testing.reference import torch as import_torch
from yingshe.testing.tolerances import tol

RTOL, ATOL = tol("reference", "float64")


def _close(ours, theirs, what=""):
    a = ours.detach().numpy() if isinstance(ours, yingshe.Tensor) else np.asarray(ours)
    b = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    assert a.shape == b.shape, (what, a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=what)


def _same_in_both(fn):
    """``fn(m)`` returns a tuple of tensors (or None); yingshe's must equal torch's."""
    torch = import_torch()
    ours, theirs = fn(yingshe), fn(torch)
    for a, b in zip(ours, theirs):
        if b is None:
            assert a is None
        else:
            _close(a, b)


def _tensor(m, arr, requires_grad=False):
    if m is yingshe:
        return yingshe.tensor(arr.copy(), requires_grad=requires_grad)
    return m.tensor(arr.copy(), requires_grad=requires_grad)


# ---- view(): PyTorch's stride rule, by hypothesis ------------------------------------------

def _layout_steps():
    """A recipe that makes a strided tensor from a contiguous one: the same ops on both
    libraries (transposes, permutations, slices with steps, expands, unsqueezes)."""
    step = st.one_of(
        st.tuples(st.just("t"), st.integers(0, 3), st.integers(0, 3)),
        st.tuples(st.just("perm"), st.permutations(range(8))),
        st.tuples(st.just("slice"), st.integers(0, 3), st.integers(0, 2), st.integers(1, 3)),
        st.tuples(st.just("expand"), st.integers(0, 3), st.integers(0, 3)),
        st.tuples(st.just("unsqueeze"), st.integers(0, 3)),
    )
    return st.lists(step, max_size=3)


def _apply_layout(m, x, steps):
    for s in steps:
        nd = x.dim()
        if s[0] == "t" and nd >= 2:
            x = x.transpose(s[1] % nd, s[2] % nd)
        elif s[0] == "perm" and nd >= 2:
            x = x.permute(*[d for d in s[1] if d < nd])
        elif s[0] == "slice" and nd >= 1:
            d = s[1] % nd
            key = (slice(None),) * d + (slice(s[2], None, s[3]),)
            x = x[key]
        elif s[0] == "expand" and nd >= 1:
            d = s[1] % nd
            if x.shape[d] == 1:
                shape = list(x.shape)
                shape[d] = s[2]
                x = x.expand(*shape)
        elif s[0] == "unsqueeze":
            x = x.unsqueeze(s[1] % (nd + 1))
    return x


@st.composite
def _new_shape(draw, shape):
    """A shape of the same numel: regroupings of ``shape`` (merges and splits of adjacent
    dims, inserted and dropped size-1 dims: the cases a view can serve) or a random
    factorization."""
    n = int(np.prod(shape)) if shape else 1
    if draw(st.booleans()) or n == 0:
        dims = list(shape)
        for _ in range(draw(st.integers(0, 3))):
            kind = draw(st.sampled_from(["merge", "split", "one", "drop"]))
            if kind == "merge" and len(dims) >= 2:
                i = draw(st.integers(0, len(dims) - 2))
                dims[i:i + 2] = [dims[i] * dims[i + 1]]
            elif kind == "split" and dims:
                i = draw(st.integers(0, len(dims) - 1))
                divs = [d for d in range(1, dims[i] + 1) if dims[i] % d == 0] or [1]
                a = draw(st.sampled_from(divs))
                dims[i:i + 1] = [a, dims[i] // a if a else 0]
            elif kind == "one":
                dims.insert(draw(st.integers(0, len(dims))), 1)
            elif kind == "drop" and 1 in dims:
                dims.remove(1)
        return tuple(dims)
    out = []
    rest = n
    for _ in range(draw(st.integers(0, 3))):
        divs = [d for d in range(1, rest + 1) if rest % d == 0]
        d = draw(st.sampled_from(divs))
        out.append(d)
        rest //= d
    out.append(rest)
    return tuple(draw(st.permutations(out)))


@settings(max_examples=300)
@given(shape=st.lists(st.integers(0, 4), min_size=0, max_size=4), steps=_layout_steps(),
       data=st.data())
def test_view_succeeds_exactly_where_torch_does(shape, steps, data):
    torch = import_torch()
    arr = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
    xb, tb = _tensor(yingshe, arr), _tensor(torch, arr)
    x, t = _apply_layout(yingshe, xb, steps), _apply_layout(torch, tb, steps)
    assert tuple(x.shape) == tuple(t.shape)
    new = data.draw(_new_shape(tuple(t.shape)))
    try:
        tv = t.view(new)
    except RuntimeError as err:
        assert "view size is not compatible" in str(err)
        with pytest.raises(RuntimeError, match="view size is not compatible"):
            x.view(new)
        # reshape copies there, as PyTorch's does: the result is not a view
        r = x.reshape(new)
        _close(r, t.reshape(new))
        assert r._base is None and not np.shares_memory(r._data, xb._data)
        return
    v = x.view(new)
    _close(v, tv)
    assert v._base is xb and np.shares_memory(v._data, xb._data) or v.numel() == 0
    if v.numel():  # (strides of size-1 dims and of empty tensors are arbitrary)
        big = [i for i, n in enumerate(new) if n > 1]
        assert [v._data.strides[i] // 8 for i in big] == [tv.stride()[i] for i in big]
    if v.numel() and v._data.flags.writeable:
        # a write through the view reaches the base, at the same places as PyTorch's
        vals = np.arange(v.numel(), dtype=np.float64).reshape(new) + 100
        v.copy_(yingshe.tensor(vals))
        tv.copy_(torch.tensor(vals))
        _close(xb, tb)


def test_view_of_a_transpose_raises_and_writes_are_never_lost():
    x = yingshe.zeros(2, 3)
    with pytest.raises(RuntimeError, match=r"view size is not compatible .*Use \.reshape"):
        x.t().view(-1)
    v = x.t().view(3, 2)       # splits no contiguous pair: a view, as in PyTorch
    v[0, 0] = 5.0
    assert x[0, 0].item() == 5.0
    r = x.t().reshape(-1)      # a copy: writes stay in the copy, and it says it is no view
    assert r._base is None


# ---- the audit: every op PyTorch documents as a view is one here, and no other -------------

_VIEW_OPS = {
    "t": lambda m, x: x.t(),
    "transpose": lambda m, x: x.transpose(0, 1),
    "T": lambda m, x: x.T,
    "mT": lambda m, x: x.mT,
    "permute": lambda m, x: x.permute(1, 0),
    "movedim": lambda m, x: m.movedim(x, 0, 1),
    "swapaxes": lambda m, x: x.swapaxes(0, 1),
    "expand-no-broadcast": lambda m, x: x.expand(1, 3, 4),
    "narrow": lambda m, x: x.narrow(1, 1, 2),
    "diagonal": lambda m, x: x.diagonal(),
    "diagonal-offset": lambda m, x: m.diagonal(x, -1),
    "squeeze": lambda m, x: x.unsqueeze(0).squeeze(0),
    "unsqueeze": lambda m, x: x.unsqueeze(1),
    "flatten": lambda m, x: x.flatten(),
    "view": lambda m, x: x.view(2, 6),
    "view_as": lambda m, x: x.view_as(m.zeros(4, 3)),
    "reshape-contiguous": lambda m, x: x.reshape(12),
    "unflatten": lambda m, x: x.unflatten(1, (2, 2)),
    "basic-index": lambda m, x: x[1:, ::2],
    "int-index": lambda m, x: x[1],
    "select": lambda m, x: x.select(1, -1),
    "ellipsis-None": lambda m, x: x[..., None, 1],
    "split": lambda m, x: x.split(2, 1)[1],
    "chunk": lambda m, x: x.chunk(2)[0],
    "unbind": lambda m, x: x.unbind(1)[2],
    "view-of-transpose": lambda m, x: x.t()[1:].unsqueeze(0),
}

_COPY_OPS = {
    "flip": lambda m, x: x.flip(0),
    "roll": lambda m, x: x.roll(1, 0),
    "repeat": lambda m, x: x.repeat(1, 2),
    "clone": lambda m, x: x.clone(),
    "cat": lambda m, x: m.cat([x, x]),
    "reshape-noncontiguous": lambda m, x: x.t().reshape(12),
    "flatten-noncontiguous": lambda m, x: x.t().flatten(),
    "advanced-index": lambda m, x: x[[0, 2]],
    "expand-broadcast-contiguous": lambda m, x: x[:1].expand(2, 4).contiguous(),
}


def _both_on_arange(ops, name):
    """``ops[name]`` applied to the same 3x4 tensor in yingshe and torch."""
    torch = import_torch()
    arr = np.arange(12.0).reshape(3, 4)
    x, t = _tensor(yingshe, arr), _tensor(torch, arr)
    return x, t, ops[name](yingshe, x), ops[name](torch, t)


@pytest.mark.parametrize("name", sorted(_VIEW_OPS))
def test_a_write_through_a_view_reaches_the_base(name):
    x, t, v, tv = _both_on_arange(_VIEW_OPS, name)
    assert tv._base is t and v._base is x
    v.mul_(-1)
    tv.mul_(-1)
    _close(x, t, name)
    v.fill_(7.0)
    tv.fill_(7.0)
    _close(x, t, name)


@pytest.mark.parametrize("name", sorted(_COPY_OPS))
def test_ops_that_copy_never_claim_to_be_views(name):
    x, t, c, tc = _both_on_arange(_COPY_OPS, name)
    assert tc._base is None and c._base is None
    assert not np.shares_memory(c._data, x._data)
    c.fill_(7.0)
    _close(x, t, name)


@pytest.mark.parametrize("write", ["fill_", "add_", "setitem", "copy_"])
def test_writes_into_diagonal_reach_the_base(write):
    torch = import_torch()
    for m in (yingshe, torch):
        x = m.zeros(3, 3, dtype=m.float64)
        d = x.diagonal()
        if write == "fill_":
            d.fill_(1.0)
        elif write == "add_":
            d.add_(m.tensor([1.0, 2.0, 3.0], dtype=m.float64))
        elif write == "setitem":
            d[:] = m.tensor([4.0, 5.0, 6.0], dtype=m.float64)
        else:
            x.diagonal(1).copy_(m.tensor([8.0, 9.0], dtype=m.float64))
        if m is yingshe:
            ours = x
        else:
            _close(ours, x, write)


def test_writes_into_overlapping_memory_are_refused_with_torchs_message():
    torch = import_torch()
    for m in (yingshe, torch):
        with pytest.raises(RuntimeError, match="refers to a single memory location"):
            m.zeros(3).expand(2, 3).add_(1.0)
    # PyTorch lets fill_ and x[0] = 1 through (every element gets one value, or the indexed
    # part does not overlap itself); yingshe refuses every write into an expanded tensor
    # (NumPy's broadcast memory is read-only): never a wrong value
    for write in (lambda v: v.fill_(1.0), lambda v: v.__setitem__(0, 1.0)):
        with pytest.raises(RuntimeError, match="refers to a single memory location"):
            write(yingshe.zeros(3).expand(2, 3))


def test_expand_that_broadcasts_nothing_is_writeable_like_torchs():
    torch = import_torch()
    for m in (yingshe, torch):
        x = m.zeros(3, dtype=m.float64)
        x.expand(1, 3).add_(2.0)
        if m is yingshe:
            ours = x
    _close(ours, x)


# ---- in-place ops through views under autograd (PyTorch's CopySlices) ----------------------

def _run_both(fn, *arrays, second_order=False):
    """``fn(m, *leaves)`` on both libraries; compares its outputs, then the gradients of
    the sum of squares of its outputs w.r.t. the leaves (and their second-order ones)."""
    torch = import_torch()
    results = {}
    for m in (yingshe, torch):
        leaves = [_tensor(m, a, requires_grad=True) for a in arrays]
        outs = fn(m, *leaves)
        outs = outs if isinstance(outs, tuple) else (outs,)
        loss = sum((o * o).sum() for o in outs)
        grads = m.autograd.grad(loss, leaves, create_graph=second_order)
        second = ()
        if second_order:
            second = m.autograd.grad(sum((g * g).sum() for g in grads), leaves)
        results[m.__name__] = (outs, grads, second)
    (o1, g1, s1), (o2, g2, s2) = results["yingshe"], results["torch"]
    for a, b in zip(o1, o2):
        _close(a, b, "value")
    for a, b in zip(g1, g2):
        _close(a, b, "gradient")
    for a, b in zip(s1, s2):
        _close(a, b, "second-order gradient")


_rng = np.random.default_rng(7)
A = _rng.standard_normal((3, 4))
B = _rng.standard_normal((4, 3))
S = _rng.standard_normal((3, 3))


def _relu_slice(m, h):
    h = h * 1.5
    m.nn.functional.relu(h[:, :2], inplace=True)
    return h


def _relu_method_on_slice(m, h):
    h = h * 1.5
    h.t()[1:3].relu_()                 # an activation method through a view of a view
    return h


def _restride_then_write(m, x):
    y = x * 2
    v = y[1:]
    v.t_()                             # the view's own layout changes in place
    v[0].mul_(x[1:, 0])
    return y, v


def _index_iadd(m, x):
    y = x * 2
    y[0] += 1
    return y


def _transpose_add(m, y, z):
    y = y * 1
    y.t().add_(z)
    return y


def _diagonal_mul(m, x):
    y = x * x
    y.diagonal().mul_(2)
    return y


def _copy_into_view(m, x, w):
    y = x * 3
    v = y[1:, :3]
    v.copy_(w[:2, 1:] * w[:2, 1:])
    return y, v


def _view_of_view(m, x):
    y = x.sin()
    v = y[1:].view(2, 2, 2)[:, 1]      # a view of a view of a view
    v.mul_(x[1:, :2])
    return y, v


def _two_views(m, x):
    y = x + 0
    a, b = y[0], y[:, 1]               # they overlap at y[0, 1]
    a.mul_(3)
    b.add_(x[:, 0])                    # reads y[0, 1] after a's write
    return y, a, b


def _base_after_view(m, x):
    y = x * 1
    v = y[1]
    y.mul_(x)                          # the base changes; v shows it and must differentiate it
    return v


def _view_after_base_write(m, x):
    y = x.sin()
    y.mul_(2)
    v = y.t()
    v[0].sub_(x[:, 0] * x[:, 0])
    return y


def _write_into_plain_base(m, x):
    buf = m.zeros(3, 4, dtype=m.float64)  # requires no grad until written with x
    buf[1:].copy_(x[:2] * 2)
    buf.diagonal().add_(x[0, :3])
    return buf


def _setitem_chain(m, x):
    y = x * 1
    y[1][2] = y[0, 0] * 5              # x[1][2] = ...: a setitem through a view
    y[:, 0] *= 2
    return y


CASES = {
    "relu_-on-slice": (_relu_slice, (A,)),
    "relu_-method-view-of-view": (_relu_method_on_slice, (A,)),
    "index-iadd": (_index_iadd, (A,)),
    "t_-then-write-through-view": (_restride_then_write, (A,)),
    "transpose-add_": (_transpose_add, (A, B)),
    "diagonal-mul_": (_diagonal_mul, (S,)),
    "copy_-into-view": (_copy_into_view, (A, A)),
    "view-of-view": (_view_of_view, (A,)),
    "two-overlapping-views": (_two_views, (A,)),
    "base-written-after-view": (_base_after_view, (A,)),
    "view-after-base-write": (_view_after_base_write, (A,)),
    "write-into-plain-base": (_write_into_plain_base, (A,)),
    "setitem-chain": (_setitem_chain, (A,)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_in_place_through_views_matches_torch(name):
    fn, arrays = CASES[name]
    _run_both(fn, *arrays, second_order=True)


def test_a_view_whose_base_changed_as_the_root_or_input_of_autograd():
    def run(m):
        x = m.tensor(A.copy(), requires_grad=True)
        y = x * 1
        v = y[1]
        y.mul_(x)
        v.backward(m.ones(4, dtype=m.float64))   # v itself is the root
        z = x * 1
        u = z[0]
        z.mul_(3)
        (gu,) = m.autograd.grad((u * u).sum(), u)  # and the differentiated tensor
        return x.grad, gu

    _same_in_both(run)


def test_history_of_the_base_and_the_view():
    x = yingshe.tensor(A, requires_grad=True)
    y = x * 1
    v = y[0]
    v.mul_(2)
    assert y.grad_fn.name() == "ViewScatterBackward"
    assert v.grad_fn.name() == "GetitemBackward"  # replayed from the base's new history
    assert v.grad_fn.next_functions[0][0] is y.grad_fn
    assert not y.is_leaf and y.requires_grad and v._base is y


def test_refusals_have_torchs_messages():
    torch = import_torch()
    for m in (yingshe, torch):
        w = m.zeros(3, dtype=m.float64, requires_grad=True)
        with pytest.raises(RuntimeError, match="a view of a leaf .* requires grad is being "
                                               "used in an in-place operation"):
            w[0:2].mul_(2)
        y = w * 2
        with pytest.raises(RuntimeError, match="returns multiple views"):
            y.unbind()[0].mul_(2)
        with pytest.raises(RuntimeError, match="returns multiple views"):
            y.split(1)[0].view(1).add_(1)
        with m.no_grad():
            v = y[0:2]
        with pytest.raises(RuntimeError, match="created in no_grad mode and is being modified"):
            v.mul_(2)
        y.mul_(2)
        with pytest.raises(RuntimeError, match="created in no_grad mode and its base"):
            v * 2
        with m.no_grad():
            v * 2           # fine without grad mode
            w[0:2].mul_(2)  # and so is a write through a leaf's view


def test_a_saved_value_overwritten_through_a_view_raises_at_backward():
    torch = import_torch()
    for m in (yingshe, torch):
        x = m.tensor(A.copy(), requires_grad=True)
        y = x * 1
        z = (y * y).sum()      # saves y
        y[0].mul_(2)           # through a view: y's version moves
        with pytest.raises(RuntimeError, match="modified by an inplace|modified by an in-place"):
            z.backward()


def test_retain_grad_and_hooks_on_views():
    def run(m):
        x = m.tensor(A.copy(), requires_grad=True)
        y = x * 1
        y.retain_grad()
        v = y[1:]
        v.mul_(3)
        seen = []
        v.register_hook(lambda g: seen.append(g.detach().clone()))
        w = y[0]
        w.retain_grad()
        loss = (y * y).sum() + (v * 2).sum()
        loss.backward()
        return y.grad, x.grad, seen[0], w.grad

    _same_in_both(run)


def test_retain_grad_follows_an_in_place_op_on_a_non_view():
    def run(m):
        x = m.tensor(A.copy(), requires_grad=True)
        y = x * 1
        y.retain_grad()
        y.mul_(3)
        (y * y).sum().backward()
        return y.grad, x.grad

    _same_in_both(run)


def test_detach_is_not_a_view_for_autograd():
    def run(m):
        w = m.tensor(A.copy(), requires_grad=True)
        y = w * 2
        d = y.detach()
        assert d._base is None
        d.copy_(w * w)          # records on d alone (PyTorch: CopyBackwards)
        d.sum().backward()
        return y, w.grad

    _same_in_both(run)


def test_hooks_registered_before_the_write_see_the_old_value():
    """PyTorch documents that a hook registered before an in-place op receives the
    gradient of the old value; through a view PyTorch does not run it at all, yingshe
    follows the documented rule (the old value's gradient)."""
    x = yingshe.tensor(A[0].copy(), requires_grad=True)
    y = x * 1
    v = y[:2]
    seen = []
    v.register_hook(lambda g: seen.append(g.numpy().copy()))
    v.mul_(3)
    (y * yingshe.tensor([1.0, 2.0, 3.0, 4.0], dtype=yingshe.float64)).sum().backward()
    np.testing.assert_allclose(seen[0], [3.0, 6.0])   # d loss / d (old v) = 3 * [1, 2]
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 6.0, 3.0, 4.0])


def _check_fd(f):
    """The gradient of ``f`` (tensor -> scalar) at ``A`` against central differences
    along a random direction."""
    x = yingshe.tensor(A.copy(), requires_grad=True)
    (g,) = yingshe.autograd.grad(f(x), x)
    eps = 1e-6
    u = np.random.default_rng(1).standard_normal(A.shape)
    with yingshe.no_grad():
        fp = f(yingshe.tensor(A + eps * u)).item()
        fm = f(yingshe.tensor(A - eps * u)).item()
    rtol, atol = tol("fd", "float64")
    np.testing.assert_allclose((fp - fm) / (2 * eps), (g.numpy() * u).sum(), rtol=rtol,
                               atol=atol)


def test_finite_differences_through_a_write_through_a_view():
    def f(a):
        y = a.sin()
        y[1:, ::2].mul_(a[:2, :2])
        y.t()[0].add_(y[:, 1])
        return (y * y).sum()

    _check_fd(f)


def test_a_later_write_into_the_base_of_an_in_place_activation():
    """PyTorch refuses this at backward (relu_ saved its output, the view, and the base's
    version moved); yingshe's in-place ops save the out-of-place result they wrote, which
    no later write touches, so the gradient is right: checked by finite differences."""
    def f(a):
        h = a * 1.5
        h[:, :2].relu_()
        h.t()[1:].tanh_()
        return (h * h).sum()

    _check_fd(f)


# ---- graphs and yingshe.compile: refused at trace time, never a different result -----------

def _write_through_view(x):
    y = x * 1
    y[0].add_(1.0)
    return y * 2


def _stale_view(x):
    y = x * 1
    v = y[1]
    y.add_(1.0)
    return v * 2


def _buffer_view(x, buf):
    buf[0].fill_(5.0)
    return x + buf


@pytest.mark.parametrize("fn", [_write_through_view, _stale_view])
def test_compile_refuses_writes_through_views_and_eager_fallback_runs_them(fn):
    x = yingshe.tensor(A.copy())
    want = fn(x)
    with pytest.raises(yingshe.graph.trace.TraceError, match="view"):
        yingshe.compile(fn)(x)
    with pytest.warns(UserWarning):
        got = yingshe.compile(fn, fallback="eager")(x)
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_compile_refuses_a_write_through_a_view_of_state():
    x = yingshe.tensor(A.copy())
    buf = yingshe.zeros(3, 4, dtype=yingshe.float64)
    with pytest.raises(yingshe.graph.trace.TraceError, match="fill_: an in-place write "
                                                            "through a view"):
        yingshe.compile(_buffer_view)(x, buf)


def test_in_place_on_graph_values_is_refused_when_the_graph_is_built():
    import yingshe.graph as G
    with G.Graph().as_default():
        p = G.placeholder(yingshe.float64, (3, 4))
        y = p * 1
        for write in (lambda: y.add_(1.0), lambda: y[0].mul_(2.0),
                      lambda: y.__setitem__(0, 1.0), lambda: y.diagonal().fill_(0.0),
                      lambda: y.t().copy_(p.t())):
            with pytest.raises(yingshe.errors.UnsupportedError, match="in-place operations "
                                                                      "on graph values"):
                write()
