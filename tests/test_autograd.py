"""The autograd engine against PyTorch and calculus: accumulation, retain_graph,
grad modes, hooks, higher-order gradients, custom Functions, long chains,
in-place rules and anomaly detection."""

import os

import numpy as np
import pytest

import yingshe
from yingshe.testing.reference import torch as import_torch

HERE = os.path.basename(__file__)


def _pair(a, requires_grad=True):
    """The same float64 array as a yingshe and a torch leaf."""
    torch = import_torch()
    a = np.asarray(a, dtype=np.float64)
    return (yingshe.tensor(a, requires_grad=requires_grad),
            torch.tensor(a, requires_grad=requires_grad))


def _close(y, t, rtol=1e-12, atol=1e-14):
    tn = t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)
    yn = y.detach().numpy() if isinstance(y, yingshe.Tensor) else np.asarray(y)
    np.testing.assert_allclose(yn, tn, rtol=rtol, atol=atol)


# ---- accumulation, gradient=, retain_graph ---------------------------------------------------

def test_grad_accumulates_across_backward_calls():
    x, tx = _pair([1.0, -2.0, 3.0])
    for m, v in ((yingshe, x), (None, tx)):
        (v * v).sum().backward()
        (v * 3.0).sum().backward()
    _close(x.grad, tx.grad)
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.detach().numpy() + 3)


def test_grad_buffer_is_not_aliased_with_other_tensors():
    x = yingshe.tensor([1.0, 2.0], requires_grad=True)
    y = yingshe.tensor([1.0, 2.0], requires_grad=True)
    (x + y).sum().backward()
    x.grad.numpy()[0] = 100.0  # editing one leaf's grad must not change the other's
    assert y.grad.numpy()[0] == 1.0
    g = yingshe.ones(2)
    z = yingshe.tensor([1.0, 1.0], requires_grad=True)
    z.backward(g)
    z.backward(g)
    assert g.numpy().tolist() == [1.0, 1.0], "backward must not accumulate into gradient="


def test_backward_with_gradient_argument():
    torch = import_torch()
    x, tx = _pair([[1.0, 2.0], [3.0, 4.0]])
    g = np.array([[0.5, -1.0], [2.0, 0.0]])
    (x * x * 2.0).backward(gradient=yingshe.tensor(g))
    (tx * tx * 2.0).backward(gradient=torch.tensor(g))
    _close(x.grad, tx.grad)


def test_backward_of_nonscalar_without_gradient_raises():
    x = yingshe.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="scalar"):
        (x * 2).backward()
    with pytest.raises(RuntimeError):
        (x * 2).backward(gradient=yingshe.ones(4))


def test_retain_graph():
    torch = import_torch()
    x, tx = _pair([0.5, 1.5])
    y = (x * x * x).sum()
    ty = (tx * tx * tx).sum()
    y.backward()
    ty.backward()
    with pytest.raises(RuntimeError):
        ty.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()

    x, tx = _pair([0.5, 1.5])
    y = (x * x * x).sum()
    ty = (tx * tx * tx).sum()
    y.backward(retain_graph=True)
    ty.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    ty.backward()
    _close(x.grad, tx.grad)
    np.testing.assert_allclose(x.grad.numpy(), 2 * first)
    assert torch is not None


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        yingshe.ones(2).sum().backward()


# ---- grad modes ---------------------------------------------------------------------------------

def test_grad_modes_as_context_managers():
    x = yingshe.ones(2, requires_grad=True)
    with yingshe.no_grad():
        y = x * 2
        assert not y.requires_grad and y.grad_fn is None
        assert not yingshe.is_grad_enabled()
        with yingshe.enable_grad():
            assert yingshe.is_grad_enabled()
            assert (x * 2).requires_grad
        assert not yingshe.is_grad_enabled()
    assert yingshe.is_grad_enabled()
    with yingshe.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert yingshe.is_grad_enabled()
    with yingshe.set_grad_enabled(True):
        assert (x * 2).requires_grad


