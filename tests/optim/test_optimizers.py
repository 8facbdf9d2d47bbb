"""Optimizers vs PyTorch: same weights, same data, 20 steps, parameters equal."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import yingshe
from yingshe.optim import optimizer as optimizer_module
from yingshe.testing.reference import torch as import_torch
from yingshe.testing.tolerances import tol

from _optim_model import (SHAPES, batches, initial_arrays, loss_fn, make_params,
                          param_groups, run, to_numpy)

GRID = {
    "SGD": [dict(lr=0.1), dict(lr=0.1, momentum=0.9), dict(lr=0.05, momentum=0.9, dampening=0.3),
            dict(lr=0.05, momentum=0.9, nesterov=True), dict(lr=0.1, weight_decay=0.05),
            dict(lr=0.005, momentum=0.5, weight_decay=0.01, maximize=True),
            dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01, foreach=False)],
    "Adam": [dict(lr=0.05), dict(lr=0.05, amsgrad=True), dict(lr=0.05, weight_decay=0.1),
             dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, maximize=True),
             dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True, amsgrad=True),
             dict(lr=0.05, foreach=True)],
    "AdamW": [dict(lr=0.05), dict(lr=0.05, amsgrad=True, weight_decay=0.2),
              dict(lr=0.01, maximize=True)],
    "RMSprop": [dict(lr=0.01), dict(lr=0.01, centered=True), dict(lr=0.01, momentum=0.9),
                dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.1),
                dict(lr=0.002, alpha=0.9, eps=1e-4, maximize=True)],
    "Adagrad": [dict(lr=0.1), dict(lr=0.1, lr_decay=0.05), dict(lr=0.1, weight_decay=0.1),
                dict(lr=0.01, initial_accumulator_value=0.5, eps=1e-6, maximize=True)],
}
CASES = [(name, kw) for name, kws in GRID.items() for kw in kws]


def _assert_close(ours, ref, dtype, what=""):
    rtol, atol = tol("reference", dtype)
    for k in SHAPES:
        np.testing.assert_allclose(ours[k], ref[k], rtol=rtol, atol=atol, err_msg=f"{what} {k}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_matches_torch(name, kwargs, dtype):
    torch = import_torch()
    arrays, data = initial_arrays(dtype), batches(dtype)
    ours, _ = run(yingshe, getattr(yingshe.optim, name), arrays, data, kwargs)
    ref, _ = run(torch, getattr(torch.optim, name), arrays, data, kwargs)
    _assert_close(to_numpy(ours), to_numpy(ref), dtype, name)


GROUPS = [(["w1", "b1"], dict(lr=0.02)), (["w2", "b2"], {})]


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9)),
                                         ("Adam", dict(lr=0.05, weight_decay=0.01)),
                                         ("RMSprop", dict(lr=0.01, momentum=0.5)),
                                         ("Adagrad", dict(lr=0.1, lr_decay=0.1))])
def test_param_groups_and_lr_changes_match_torch(name, kwargs):
    torch = import_torch()
    arrays, data = initial_arrays(np.float64), batches(np.float64)
    ours, opt = run(yingshe, getattr(yingshe.optim, name), arrays, data, kwargs, groups=GROUPS,
                    lr_change_at=10)
    ref, topt = run(torch, getattr(torch.optim, name), arrays, data, kwargs, groups=GROUPS,
                    lr_change_at=10)
    _assert_close(to_numpy(ours), to_numpy(ref), np.float64)
    assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in topt.param_groups]
    assert isinstance(opt.param_groups[0]["lr"], float)


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9)),
                                         ("Adam", dict(lr=0.05, amsgrad=True)),
                                         ("AdamW", dict(lr=0.05)),
                                         ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5)),
                                         ("Adagrad", dict(lr=0.1))])
def test_state_dict_layout_matches_torch(name, kwargs):
    torch = import_torch()
    arrays, data = initial_arrays(np.float32), batches(np.float32)
    _, opt = run(yingshe, getattr(yingshe.optim, name), arrays, data, kwargs, groups=GROUPS,
                 steps=3)
    _, topt = run(torch, getattr(torch.optim, name), arrays, data, kwargs, groups=GROUPS, steps=3)
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert sd["state"].keys() == tsd["state"].keys()
    for i, st in sd["state"].items():
        assert st.keys() == tsd["state"][i].keys()
        for key, v in st.items():
            tv = tsd["state"][i][key]
            assert v.shape == tuple(tv.shape) and v.dtype.name == str(tv.dtype).split(".")[1]
            np.testing.assert_allclose(v.numpy(), tv.numpy(), rtol=1e-5, atol=1e-6)
    for g, tg in zip(sd["param_groups"], tsd["param_groups"]):
        assert g["params"] == tg["params"]
        extra = set(g) - set(tg)
        assert extra <= {"variant"}, extra
        for k in tg:
            assert g[k] == tg[k], k


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
                                         ("Adam", dict(lr=0.05, amsgrad=True)),
                                         ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5)),
                                         ("Adagrad", dict(lr=0.1, lr_decay=0.01))])
def test_state_dict_round_trip_continues_identically(name, kwargs):
    arrays, data = initial_arrays(np.float64), batches(np.float64)
    cls = getattr(yingshe.optim, name)
    straight, _ = run(yingshe, cls, arrays, data, kwargs, groups=GROUPS)

    saved = {}

    def snapshot(i, params, opt):
        if i == 9:
            saved["params"] = to_numpy(params)
            saved["opt"] = opt.state_dict()
            saved["opt_copy"] = copy.deepcopy(opt.state_dict())

    run(yingshe, cls, arrays, data, kwargs, groups=GROUPS, steps=10, hook=snapshot)
    params = make_params(yingshe, saved["params"])
    fresh_kwargs = dict(kwargs, lr=1.0)  # load_state_dict restores the saved hyper-parameters
    opt = cls(param_groups(params, [(n, {}) for n, _ in GROUPS]), **fresh_kwargs)
    opt.load_state_dict(saved["opt"])
    for x, y in data[10:20]:
        opt.zero_grad()
        loss_fn(params, yingshe.tensor(x), yingshe.tensor(y)).backward()
        opt.step()
    for k in SHAPES:
        np.testing.assert_array_equal(to_numpy(params)[k], to_numpy(straight)[k])
    # values were copied: the saved dict did not move with the new optimizer
    for i, st in saved["opt"]["state"].items():
        for key, v in st.items():
            np.testing.assert_array_equal(v.numpy(), saved["opt_copy"]["state"][i][key].numpy())


def test_load_state_dict_validates_groups():
    p = [yingshe.tensor(np.ones(3), requires_grad=True),
         yingshe.tensor(np.ones(2), requires_grad=True)]
    opt = yingshe.optim.SGD(p, lr=0.1)
    other = yingshe.optim.SGD([{"params": [p[0]]}, {"params": [p[1]]}], lr=0.1)
    with pytest.raises(ValueError, match="number of parameter groups"):
        opt.load_state_dict(other.state_dict())
    small = yingshe.optim.SGD([p[0]], lr=0.1)
    with pytest.raises(ValueError, match="size of optimizer's group"):
        opt.load_state_dict(small.state_dict())


def test_step_state_is_lazy_float32_tensor_and_closure():
    torch = import_torch()
    w = yingshe.tensor(np.array([1.0, -2.0]), requires_grad=True)
    opt = yingshe.optim.Adam([w], lr=0.1)
    assert len(opt.state) == 0
    calls = []

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        calls.append(1)
        return loss

    loss = opt.step(closure)
    assert calls == [1] and float(loss) == 5.0
    step = opt.state[w]["step"]
    assert step.shape == () and step.dtype == yingshe.float32 and float(step) == 1.0
    tw = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    topt = torch.optim.Adam([tw], lr=0.1)

    def tclosure():
        topt.zero_grad()
        loss = (tw * tw).sum()
        loss.backward()
        return loss

    topt.step(tclosure)
    np.testing.assert_allclose(w.detach().numpy(), tw.detach().numpy(), rtol=1e-12)


def test_zero_grad_and_params_without_grad():
    a = yingshe.tensor(np.ones(3), requires_grad=True)
    b = yingshe.tensor(np.ones(2), requires_grad=True)
    opt = yingshe.optim.SGD([a, b], lr=0.5, momentum=0.9)
    (a * 2.0).sum().backward()
    opt.step()
    np.testing.assert_array_equal(a.detach().numpy(), np.zeros(3))
    np.testing.assert_array_equal(b.detach().numpy(), np.ones(2))  # no grad: untouched
    assert b not in opt.state or not opt.state[b]
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(a.grad.numpy(), np.zeros(3))
    opt.zero_grad()
    assert a.grad is None


def test_add_param_group_and_validation():
    a = yingshe.tensor(np.ones(3), requires_grad=True)
    b = yingshe.tensor(np.ones(2), requires_grad=True)
    opt = yingshe.optim.Adam([a], lr=0.1)
    opt.add_param_group({"params": b, "lr": 0.01})
    assert opt.param_groups[1]["lr"] == 0.01 and opt.param_groups[1]["betas"] == (0.9, 0.999)
    assert opt.defaults["lr"] == 0.1
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match="non-leaf"):
        yingshe.optim.SGD([a * 2.0], lr=0.1)
    with pytest.raises(TypeError):
        yingshe.optim.SGD(a, lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        yingshe.optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="Invalid learning rate"):
        yingshe.optim.Adam([a], lr=-1.0)
    with pytest.raises(ValueError, match="Nesterov"):
        yingshe.optim.SGD([a], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="variant"):
        yingshe.optim.RMSprop([a], variant="caffe")


@pytest.mark.parametrize("cls,arg", [
    ("SGD", "differentiable"), ("Adam", "capturable"),
    ("Adam", "differentiable"), ("AdamW", "capturable"),
    ("RMSprop", "capturable"), ("RMSprop", "differentiable"), ("Adagrad", "differentiable")])
def test_unsupported_arguments_raise(cls, arg):
    a = yingshe.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(NotImplementedError, match=arg):
        getattr(yingshe.optim, cls)([a], lr=0.1, **{arg: True})


def test_named_parameters_are_accepted():
    torch = import_torch()
    a = yingshe.tensor(np.ones(3), requires_grad=True)
    opt = yingshe.optim.SGD([("a", a)], lr=0.1)
    ta = torch.ones(3, requires_grad=True)
    topt = torch.optim.SGD([("a", ta)], lr=0.1)
    assert opt.param_groups[0]["param_names"] == topt.param_groups[0]["param_names"]
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["a"]


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_tensor_kernel_equals_numpy_kernel(name, kwargs, monkeypatch):
    """The traceable kernel (yingshe ops + commit) gives the NumPy kernel's numbers."""
    arrays, data = initial_arrays(np.float64), batches(np.float64)
    cls = getattr(yingshe.optim, name)
    fast, _ = run(yingshe, cls, arrays, data, kwargs)
    monkeypatch.setattr(optimizer_module, "_FORCE_TENSOR_KERNEL", [True])
    slow, _ = run(yingshe, cls, arrays, data, kwargs)
    rtol, atol = tol("graph", np.float64)
    for k in SHAPES:
        np.testing.assert_allclose(to_numpy(slow)[k], to_numpy(fast)[k], rtol=rtol, atol=atol)


def test_step_bumps_parameter_version():
    """An optimizer step is an in-place change: a graph that saved the old value fails."""
    w = yingshe.tensor(np.array([1.0, 2.0]), requires_grad=True)
    opt = yingshe.optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    y = (w * w).sum()
    opt.step()
    with pytest.raises(RuntimeError):
        y.backward()
