"""The audit of issue 14: every top-level function listed in docs/torch_supported.md that
PyTorch also has as a ``Tensor`` method exists as a yingshe ``Tensor`` method too, and so
does its in-place ``_`` form wherever PyTorch has one. Real PyTorch says which methods
exist (``hasattr(torch.Tensor, name)``), so the audit follows PyTorch and the docs
without a list of its own to go stale."""

import os
import re

import yingshe
import yingshe.torch as ytorch
from yingshe.testing.reference import torch as import_torch

_DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "torch_supported.md")


def _top_level_functions() -> list[str]:
    with open(_DOC, encoding="utf-8") as fh:
        text = fh.read()
    section = re.search(r"^## `torch` \(\d+ names\)\n(.*?)(?=^## )", text, re.M | re.S)
    assert section is not None, "docs/torch_supported.md has no `torch` section"
    names = re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", section.group(1))
    return [n for n in names if callable(getattr(ytorch, n, None))
            and not isinstance(getattr(ytorch, n), type)
            and type(getattr(ytorch, n)).__name__ != "module"]


def test_the_audit_reads_the_documented_functions():
    names = _top_level_functions()
    # a guard for the parser: the section lists hundreds of names, these among them
    assert len(names) > 150
    assert {"add", "sum", "matmul", "nansum", "hypot", "select"} <= set(names)


def test_every_documented_function_pytorch_has_as_a_method_is_a_method_here():
    torch = import_torch()
    missing = [n for n in _top_level_functions()
               if hasattr(torch.Tensor, n) and not hasattr(yingshe.Tensor, n)]
    assert missing == [], f"Tensor methods PyTorch has and yingshe lacks: {missing}"


def test_and_their_in_place_forms_where_pytorch_has_them():
    torch = import_torch()
    missing = [n + "_" for n in _top_level_functions()
               if hasattr(torch.Tensor, n + "_") and not hasattr(yingshe.Tensor, n + "_")]
    assert missing == [], f"in-place Tensor methods PyTorch has and yingshe lacks: {missing}"


def test_in_place_activation_methods_pytorch_has_exist_here():
    # relu_, sigmoid_, tanh_ ... : every activation of torch.nn.functional that yingshe
    # has, whose in-place form PyTorch offers as a Tensor method or a functional
    torch = import_torch()
    import yingshe.nn.functional as F
    acts = ["relu", "relu6", "leaky_relu", "elu", "selu", "celu", "softplus", "softsign",
            "sigmoid", "tanh", "silu", "mish", "hardtanh", "hardsigmoid", "hardswish",
            "logsigmoid", "tanhshrink", "softshrink", "hardshrink", "threshold", "gelu"]
    methods = [a + "_" for a in acts if hasattr(torch.Tensor, a + "_")]
    functionals = [a + "_" for a in acts if hasattr(torch.nn.functional, a + "_")
                   and hasattr(F, a)]
    assert {"relu_", "sigmoid_", "tanh_"} <= set(methods)
    assert [m for m in methods if not hasattr(yingshe.Tensor, m)] == []
    assert [f for f in functionals if not hasattr(F, f)] == []