def test_set_grad_enabled_as_a_function():
    try:
        yingshe.set_grad_enabled(False)
        assert not yingshe.is_grad_enabled()
    finally:
        yingshe.set_grad_enabled(True)
    assert yingshe.is_grad_enabled()


def test_grad_modes_as_decorators_and_restored_on_error():
    x = yingshe.ones(2, requires_grad=True)

    @yingshe.no_grad()
    def f():
        return x * 2

    @yingshe.enable_grad()
    def g():
        return x * 2

    @yingshe.set_grad_enabled(False)
    def h():
        return x * 2

    assert yingshe.is_grad_enabled()
    assert not f().requires_grad
    with yingshe.no_grad():
        assert g().requires_grad
    assert not h().requires_grad
    assert yingshe.is_grad_enabled()

    @yingshe.no_grad()
    def boom():
        raise ValueError("x")

    with pytest.raises(ValueError):
        boom()
    assert yingshe.is_grad_enabled()


def test_inference_mode():
    x = yingshe.ones(2, requires_grad=True)
    with yingshe.inference_mode():
        assert not (x * 2).requires_grad
    with yingshe.inference_mode(False):
        assert (x * 2).requires_grad


# ---- detach, retain_grad, hooks ---------------------------------------------------------------

def test_detach_shares_memory_and_cuts_the_tape():
    x = yingshe.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    assert np.shares_memory(d.numpy(), y.detach().numpy())
    z = (y * d).sum()  # d is a constant
    z.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * d.numpy())


def test_detach_shares_the_version_counter():
    torch = import_torch()
    x, tx = _pair([1.0, 2.0])
    for v in (x, tx):
        y = v * 1.0
        z = y * y  # saves y
        y.detach().add_(1.0)  # changes y's data in place behind autograd's back
        with pytest.raises(RuntimeError):
            z.sum().backward()


def test_retain_grad_on_non_leaf():
    x, tx = _pair([1.0, 2.0, 3.0])
    y, ty = x * x, tx * tx
    y.retain_grad()
    ty.retain_grad()
    assert y.retains_grad
    (y * 3.0).sum().backward()
    (ty * 3.0).sum().backward()
    _close(y.grad, ty.grad)
    _close(x.grad, tx.grad)
    w = x * 2
    (w * 1.0).sum().backward()
    assert w.grad is None  # not retained


def test_hooks_on_leaf_and_non_leaf_modify_gradients():
    x, tx = _pair([1.0, -1.0, 2.0])
    seen = []
    for v in (x, tx):
        h1 = v.register_hook(lambda g: g * 10)
        y = v * v
        h2 = y.register_hook(lambda g: seen.append(g) or g + 1)
        y.sum().backward()
        h1.remove()
        h2.remove()
        y = v * v
        y.sum().backward()  # hooks removed: plain gradient accumulates
    _close(x.grad, tx.grad)
    # seen the non-leaf gradient before modification, twice (yingshe and torch)
    assert len(seen) == 2
    _close(seen[0], seen[1])


def test_hook_returning_none_keeps_gradient_and_sees_it():
    x = yingshe.tensor([2.0], requires_grad=True)
    got = []
    x.register_hook(lambda g: got.append(g.numpy().copy()))
    (x * 5.0).sum().backward()
    assert got[0].tolist() == [5.0] and x.grad.numpy().tolist() == [5.0]


def test_register_hook_needs_grad():
    with pytest.raises(RuntimeError):
        yingshe.ones(2).register_hook(lambda g: g)


# ---- autograd.grad ----------------------------------------------------------------------------

def test_grad_with_grad_outputs():
    torch = import_torch()
    x, tx = _pair([[1.0, 2.0], [0.5, -1.0]])
    go = np.array([[1.0, 0.0], [2.0, -3.0]])
    (g,) = yingshe.autograd.grad(x * x * x, x, grad_outputs=yingshe.tensor(go))
    (tg,) = torch.autograd.grad(tx * tx * tx, tx, grad_outputs=torch.tensor(go))
    _close(g, tg)
    assert x.grad is None, "grad() must not accumulate into .grad"
    assert not g.requires_grad


