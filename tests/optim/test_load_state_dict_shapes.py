"""Optimizer state of the wrong shape (issue 14 item 16): refused by ``load_state_dict``,
naming the parameter, where PyTorch accepts it and fails later inside ``step()``."""

import numpy as np
import pytest

import yingshe
from yingshe.errors import ShapeError
from yingshe.testing.reference import torch as import_torch

_OPTIMIZERS = {
    "SGD-momentum": lambda m, p: m.optim.SGD(p, lr=0.1, momentum=0.9),
    "Adam": lambda m, p: m.optim.Adam(p),
    "Adam-amsgrad": lambda m, p: m.optim.Adam(p, amsgrad=True),
    "AdamW": lambda m, p: m.optim.AdamW(p),
    "Adagrad": lambda m, p: m.optim.Adagrad(p),
    "RMSprop-centered": lambda m, p: m.optim.RMSprop(p, centered=True, momentum=0.5),
}


def _trained_state(m, name, in_features):
    m.manual_seed(0)
    model = m.nn.Linear(in_features, 2)
    opt = _OPTIMIZERS[name](m, model.parameters())
    model(m.ones(1, in_features)).sum().backward()
    opt.step()
    return opt.state_dict()


@pytest.mark.parametrize("name", sorted(_OPTIMIZERS))
def test_state_of_another_models_shape_is_refused_at_load(name):
    torch = import_torch()
    # PyTorch loads it and fails at the next step, with a broadcasting error
    other = torch.nn.Linear(4, 2)
    opt = _OPTIMIZERS[name](torch, other.parameters())
    opt.load_state_dict(_trained_state(torch, name, 3))
    other(torch.ones(1, 4)).sum().backward()
    with pytest.raises(RuntimeError):
        opt.step()

    other = yingshe.nn.Linear(4, 2)
    opt = _OPTIMIZERS[name](yingshe, other.parameters())
    before = {id(p): {k: np.array(v.numpy()) for k, v in s.items()}
              for p, s in opt.state.items()}   # Adagrad's is made at construction
    with pytest.raises(ShapeError, match=r"state '\w+' of parameter 0 of group 0 has shape "
                                         r"\(2, 3\), but the parameter has shape \(2, 4\)"):
        opt.load_state_dict(_trained_state(yingshe, name, 3))
    # nothing was loaded: the optimizer still steps from its own state
    after = {id(p): {k: np.array(v.numpy()) for k, v in s.items()}
             for p, s in opt.state.items()}
    assert after.keys() == before.keys()
    for p in before:
        assert after[p].keys() == before[p].keys()
        for k in before[p]:
            np.testing.assert_array_equal(after[p][k], before[p][k])
    other(yingshe.ones(1, 4)).sum().backward()
    opt.step()


def test_the_refusal_names_a_named_parameter():
    model = yingshe.nn.Sequential(yingshe.nn.Linear(4, 2))
    opt = yingshe.optim.Adam(model.named_parameters())
    with pytest.raises(ShapeError, match="parameter '0.weight' of group 0"):
        opt.load_state_dict(_trained_state(yingshe, "Adam", 3))


def test_scalar_state_entries_are_not_shape_checked():
    # 'step' is a 0-d tensor whatever the parameter's shape; a matching state loads
    model = yingshe.nn.Linear(3, 2)
    opt = yingshe.optim.Adam(model.parameters())
    opt.load_state_dict(_trained_state(yingshe, "Adam", 3))
    assert {tuple(s["exp_avg"].shape) for s in opt.state.values()} == {(2, 3), (2,)}
    np.testing.assert_array_equal([float(s["step"]) for s in opt.state.values()], [1.0, 1.0])


def test_state_of_another_dtype_takes_the_parameters_dtype_like_torch():
    torch = import_torch()
    grads = []
    for m in (yingshe, torch):
        model = m.nn.Linear(3, 2)
        sd = _trained_state(m, "Adam", 3)
        for s in sd["state"].values():
            s["exp_avg"] = m.tensor(np.ones(tuple(s["exp_avg"].shape), dtype=np.int64))
        opt = m.optim.Adam(model.parameters())
        opt.load_state_dict(sd)
        assert {str(s["exp_avg"].dtype).split(".")[-1] for s in opt.state.values()} == {
            "float32"}
        model(m.ones(1, 3)).sum().backward()
        opt.step()
        grads.append(sorted(float(s["exp_avg"].sum()) for s in opt.state.values()))
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-6)


def test_state_that_is_not_a_tensor_is_refused_at_load():
    sd = _trained_state(yingshe, "Adam", 3)
    sd["state"][0]["exp_avg"] = "junk"
    opt = yingshe.optim.Adam(yingshe.nn.Linear(3, 2).parameters())
    with pytest.raises(TypeError, match="'exp_avg' of parameter 0 of group 0 is a str"):
        opt.load_state_dict(sd)
