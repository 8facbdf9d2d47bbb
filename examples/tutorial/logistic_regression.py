"""Tutorial 4.2/4.4: logistic regression, torch.sigmoid and nn.BCELoss (breast cancer)."""
import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import load_breast_cancer


def report(name, values, mode="exact", **tol):
    vals = np.asarray(values, dtype=np.float64).ravel()
    opts = " ".join(f"{k}={v}" for k, v in tol.items())
    print("RESULT", name, " ".join(repr(float(v)) for v in vals), mode, opts)


data = load_breast_cancer()
X_np = data.data.astype(np.float64)
X_np = ((X_np - X_np.mean(0)) / X_np.std(0)).astype(np.float32)
Y_np = data.target.astype(np.float32).reshape(-1, 1)
X = torch.from_numpy(X_np)
Y = torch.from_numpy(Y_np)
d = X.shape[1]

# 1) the tutorial's fragment, from zero weights: deterministic
W = torch.zeros(1, d, requires_grad=True)
b = torch.zeros(1, requires_grad=True)
criterion = torch.nn.BCELoss()
optimizer = torch.optim.SGD([W, b], lr=0.5)
losses = []
for step in range(100):
    logits = torch.mm(X, W.t()) + b
    p = torch.sigmoid(logits)
    loss = criterion(p, Y)
    optimizer.zero_grad()
    loss.backward()
    if step == 0:
        report("grad_W_step0", W.grad.numpy())
    optimizer.step()
    losses.append(loss.item())
report("loss_step0", [losses[0]])
report("loss_trajectory", losses[::10], rtol=1e-4)
with torch.no_grad():
    logits = torch.mm(X, W.t()) + b
    bce_logits = nn.BCEWithLogitsLoss()(logits, Y)
    bce_probs = criterion(torch.sigmoid(logits), Y)
report("bce_with_logits_vs_probs", [bce_logits.item(), bce_probs.item()], rtol=1e-4)
acc = ((torch.sigmoid(logits) > 0.5).float() == Y).float().mean()
report("accuracy_zero_init", [acc.item()])

# 2) an nn.Linear from each framework's random init: compare by convergence
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(d, 1), nn.Sigmoid())
opt = torch.optim.Adam(model.parameters(), lr=0.05)
for step in range(300):
    opt.zero_grad()
    loss = criterion(model(X), Y)
    loss.backward()
    opt.step()
with torch.no_grad():
    acc = ((model(X) > 0.5).float() == Y).float().mean()
report("final_accuracy", [acc.item()], "accuracy")