def test_third_order_derivative_matches_analytic():
    # f(x) = x^4 + 2 x^3 * sin-free polynomial: f''' = 24 x + 12
    x0 = np.array([0.7, -1.3, 2.0])
    x = yingshe.tensor(x0, requires_grad=True)
    f = (x * x * x * x + 2.0 * x * x * x).sum()
    (d1,) = yingshe.autograd.grad(f, x, create_graph=True)
    np.testing.assert_allclose(d1.detach().numpy(), 4 * x0 ** 3 + 6 * x0 ** 2)
    (d2,) = yingshe.autograd.grad(d1.sum(), x, create_graph=True)
    np.testing.assert_allclose(d2.detach().numpy(), 12 * x0 ** 2 + 12 * x0)
    (d3,) = yingshe.autograd.grad(d2.sum(), x)
    np.testing.assert_allclose(d3.numpy(), 24 * x0 + 12)


def test_higher_order_through_division_matches_torch():
    torch = import_torch()
    x, tx = _pair([0.5, 1.5, 3.0])
    res = []
    for v, m in ((x, yingshe), (tx, torch)):
        f = (1.0 / (v * v + 1.0)).sum()
        (d1,) = m.autograd.grad(f, v, create_graph=True)
        (d2,) = m.autograd.grad(d1.sum(), v, create_graph=True)
        (d3,) = m.autograd.grad(d2.sum(), v)
        res.append((d1, d2, d3))
    for a, b in zip(*res):
        _close(a, b, rtol=1e-10)


def test_grad_allow_unused():
    torch = import_torch()
    x, tx = _pair([1.0])
    z, tz = _pair([2.0])
    with pytest.raises(RuntimeError):
        yingshe.autograd.grad((x * 2).sum(), [x, z])
    with pytest.raises(RuntimeError):
        torch.autograd.grad((tx * 2).sum(), [tx, tz])
    gx, gz = yingshe.autograd.grad((x * 2).sum(), [x, z], allow_unused=True)
    tgx, tgz = torch.autograd.grad((tx * 2).sum(), [tx, tz], allow_unused=True)
    assert gz is None and tgz is None
    _close(gx, tgx)
    _, gz = yingshe.autograd.grad((x * 2).sum(), [x, z], materialize_grads=True)
    assert gz.numpy().tolist() == [0.0]


def test_grad_of_non_leaf_input_and_multiple_outputs():
    torch = import_torch()
    x, tx = _pair([1.0, 2.0])
    outs = []
    for v, m in ((x, yingshe), (tx, torch)):
        h = v * 3.0
        a = (h * h).sum()
        b = (h * v).sum()
        outs.append(m.autograd.grad([a, b], [h, v]))
    for a, b in zip(*outs):
        _close(a, b)


def test_backward_inputs_argument():
    torch = import_torch()
    x, tx = _pair([1.0, 2.0])
    w, tw = _pair([3.0, 4.0])
    (x * w).sum().backward(inputs=[x])
    (tx * tw).sum().backward(inputs=[tx])
    _close(x.grad, tx.grad)
    assert w.grad is None and tw.grad is None


# ---- autograd.Function --------------------------------------------------------------------------

