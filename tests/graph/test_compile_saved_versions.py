"""Eager's saved-tensor version check holds inside ``yingshe.compile``.

A traced graph is functional: after ``y = x ** 2; x.add_(1)`` the pow node still reads
the old ``x``, so a compiled gradient would be computed where eager code raises
"modified by an in-place operation" (found by the fuzz suite: compiled succeeded where
eager raised). The oracle is eager yingshe on the same program: both raise, or both
succeed with equal gradients; for both placements of the backward (inside the compiled
function, and eager ``backward()`` through a compiled forward).
"""

from __future__ import annotations

import numpy as np
import pytest

import yingshe as Y
from yingshe.testing.tolerances import tol

RTOL, ATOL = tol("graph", np.float64)
MODIFIED = "modified by an in-place operation"


def pow_input_changed(a):           # the fuzz draw: pow saved x, expm1_ changed it
    x = a.clone()
    y = x ** 2
    v = x
    v.expm1_()
    return y + x


def exp_output_changed(a):          # exp saves its output
    y = a.clone().exp()
    y.add_(1)
    return y


def saved_view_base_changed(a):     # mul saved a view of x; x changed (shared version)
    x = a.clone()
    y = x[0]
    z = y * y
    x.add_(1)
    return z


def other_input_without_grad(a):    # x * c saves x only for c's gradient: none needed
    x = a.clone()
    y = x * Y.ones(a.shape, dtype=a.dtype)
    x.add_(1)
    return y


def scalar_factor(a):               # x * 2.0 saves nothing: fine in PyTorch too
    x = a.clone()
    y = x * 2.0
    x.mul_(3)
    return y + x


def change_before_use(a):           # changed before the op read it: fine
    x = a.clone()
    x.add_(1)
    return x ** 2


def off_the_gradient_path(a):       # a no-grad value read by sin, then changed
    c = Y.ones(a.shape, dtype=a.dtype)
    s = c.sin()
    c.add_(1)
    return a * s + c


def inplace_activation(a):          # selu_ reads what it overwrites (eagerly an alias):
    x = Y.nn.functional.hardsigmoid(a * 1)     # the fuzz draw, compiled raised
    Y.nn.functional.selu(x, inplace=True)
    return x.relu_() * 2


PROGRAMS = [inplace_activation, pow_input_changed, exp_output_changed, saved_view_base_changed,
            other_input_without_grad, scalar_factor, change_before_use, off_the_gradient_path]
RAISES = {pow_input_changed, exp_output_changed, saved_view_base_changed}


def _eager(prog, a):
    a = a.detach().requires_grad_()
    out = prog(a)
    (g,) = Y.autograd.grad(out.sum(), [a])
    return out.detach().numpy(), g.numpy()


def _compiled_inside(prog, a):
    def step(a):
        out = prog(a)
        return out, Y.autograd.grad(out.sum(), [a])[0]
    f = Y.compile(step)
    a = a.detach().requires_grad_()
    f(a)                            # the traced call
    out, g = f(a)                   # the cached program
    return out.detach().numpy(), g.numpy()


def _compiled_forward(prog, a):
    f = Y.compile(prog)
    a = a.detach().requires_grad_()
    out = f(a)
    out.sum().backward()
    return out.detach().numpy(), a.grad.numpy()


@pytest.mark.parametrize("run", [_compiled_inside, _compiled_forward],
                         ids=["backward-inside", "compiled-forward"])
@pytest.mark.parametrize("prog", PROGRAMS, ids=lambda p: p.__name__)
def test_compiled_gradient_raises_exactly_where_eager_does(prog, run):
    a = Y.tensor(np.random.default_rng(0).uniform(0.5, 1.5, (3, 4)))
    if prog in RAISES:
        with pytest.raises(RuntimeError, match=MODIFIED):
            _eager(prog, a)
        with pytest.raises(RuntimeError, match=MODIFIED) as info:
            run(prog, a)
        assert "test_compile_saved_versions.py" in str(info.value)   # the user's line
        return
    want_out, want_g = _eager(prog, a)
    got_out, got_g = run(prog, a)
    np.testing.assert_allclose(got_out, want_out, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(got_g, want_g, rtol=RTOL, atol=ATOL)


def test_a_compiled_forward_raises_only_when_the_backward_reaches_the_changed_tensor():
    """Two outputs, one through the changed tensor: eager backward of the other works."""
    def two(a):
        x = a.clone()
        y = x ** 2
        x.add_(1)
        return y, a * 3

    f = Y.compile(two)
    a = Y.tensor(np.ones((2, 2))).requires_grad_()
    y, z = f(a)
    z.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.full((2, 2), 3.0))
    y, z = f(a)
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.sum().backward()


def accumulate(a):                  # a tensor the function makes, updated in place
    total = Y.zeros((), dtype=a.dtype)
    for k in range(a.shape[0]):
        total += a[k].sum()
    return total * 2


def filled_then_scaled(a):
    c = Y.ones(a.shape, dtype=a.dtype)
    c.mul_(3).add_(a)
    return (c * a).sum()


def zeroed_then_written(a):         # a write that reads nothing first
    c = Y.empty(a.shape, dtype=a.dtype)
    c.zero_()
    c[0] = a[0] ** 2
    return c.sum()


@pytest.mark.parametrize("prog", [accumulate, filled_then_scaled, zeroed_then_written],
                         ids=lambda p: p.__name__)
def test_tensors_made_and_updated_in_place_by_the_function_compile(prog):
    """These ran eagerly but failed to compile ("could not settle which tensors are
    state": the tensor is a new object at each trace). Each call must start from the
    function's own fresh tensor (a tensor kept between calls would accumulate)."""
    rng = np.random.default_rng(1)
    f = Y.compile(prog)
    for _ in range(3):
        a = Y.tensor(rng.normal(size=(3, 4)))
        want, want_g = _eager(prog, a)
        x = a.detach().requires_grad_()
        out = f(x)
        out.sum().backward()
        got, got_g = out.detach().numpy(), x.grad.numpy()
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(got_g, want_g, rtol=RTOL, atol=ATOL)
    assert f.traces == 1
