"""Learn the Basics, 7: Save and Load the Model (PyTorch's ``saveloadrun_tutorial``), for
real PyTorch.

``torch.save(model.state_dict(), path)``, a fresh model,
``model.load_state_dict(torch.load(path, weights_only=True))`` and ``model.eval()``; then
the same for a checkpoint that also holds the optimizer's state, and resumed training.
"""
import os
import tempfile

import numpy as np
import torch
from torch import nn
from sklearn.datasets import load_digits


def report(name, values, mode="exact", **tol):
    vals = np.asarray(values, dtype=np.float64).ravel()
    opts = " ".join(f"{k}={v}" for k, v in tol.items())
    print("RESULT", name, " ".join(repr(float(v)) for v in vals), mode, opts)


class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(8 * 8, 32),
            nn.ReLU(),
            nn.Linear(32, 10),
        )

    def forward(self, x):
        return self.linear_relu_stack(self.flatten(x))


digits = load_digits()
X = torch.from_numpy(digits.images[:256].astype(np.float32) / 16.0).unsqueeze(1)
y = torch.from_numpy(digits.target[:256].astype(np.int64))
loss_fn = nn.CrossEntropyLoss()


def train_steps(model, optimizer, n):
    model.train()
    for _ in range(n):
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return loss.item()


torch.manual_seed(0)
model = NeuralNetwork()
optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
train_steps(model, optimizer, 20)
model.eval()
with torch.no_grad():
    logits = model(X)
tmp = tempfile.TemporaryDirectory()

# ---- Saving and Loading Model Weights -----------------------------------------------------------
path = os.path.join(tmp.name, "model_weights.pth")
torch.save(model.state_dict(), path)

model2 = NeuralNetwork()  # we do not specify ``weights``, i.e. create untrained model
result = model2.load_state_dict(torch.load(path, weights_only=True))
model2.eval()
print(result)
report("missing_unexpected", [len(result.missing_keys), len(result.unexpected_keys)])
with torch.no_grad():
    logits2 = model2(X)
report("same_logits_after_load", [torch.equal(logits, logits2)])
report("same_predictions", [(logits.argmax(1) == logits2.argmax(1)).all().item()])
state = torch.load(path, weights_only=True)
print("RESULT state_dict_keys", " ".join(state.keys()), "text")
report("state_dict_shapes", [n for v in state.values() for n in v.shape])
report("state_dict_equal", [all(torch.equal(state[k], v) for k, v in model.state_dict().items())])

# a state dict with a missing key: strict loading raises RuntimeError, strict=False reports it
partial = {k: v for k, v in state.items() if not k.endswith("2.bias")}
try:
    NeuralNetwork().load_state_dict(partial)
    err = "none"
except RuntimeError:
    err = "RuntimeError"
print("RESULT strict_missing", err, "text")
res = NeuralNetwork().load_state_dict(partial, strict=False)
print("RESULT nonstrict_missing", " ".join(res.missing_keys), "text")

# ---- A checkpoint: model, optimizer, epoch; then resume --------------------------------------
ckpt_path = os.path.join(tmp.name, "checkpoint.pt")
torch.save({"epoch": 20, "model_state_dict": model.state_dict(),
            "optimizer_state_dict": optimizer.state_dict()}, ckpt_path)
checkpoint = torch.load(ckpt_path, weights_only=True)
model3 = NeuralNetwork()
optimizer3 = torch.optim.SGD(model3.parameters(), lr=0.5, momentum=0.9)
model3.load_state_dict(checkpoint["model_state_dict"])
optimizer3.load_state_dict(checkpoint["optimizer_state_dict"])
report("checkpoint_epoch", [checkpoint["epoch"]])
loss_a = train_steps(model, optimizer, 10)
loss_b = train_steps(model3, optimizer3, 10)
report("resumed_identically", [loss_a == loss_b])
with torch.no_grad():
    report("resumed_train_accuracy", [(model3(X).argmax(1) == y).float().mean().item()], "accuracy")
tmp.cleanup()