class Cube(yingshe.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3.0 * x * x


def test_function_forward_backward_and_double_backward():
    x0 = np.array([0.5, -2.0, 1.5])
    x = yingshe.tensor(x0, requires_grad=True)
    y = Cube.apply(x)
    assert y.grad_fn is not None and "Cube" in y.grad_fn.name()
    (d1,) = yingshe.autograd.grad(y.sum(), x, create_graph=True)
    np.testing.assert_allclose(d1.detach().numpy(), 3 * x0 ** 2)
    (d2,) = yingshe.autograd.grad(d1.sum(), x)
    np.testing.assert_allclose(d2.numpy(), 6 * x0)


class MulScaleOut(yingshe.autograd.Function):
    """(a * b, a + s): two outputs, a non-tensor argument, needs_input_grad."""

    seen_needs = None

    @staticmethod
    def forward(ctx, a, b, s):
        MulScaleOut.seen_needs = ctx.needs_input_grad
        ctx.save_for_backward(a, b)
        return a * b, a + s

    @staticmethod
    def backward(ctx, g1, g2):
        a, b = ctx.saved_tensors
        ga = g1 * b + g2 if ctx.needs_input_grad[0] else None
        gb = g1 * a if ctx.needs_input_grad[1] else None
        return ga, gb, None


def test_function_multiple_outputs_and_needs_input_grad():
    torch = import_torch()
    a, ta = _pair([1.0, 2.0])
    b, tb = _pair([3.0, -1.0], requires_grad=False)
    p, q = MulScaleOut.apply(a, b, 5.0)
    assert MulScaleOut.seen_needs == (True, False, False)
    (p * 2.0 + q * q).sum().backward()
    tp, tq = ta * tb, ta + 5.0
    (tp * 2.0 + tq * tq).sum().backward()
    _close(a.grad, ta.grad)
    # only one output used: the other's gradient is materialised as zeros
    a2 = yingshe.tensor([1.0, 2.0], requires_grad=True)
    p2, _ = MulScaleOut.apply(a2, b, 5.0)
    p2.sum().backward()
    np.testing.assert_allclose(a2.grad.numpy(), b.numpy())


class ArgMaxAndValue(yingshe.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        idx = yingshe.tensor(np.argmax(x.numpy(force=True)))
        ctx.mark_non_differentiable(idx)
        ctx.save_for_backward(x)
        return x * 2.0, idx

    @staticmethod
    def backward(ctx, g, g_idx):
        return g * 2.0


def test_function_mark_non_differentiable():
    x = yingshe.tensor([1.0, 5.0, 2.0], requires_grad=True)
    y, idx = ArgMaxAndValue.apply(x)
    assert y.requires_grad and not idx.requires_grad and idx.item() == 1
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0, 2.0])


def test_function_saved_tensor_modified_in_place_raises():
    x = yingshe.tensor([1.0, 2.0], requires_grad=True)
    h = x * 1.0
    y = Cube.apply(h)
    h.add_(1.0)
    with pytest.raises(RuntimeError, match="in-place"):
        y.sum().backward()


def test_function_wrong_number_of_gradients():
    class Bad(yingshe.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, g):
            return g

    a = yingshe.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="expected 2"):
        Bad.apply(a, yingshe.ones(2)).sum().backward()


# ---- long chains --------------------------------------------------------------------------------

def test_twenty_thousand_op_chain_backward():
    x = yingshe.tensor(1.0, dtype=yingshe.float64, requires_grad=True)
    y = x
    for _ in range(20000):
        y = y * 1.0001
    y.backward()
    np.testing.assert_allclose(x.grad.item(), 1.0001 ** 20000, rtol=1e-9)


def test_long_chain_grad_and_create_graph():
    x = yingshe.tensor(0.5, dtype=yingshe.float64, requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0001 + 0.0
    (d1,) = yingshe.autograd.grad(y * y, x, create_graph=True)
    (d2,) = yingshe.autograd.grad(d1, x)
    c = 1.0001 ** 5000
    np.testing.assert_allclose(d1.item(), 2 * c * c * 0.5, rtol=1e-9)
    np.testing.assert_allclose(d2.item(), 2 * c * c, rtol=1e-9)


def test_diamond_graph_gradients_sum():
    torch = import_torch()
    x, tx = _pair([1.0, 2.0])
    res = []
    for v in (x, tx):
        a = v * 2.0
        b = a * a
        c = a * 3.0
        ((b + c) * a).sum().backward()
        res.append(v.grad)
    _close(*res)


# ---- in-place rules -----------------------------------------------------------------------------

def test_inplace_on_leaf_requiring_grad_raises():
    torch = import_torch()
    for m in (yingshe, torch):
        w = m.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError, match="leaf"):
            w.add_(1.0)
        with pytest.raises(RuntimeError):
            w += 1.0
        with m.no_grad():
            w.add_(1.0)  # allowed without recording
        assert w.detach().numpy().tolist() == [2.0, 2.0, 2.0]


