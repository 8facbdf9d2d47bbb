"""Programs that make mistakes: the exception class that PyTorch raises (PyTorch)."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def caught(name, fn, expected):
    """Run fn; print the class (from PyTorch's documented ones) that caught the error."""
    try:
        fn()
    except expected as err:
        print(f"# {name}: {type(err).__name__}: {err}")
        print("RESULT", name, expected.__name__, "text")
        return
    except Exception as err:  # noqa: BLE001 - report what was raised instead
        print("RESULT", name, "unexpected", type(err).__name__, "text")
        return
    print("RESULT", name, "no_error", "text")


torch.manual_seed(0)
model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
x_bad = torch.randn(5, 6)
caught("linear_in_features", lambda: model(x_bad), RuntimeError)
caught("mm_shapes", lambda: torch.mm(torch.ones(2, 3), torch.ones(2, 3)), RuntimeError)
caught("add_broadcast", lambda: torch.ones(2, 3) + torch.ones(4), RuntimeError)
caught("view_bad_size", lambda: torch.arange(6).view(4, 2), RuntimeError)
caught("cat_mismatch", lambda: torch.cat([torch.ones(2, 3), torch.ones(2, 4)], dim=0), RuntimeError)
caught("cross_entropy_class_out_of_range",
       lambda: F.cross_entropy(torch.zeros(3, 4), torch.tensor([0, 1, 4])), IndexError)
caught("dim_out_of_range", lambda: torch.ones(2, 3).sum(dim=2), IndexError)
caught("index_out_of_range", lambda: torch.ones(3)[5], IndexError)
caught("bce_size_mismatch", lambda: nn.BCELoss()(torch.full((4, 1), 0.5), torch.ones(4)), ValueError)
caught("item_of_many", lambda: torch.ones(3).item(), RuntimeError)
caught("backward_twice", lambda: [y.backward() for y in [(torch.ones(2, requires_grad=True).exp().sum(),) * 2][0]], RuntimeError)
caught("grad_of_int", lambda: torch.tensor([1, 2]).requires_grad_(), RuntimeError)
