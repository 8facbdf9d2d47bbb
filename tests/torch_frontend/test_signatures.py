"""Full signatures: every supported ``yingshe.torch`` callable that real PyTorch gives a
Python signature accepts each of PyTorch's parameter names (an argument yingshe does not
implement then raises ``NotImplementedError`` naming it, tested per case elsewhere).
Builtins without a Python signature (most of ``torch.*``'s C functions) cannot be read
this way; they are covered by the op table's calls with PyTorch's spelling."""

import importlib
import inspect

import pytest

from yingshe.testing.reference import torch as import_torch

MODULES = [("yingshe.torch", "torch"), ("yingshe.torch.nn", "torch.nn"),
           ("yingshe.torch.nn.functional", "torch.nn.functional"),
           ("yingshe.torch.nn.init", "torch.nn.init"), ("yingshe.torch.optim", "torch.optim"),
           ("yingshe.torch.optim.lr_scheduler", "torch.optim.lr_scheduler"),
           ("yingshe.torch.utils.data", "torch.utils.data")]


def _params(obj):
    try:
        return inspect.signature(obj).parameters
    except (ValueError, TypeError):
        return None


@pytest.mark.parametrize("ours, theirs", MODULES, ids=[m for _, m in MODULES])
def test_every_pytorch_parameter_name_is_accepted(ours, theirs):
    import_torch()
    mine, ref = importlib.import_module(ours), importlib.import_module(theirs)
    checked, missing = 0, []
    for name in mine.__all__:
        a, b = getattr(mine, name, None), getattr(ref, name, None)
        if not (callable(a) and callable(b)):
            continue
        pa, pb = _params(a), _params(b)
        if pa is None or pb is None:
            continue
        checked += 1
        if any(p.kind is p.VAR_KEYWORD for p in pa.values()):
            continue   # **kwargs: checked by the function itself
        lost = [n for n, p in pb.items() if n not in pa
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        if lost:
            missing.append(f"{theirs}.{name}: {lost}")
    assert checked > 0
    assert not missing, "\n".join(missing)