def test_modifying_a_saved_tensor_raises_at_backward():
    torch = import_torch()
    for m in (yingshe, torch):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        a = x * 2.0
        b = a * a  # saves a
        a.mul_(3.0)
        with pytest.raises(RuntimeError, match="in-place|inplace"):
            b.sum().backward()


def test_modifying_an_unsaved_tensor_is_fine():
    torch = import_torch()
    res = []
    for m in (yingshe, torch):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        a = x * 2.0
        b = a + 1.0  # add saves nothing
        a.add_(5.0)
        (b * 1.0).sum().backward()
        res.append(x.grad)
    _close(*res)


INPLACE_CHAINS = {
    "add_": lambda a, o: a.add_(o, alpha=2.0),
    "sub_": lambda a, o: a.sub_(o),
    "mul_": lambda a, o: a.mul_(o),
    "div_": lambda a, o: a.div_(o * o + 1.0),
    "iadd": lambda a, o: a.__iadd__(o),
    "imul": lambda a, o: a.__imul__(o),
    "itruediv": lambda a, o: a.__itruediv__(o + 3.0),
    "copy_": lambda a, o: a.copy_(o * 3.0),
    "fill_": lambda a, o: a.fill_(2.5),
    "zero_": lambda a, o: a.zero_(),
    "neg_": lambda a, o: a.neg_(),
    "pow_": lambda a, o: a.pow_(3),
    "exp_": lambda a, o: a.mul_(0.1).exp_(),
    "clamp_": lambda a, o: a.clamp_(0.5, 2.0),
    "masked_fill_": lambda a, o: a.masked_fill_(o > 0, 1.0),
    "chain": lambda a, o: a.add_(o).mul_(o).sub_(1.0),
}


@pytest.mark.parametrize("name", sorted(INPLACE_CHAINS))
def test_inplace_on_non_leaf_gives_torch_gradients(name):
    torch = import_torch()
    x, tx = _pair([[1.0, -2.0], [0.5, 3.0]])
    o, to = _pair([0.25, -1.5])
    upd = INPLACE_CHAINS[name]
    res = []
    for v, w in ((x, o), (tx, to)):
        a = v * v  # non-leaf with history
        r = upd(a, w)
        assert r is a
        loss = (a * a).sum() + (v * w).sum()
        loss.backward()
        res.append((a.detach(), v.grad, w.grad))
    for yv, tv in zip(*res):
        _close(yv, tv)


@pytest.mark.parametrize("fill", ["uniform_", "normal_", "bernoulli_"])
def test_random_fill_of_non_leaf_cuts_the_gradient(fill):
    torch = import_torch()
    x, tx = _pair([1.0, 2.0, 3.0])
    for v in (x, tx):
        a = v * 2.0
        getattr(a, fill)()
        assert a.requires_grad
        ((a * a).sum() + (v * v).sum()).backward()
    _close(x.grad, tx.grad)


def test_copy_into_non_leaf_sends_gradient_to_source_with_cast_and_broadcast():
    torch = import_torch()
    res = []
    for m in (yingshe, torch):
        x = m.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        src = m.tensor([0.5, -1.5], dtype=m.float64, requires_grad=True)
        a = x * 1.0
        a.copy_(src)
        (a * a * m.tensor([[1.0, 2.0], [3.0, 4.0]])).sum().backward()
        res.append((x.grad, src.grad))
    assert res[0][1].dtype is yingshe.float64
    for y, t in zip(*res):
        _close(y, t)


