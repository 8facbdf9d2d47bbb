"""An MLP on the digits data with TensorDataset, DataLoader, Adam and StepLR (PyTorch)."""
import numpy as np
import torch
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset
from sklearn.datasets import load_digits


def report(name, values, mode="exact", **tol):
    vals = np.asarray(values, dtype=np.float64).ravel()
    opts = " ".join(f"{k}={v}" for k, v in tol.items())
    print("RESULT", name, " ".join(repr(float(v)) for v in vals), mode, opts)


digits = load_digits()
X_np = (digits.data / 16.0).astype(np.float32)
y_np = digits.target.astype(np.int64)
perm = np.random.default_rng(0).permutation(len(X_np))
train_idx, test_idx = perm[:1400], perm[1400:]
train_ds = TensorDataset(torch.from_numpy(X_np[train_idx]), torch.from_numpy(y_np[train_idx]))
X_test = torch.from_numpy(X_np[test_idx])
y_test = torch.from_numpy(y_np[test_idx])
report("dataset", [len(train_ds), X_test.shape[0], float(train_ds[0][0].sum()), int(train_ds[0][1])])


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))

    def forward(self, x):
        return self.net(x)


def set_weights_from_numpy(model, seed):
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.from_numpy((0.1 * rng.standard_normal(tuple(p.shape))).astype(np.float32)))


def train(model, loader, epochs):
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.5)
    epoch_losses = []
    for epoch in range(epochs):
        model.train()
        total, count = 0.0, 0
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * xb.shape[0]
            count += xb.shape[0]
        scheduler.step()
        epoch_losses.append(total / count)
    return epoch_losses


def accuracy(model):
    model.eval()
    with torch.no_grad():
        return (model(X_test).argmax(dim=1) == y_test).float().mean().item()


# 1) weights from NumPy, batches in order: the trajectory is deterministic
model = MLP()
set_weights_from_numpy(model, 0)
loader = DataLoader(train_ds, batch_size=100, shuffle=False)
first = next(iter(loader))
report("first_batch", [first[0].shape[0], float(first[0].sum()), int(first[1].sum())])
losses = train(model, loader, epochs=4)
report("epoch_losses_fixed_init", losses, rtol=1e-3, atol=1e-5)
report("test_accuracy_fixed_init", [accuracy(model)], "accuracy")

# 2) the framework's own random weights and shuffling: compare the test accuracy
torch.manual_seed(0)
model = MLP()
loader = DataLoader(train_ds, batch_size=64, shuffle=True)
train(model, loader, epochs=8)
report("test_accuracy_random_init", [accuracy(model)], "accuracy")
