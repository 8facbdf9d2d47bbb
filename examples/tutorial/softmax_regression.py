"""Tutorial 4.3/4.4: softmax regression with torch.softmax and cross-entropy (iris)."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_iris


def report(name, values, mode="exact", **tol):
    vals = np.asarray(values, dtype=np.float64).ravel()
    opts = " ".join(f"{k}={v}" for k, v in tol.items())
    print("RESULT", name, " ".join(repr(float(v)) for v in vals), mode, opts)


iris = load_iris()
X_np = iris.data.astype(np.float64)
X_np = ((X_np - X_np.mean(0)) / X_np.std(0)).astype(np.float32)
X = torch.from_numpy(X_np)
y = torch.from_numpy(iris.target.astype(np.int64))
n, d, k = X.shape[0], X.shape[1], 3

rng = np.random.default_rng(3)
W = torch.tensor(0.1 * rng.standard_normal((k, d)), dtype=torch.float32, requires_grad=True)
b = torch.zeros(k, requires_grad=True)

logits = torch.mm(X, W.t()) + b
p = torch.softmax(logits, dim=1)
report("probs_rowsum", p.sum(dim=1).detach().numpy())
report("probs_first_rows", p[:3].detach().numpy())

# cross-entropy three ways: by hand from softmax, F.cross_entropy, NLLLoss of log_softmax
ce_hand = -torch.log(p[torch.arange(n), y]).mean()
ce_f = F.cross_entropy(logits, y)
ce_nll = nn.NLLLoss()(torch.log_softmax(logits, dim=1), y)
report("cross_entropy_3ways", [ce_hand.item(), ce_f.item(), ce_nll.item()])
ce_f.backward()
report("grad_W", W.grad.numpy())
report("grad_b", b.grad.numpy())
onehot = np.eye(k, dtype=np.float32)[iris.target]
report("grad_W_analytic", ((p.detach().numpy() - onehot).T @ X_np) / n)

criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD([W, b], lr=0.5)
losses = []
for step in range(200):
    optimizer.zero_grad()
    loss = criterion(torch.mm(X, W.t()) + b, y)
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
report("loss_trajectory", losses[::20], rtol=1e-4)
pred = (torch.mm(X, W.t()) + b).argmax(dim=1)
report("train_accuracy", [(pred == y).float().mean().item()])

# the same model as an nn.Linear from random weights, by convergence (weight decay makes
# the optimum unique, so both frameworks reach the same loss from different weights)
torch.manual_seed(1)
model = nn.Linear(d, k)
opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9, weight_decay=0.01)
for step in range(300):
    opt.zero_grad()
    loss = criterion(model(X), y)
    loss.backward()
    opt.step()
report("final_loss_random_init", [loss.item()], "converge")
report("final_accuracy_random_init", [(model(X).argmax(1) == y).float().mean().item()], "accuracy")
