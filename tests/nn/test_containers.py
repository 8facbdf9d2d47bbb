"""Containers against PyTorch: Sequential, ModuleList, ModuleDict, ParameterList/Dict."""

from collections import OrderedDict

import numpy as np
import pytest

import yingshe
from yingshe import nn


def _layers(n):
    return [n.Linear(2, 3), n.ReLU(), n.Linear(3, 4), n.Tanh(), n.Linear(4, 1)]


def test_sequential_indexing_slicing_len_iter(torch):
    y, t = nn.Sequential(*_layers(nn)), torch.nn.Sequential(*_layers(torch.nn))
    assert len(y) == len(t) == 5
    assert type(y[1]).__name__ == "ReLU" and type(y[-1]).__name__ == "Linear"
    assert repr(y[1:4]) == repr(t[1:4]) and isinstance(y[1:4], nn.Sequential)
    assert repr(y[::2]) == repr(t[::2])
    assert [type(m).__name__ for m in y] == [type(m).__name__ for m in t]
    with pytest.raises(IndexError):
        y[5]
    y.append(nn.Sigmoid()), t.append(torch.nn.Sigmoid())
    assert repr(y) == repr(t)
    del y[1], t[1]
    assert repr(y) == repr(t) and list(y.state_dict()) == list(t.state_dict())
    y.insert(1, nn.ELU()), t.insert(1, torch.nn.ELU())
    assert repr(y) == repr(t)
    y[0] = nn.Linear(2, 3, bias=False)
    t[0] = torch.nn.Linear(2, 3, bias=False)
    assert repr(y) == repr(t)
    assert type(y.pop(1)).__name__ == type(t.pop(1)).__name__
    assert repr(y) == repr(t)
    y.extend([nn.ReLU()]), t.extend([torch.nn.ReLU()])
    assert repr(y) == repr(t)


def test_sequential_from_ordered_dict_and_forward(torch):
    y = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    t = torch.nn.Sequential(OrderedDict([("fc", torch.nn.Linear(2, 2)), ("act", torch.nn.ReLU())]))
    assert repr(y) == repr(t) and list(y.state_dict()) == list(t.state_dict())
    assert y.fc is y[0]
    x = np.ones((3, 2), np.float32)
    t.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in y.state_dict().items()})
    np.testing.assert_allclose(y(yingshe.tensor(x)).detach().numpy(),
                               t(torch.tensor(x)).detach().numpy(), rtol=1e-6)
    assert repr(y + y) == repr(t + t)


def test_module_list(torch):
    y = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    t = torch.nn.ModuleList([torch.nn.Linear(2, 2) for _ in range(3)])
    y.append(nn.ReLU()), t.append(torch.nn.ReLU())
    y.extend([nn.Tanh()]), t.extend([torch.nn.Tanh()])
    y.insert(0, nn.Sigmoid()), t.insert(0, torch.nn.Sigmoid())
    assert repr(y) == repr(t) and len(y) == len(t) == 6
    assert list(y.state_dict()) == list(t.state_dict())
    assert repr(y[1:3]) == repr(t[1:3]) and isinstance(y[1:3], nn.ModuleList)
    assert y[-1] is list(y)[-1]
    del y[0], t[0]
    assert repr(y) == repr(t) and list(y.state_dict()) == list(t.state_dict())
    y += [nn.ReLU()]
    t += [torch.nn.ReLU()]
    assert repr(y) == repr(t)
    assert len(list(y.parameters())) == 6
    with pytest.raises(IndexError):
        y[10]


def test_module_dict(torch):
    y = nn.ModuleDict({"a": nn.Linear(1, 2), "b": nn.ReLU()})
    t = torch.nn.ModuleDict({"a": torch.nn.Linear(1, 2), "b": torch.nn.ReLU()})
    y["c"] = nn.Tanh()
    t["c"] = torch.nn.Tanh()
    y.update([("d", nn.Identity())]), t.update([("d", torch.nn.Identity())])
    assert repr(y) == repr(t) and list(y.keys()) == list(t.keys()) == ["a", "b", "c", "d"]
    assert "a" in y and len(y) == 4 and list(y) == ["a", "b", "c", "d"]
    assert type(y.pop("b")).__name__ == "ReLU" and "b" not in y
    assert list(y.state_dict()) == ["a.weight", "a.bias"]


def test_parameter_list_and_dict(torch):
    pl = nn.ParameterList([nn.Parameter(yingshe.tensor(np.zeros((2, 3), np.float32))),
                           yingshe.tensor(np.ones(4, np.float32))])
    tl = torch.nn.ParameterList([torch.nn.Parameter(torch.zeros(2, 3)), torch.ones(4)])
    assert list(pl.state_dict()) == list(tl.state_dict()) == ["0", "1"]
    assert len(pl) == 2 and isinstance(pl[1], nn.Parameter) and pl[1].requires_grad
    pd = nn.ParameterDict({"w": yingshe.tensor(np.zeros(2, np.float32))})
    assert list(pd.state_dict()) == ["w"] and isinstance(pd["w"], nn.Parameter)
    m = nn.Module()
    m.pl = pl
    assert [k for k, _ in m.named_parameters()] == ["pl.0", "pl.1"]
