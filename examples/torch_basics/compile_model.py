"""``torch.compile(model)`` (real PyTorch): the same MLP compiled for inference and for
training. Compiled results must equal eager ones (from the same weights), a compiled
function (``@torch.compile``) must too, and a compiled model must train like the eager
one. (On yingshe, a forward whose output needs ``backward()`` may run eagerly: that is
``torch.compile``'s graph-break behaviour and gives the same numbers.)
"""
import warnings

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F
from sklearn.datasets import load_digits


def report(name, values, mode="exact", **tol):
    vals = np.asarray(values, dtype=np.float64).ravel()
    opts = " ".join(f"{k}={v}" for k, v in tol.items())
    print("RESULT", name, " ".join(repr(float(v)) for v in vals), mode, opts)


warnings.simplefilter("ignore")          # graph-break notices are not part of the result
digits = load_digits()
X = torch.from_numpy((digits.data[:512] / 16.0).astype(np.float32))
y = torch.from_numpy(digits.target[:512].astype(np.int64))


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))

    def forward(self, x):
        return self.net(x)


def fixed_model(seed):
    model = MLP()
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.from_numpy((0.2 * rng.standard_normal(tuple(p.shape))).astype(np.float32)))
    return model


# ---- inference ---------------------------------------------------------------------------------
eager = fixed_model(0)
compiled = torch.compile(fixed_model(0))
eager.eval()
compiled.eval()
with torch.no_grad():
    out_e = eager(X)
    out_c = compiled(X)
report("inference_logits", out_c.numpy()[:8])
report("inference_equal_eager", [torch.allclose(out_e, out_c, rtol=1e-5, atol=1e-6)])
report("inference_accuracy_fixed", [(out_c.argmax(1) == y).float().mean().item()])
report("state_dict_keys_kept", [len(compiled.state_dict()), len(eager.state_dict())])


@torch.compile(backend="aot_eager")      # a lighter backend: same semantics, faster to build
def softmax_xent(logits, target):
    return F.cross_entropy(logits, target)


with torch.no_grad():
    report("compiled_function", [softmax_xent(out_e, y).item(), F.cross_entropy(out_e, y).item()])

# ---- training ------------------------------------------------------------------------------------
def train(model, steps):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


losses_e = train(eager, 30)
losses_c = train(compiled, 30)
report("train_losses_compiled", losses_c[::5], rtol=1e-4, atol=1e-6)
report("train_compiled_matches_eager", [float(np.max(np.abs(np.array(losses_e) - np.array(losses_c))))
                                        < 1e-4])
with torch.no_grad():
    report("weights_after_training_equal", [torch.allclose(eager.net[0].weight, compiled.net[0].weight,
                                                           rtol=1e-4, atol=1e-6)])

# a compiled model with the framework's own random weights
torch.manual_seed(0)
model = torch.compile(MLP(), backend="aot_eager")
losses = train(model, 150)
with torch.no_grad():
    model.eval()
    report("train_accuracy_random_init", [(model(X).argmax(1) == y).float().mean().item()], "accuracy")
