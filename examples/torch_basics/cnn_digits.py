"""A small CNN on the 1x8x8 digits, in the style of course notebooks (real PyTorch):
``nn.Conv2d``/``nn.MaxPool2d``/``F.relu`` in ``forward``, ``x.view(-1, ...)``,
``DataLoader``, ``Adam``, train/eval loops. First from weights set from NumPy (forward
values and gradients compared exactly, then a short deterministic trajectory), then from
each engine's own random weights (compared by accuracy).
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.utils.data import DataLoader, TensorDataset
from sklearn.datasets import load_digits


def report(name, values, mode="exact", **tol):
    vals = np.asarray(values, dtype=np.float64).ravel()
    opts = " ".join(f"{k}={v}" for k, v in tol.items())
    print("RESULT", name, " ".join(repr(float(v)) for v in vals), mode, opts)


digits = load_digits()
order = np.random.default_rng(0).permutation(len(digits.target))
images = (digits.images[order] / 16.0).astype(np.float32)[:, None]   # N x 1 x 8 x 8
labels = digits.target[order].astype(np.int64)
train_ds = TensorDataset(torch.from_numpy(images[:1500]), torch.from_numpy(labels[:1500]))
X_test, y_test = torch.from_numpy(images[1500:]), torch.from_numpy(labels[1500:])


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=3, padding=1)   # 8x8 -> 8x8
        self.pool = nn.MaxPool2d(2, 2)                              # -> 4x4
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)                # 4x4 -> 4x4 -> pool 2x2
        self.fc1 = nn.Linear(32 * 2 * 2, 64)
        self.fc2 = nn.Linear(64, 10)
        self.dropout = nn.Dropout(0.25)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.view(-1, 32 * 2 * 2)
        x = self.dropout(F.relu(self.fc1(x)))
        return self.fc2(x)


def set_weights(model, seed):
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for p in model.parameters():
            fan_in = p[0].numel() if p.dim() > 1 else p.numel()
            p.copy_(torch.from_numpy((rng.standard_normal(tuple(p.shape)) / np.sqrt(fan_in)).astype(np.float32)))


model = Net()
set_weights(model, 1)
print(model)
report("num_params", [sum(p.numel() for p in model.parameters())])

# forward and gradients from fixed weights (eval mode: dropout off)
model.eval()
xb, yb = torch.from_numpy(images[:32]), torch.from_numpy(labels[:32])
out = model(xb)
loss = F.cross_entropy(out, yb)
loss.backward()
report("logits", out.detach().numpy(), rtol=1e-4, atol=1e-5)
report("loss", [loss.item()])
report("conv1_weight_grad", model.conv1.weight.grad.numpy(), rtol=1e-4, atol=1e-6)
report("conv2_bias_grad", model.conv2.bias.grad.numpy(), rtol=1e-4, atol=1e-6)
report("fc1_weight_grad_norm", [model.fc1.weight.grad.norm().item()], rtol=1e-4)
h = model.pool(F.relu(model.conv1(xb)))
report("pooled_shape", list(h.shape))
model.zero_grad()


def train(model, loader, optimizer, epochs, scheduler=None):
    criterion = nn.CrossEntropyLoss()
    history = []
    for epoch in range(epochs):
        model.train()
        running_loss = 0.0
        for inputs, targets in loader:
            optimizer.zero_grad()
            outputs = model(inputs)
            loss = criterion(outputs, targets)
            loss.backward()
            optimizer.step()
            running_loss += loss.item() * inputs.size(0)
        if scheduler is not None:
            scheduler.step()
        history.append(running_loss / len(loader.dataset))
        print(f"epoch {epoch + 1}: loss {history[-1]:.4f}")
    return history


def evaluate(model):
    model.eval()
    correct = 0
    with torch.no_grad():
        for inputs, targets in DataLoader(TensorDataset(X_test, y_test), batch_size=100):
            _, predicted = torch.max(model(inputs), 1)
            correct += (predicted == targets).sum().item()
    return correct / len(y_test)


# a deterministic trajectory: fixed weights, batches in order, no dropout
model.dropout.p = 0.0
hist = train(model, DataLoader(train_ds, batch_size=50), optim.Adam(model.parameters(), lr=3e-3), 2)
report("epoch_losses_fixed_init", hist, rtol=2e-3, atol=1e-5)

# each engine's own random weights, shuffling and dropout
torch.manual_seed(0)
model = Net()
optimizer = optim.Adam(model.parameters(), lr=3e-3)
scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=6, gamma=0.3)
hist = train(model, DataLoader(train_ds, batch_size=32, shuffle=True), optimizer, 15, scheduler)
report("test_accuracy_random_init", [evaluate(model)], "accuracy")