def test_inplace_bumps_version_and_keeps_identity():
    x = yingshe.ones(3)
    v0 = x._vc[0]
    y = x
    y += 1
    assert y is x and x._vc[0] == v0 + 1
    x.mul_(2).add_(1)
    assert x.numpy().tolist() == [5.0, 5.0, 5.0] and x._vc[0] == v0 + 3


# ---- anomaly detection --------------------------------------------------------------------------

def test_detect_anomaly_in_forward_names_op_and_line():
    x = yingshe.tensor([1.0, 0.0], requires_grad=True)
    with yingshe.autograd.detect_anomaly():
        with pytest.raises(RuntimeError) as info:
            _ = 1.0 / x
    msg = str(info.value)
    assert "div" in msg and HERE in msg


def test_detect_anomaly_in_backward_names_op_and_line():
    # (PyTorch's detect_anomaly checks NaN only; yingshe's checks NaN and Inf)
    # forward finite (1e-39 / 1e-39 = 1), backward d/db (a/b) = -a/b^2 = -1e39 -> inf in float32
    a = yingshe.tensor([1e-39], requires_grad=True)
    b = yingshe.tensor([1e-39], requires_grad=True)
    with yingshe.autograd.detect_anomaly():
        y = a / b
        assert np.isfinite(y.detach().numpy()).all()
        with pytest.raises(RuntimeError) as info:
            y.sum().backward()
    msg = str(info.value)
    assert "div" in msg and HERE in msg


def test_detect_anomaly_sqrt_backward():
    x = yingshe.tensor([0.0, 4.0], requires_grad=True)
    with yingshe.autograd.detect_anomaly():
        y = yingshe.sqrt(x)
        with pytest.raises(RuntimeError) as info:
            y.sum().backward()
    assert "sqrt" in str(info.value) and HERE in str(info.value)


def test_without_anomaly_mode_nan_passes_silently():
    x = yingshe.tensor([1.0, 0.0], requires_grad=True)
    y = 1.0 / x
    assert np.isinf(y.detach().numpy()[1])


# ---- dtypes and gradients -----------------------------------------------------------------------

def test_non_float_requires_grad_raises():
    torch = import_torch()
    for m in (yingshe, torch):
        with pytest.raises(RuntimeError, match="(?i)floating point"):
            m.tensor([1, 2], requires_grad=True)
        with pytest.raises(RuntimeError):
            m.tensor([True]).requires_grad_()


def test_integer_inputs_get_no_gradient():
    torch = import_torch()
    x, tx = _pair([1.0, 2.0])
    n = yingshe.tensor([3, 4])
    tn = torch.tensor([3, 4])
    (x * n).sum().backward()
    (tx * tn).sum().backward()
    _close(x.grad, tx.grad)
    assert n.grad is None and not n.requires_grad
    f = x * n
    assert f.dtype is yingshe.float64 and f.requires_grad
    (g,) = yingshe.autograd.grad((x.to(yingshe.float32) * 2).sum(), x)
    assert g.dtype is yingshe.float64  # gradients keep the input dtype
    i = x.long()
    assert not i.requires_grad


def test_gradient_dtype_matches_input_dtype_through_casts():
    torch = import_torch()
    x = yingshe.tensor([1.5, 2.5], dtype=yingshe.float32, requires_grad=True)
    tx = torch.tensor([1.5, 2.5], dtype=torch.float32, requires_grad=True)
    (x.double() * 3.0).sum().backward()
    (tx.double() * 3.0).sum().backward()
    assert x.grad.dtype is yingshe.float32
    _close(x.grad, tx.grad)


def test_requires_grad_flag_rules():
    x = yingshe.ones(2, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad = False
    assert y.detach().requires_grad is False
    z = yingshe.ones(2).requires_grad_()
    assert z.requires_grad and z.is_leaf
