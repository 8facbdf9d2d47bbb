"""state_dict save/load of a model and its optimizer, then resumed training (PyTorch)."""
import os
import tempfile

import numpy as np
import torch
import torch.nn as nn


def report(name, values, mode="exact", **tol):
    vals = np.asarray(values, dtype=np.float64).ravel()
    opts = " ".join(f"{k}={v}" for k, v in tol.items())
    print("RESULT", name, " ".join(repr(float(v)) for v in vals), mode, opts)


rng = np.random.default_rng(7)
X = torch.from_numpy(rng.standard_normal((32, 5)).astype(np.float32))
Y = torch.from_numpy(rng.standard_normal((32, 2)).astype(np.float32))


def make():
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 2))
    with torch.no_grad():
        for i, p in enumerate(model.parameters()):
            p.copy_(torch.from_numpy((0.3 * np.random.default_rng(i).standard_normal(tuple(p.shape))).astype(np.float32)))
    return model


def steps(model, opt, n):
    for _ in range(n):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(X), Y)
        loss.backward()
        opt.step()
    return loss.item()


model = make()
opt = torch.optim.Adam(model.parameters(), lr=0.01)
steps(model, opt, 5)
report("keys", [len(model.state_dict()), len(opt.state_dict()["state"])])

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "checkpoint.pt")
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 5}, path)
    ckpt = torch.load(path, map_location=device, weights_only=True)

restored = make()
restored_opt = torch.optim.Adam(restored.parameters(), lr=0.01)
restored.load_state_dict(ckpt["model"])
restored_opt.load_state_dict(ckpt["optimizer"])
restored.to(device)
report("epoch", [ckpt["epoch"]])
with torch.no_grad():
    same = torch.equal(model(X), restored(X))
report("same_outputs_after_load", [float(same)])

# resuming gives exactly the same trajectory as not stopping
loss_a = steps(model, opt, 5)
loss_b = steps(restored, restored_opt, 5)
report("resumed_losses", [loss_a, loss_b])
report("resumed_equal", [float(loss_a == loss_b)])
report("final_weight_sum", [model[0].weight.sum().item()], rtol=1e-4)
