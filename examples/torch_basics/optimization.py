"""Learn the Basics, 6: Optimizing Model Parameters (PyTorch's ``optimization_tutorial``),
for real PyTorch, on the bundled digits.

Hyperparameters, ``loss_fn = nn.CrossEntropyLoss()``,
``torch.optim.SGD(model.parameters(), lr=...)``, and the tutorial's ``train_loop`` /
``test_loop`` (``model.train()``/``model.eval()``, ``torch.no_grad()``,
``(pred.argmax(1) == y).type(torch.float).sum().item()``). Run twice: from weights set
from NumPy with batches in order (the trajectory is deterministic: compared exactly),
and from each engine's own random weights with shuffling (compared by convergence).
"""
import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset, DataLoader
from sklearn.datasets import load_digits


def report(name, values, mode="exact", **tol):
    vals = np.asarray(values, dtype=np.float64).ravel()
    opts = " ".join(f"{k}={v}" for k, v in tol.items())
    print("RESULT", name, " ".join(repr(float(v)) for v in vals), mode, opts)


class DigitsDataset(Dataset):
    def __init__(self, train=True):
        digits = load_digits()
        order = np.random.default_rng(0).permutation(len(digits.target))
        idx = order[:1500] if train else order[1500:]
        self.images = torch.from_numpy(digits.images[idx].astype(np.float32) / 16.0).unsqueeze(1)
        self.labels = torch.from_numpy(digits.target[idx].astype(np.int64))

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, idx):
        return self.images[idx], self.labels[idx]


training_data = DigitsDataset(train=True)
test_data = DigitsDataset(train=False)


class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(8 * 8, 64),
            nn.ReLU(),
            nn.Linear(64, 64),
            nn.ReLU(),
            nn.Linear(64, 10),
        )

    def forward(self, x):
        x = self.flatten(x)
        logits = self.linear_relu_stack(x)
        return logits


learning_rate = 1e-1
batch_size = 64
epochs = 5


def train_loop(dataloader, model, loss_fn, optimizer):
    size = len(dataloader.dataset)
    # Set the model to training mode - important for batch normalization and dropout layers
    model.train()
    losses = []
    for batch, (X, y) in enumerate(dataloader):
        # Compute prediction and loss
        pred = model(X)
        loss = loss_fn(pred, y)

        # Backpropagation
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

        losses.append(loss.item())
        if batch % 10 == 0:
            loss, current = loss.item(), batch * batch_size + len(X)
            print(f"loss: {loss:>7f}  [{current:>5d}/{size:>5d}]")
    return losses


def test_loop(dataloader, model, loss_fn):
    # Set the model to evaluation mode - important for batch normalization and dropout layers
    model.eval()
    size = len(dataloader.dataset)
    num_batches = len(dataloader)
    test_loss, correct = 0, 0

    # Evaluating the model with torch.no_grad() ensures that no gradients are computed
    with torch.no_grad():
        for X, y in dataloader:
            pred = model(X)
            test_loss += loss_fn(pred, y).item()
            correct += (pred.argmax(1) == y).type(torch.float).sum().item()

    test_loss /= num_batches
    correct /= size
    print(f"Test Error: \n Accuracy: {(100*correct):>0.1f}%, Avg loss: {test_loss:>8f} \n")
    return test_loss, correct


loss_fn = nn.CrossEntropyLoss()

# 1) weights from NumPy, batches in order: a deterministic trajectory
model = NeuralNetwork()
rng = np.random.default_rng(1)
with torch.no_grad():
    for p in model.parameters():
        p.copy_(torch.from_numpy((0.15 * rng.standard_normal(tuple(p.shape))).astype(np.float32)))
optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate)
train_dataloader = DataLoader(training_data, batch_size=batch_size, shuffle=False)
test_dataloader = DataLoader(test_data, batch_size=batch_size)
first_losses, epoch_means, tests = [], [], []
for t in range(epochs):
    print(f"Epoch {t+1}\n-------------------------------")
    losses = train_loop(train_dataloader, model, loss_fn, optimizer)
    first_losses.extend(losses[:3])
    epoch_means.append(float(np.mean(losses)))
    tests.append(test_loop(test_dataloader, model, loss_fn))
print("Done!")
report("first_step_losses", first_losses[:3])
report("epoch_mean_losses", epoch_means, rtol=1e-3, atol=1e-5)
report("test_losses", [tl for tl, _ in tests], rtol=1e-3, atol=1e-5)
report("test_accuracy_fixed_init", [tests[-1][1]], "accuracy")

# 2) each engine's own random weights and shuffling, trained to convergence (the
#    learning rate decays so that the last epochs do not jitter): compare by convergence
torch.manual_seed(0)
model = NeuralNetwork()
optimizer = torch.optim.SGD(model.parameters(), lr=3 * learning_rate)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=20, gamma=0.3)
train_dataloader = DataLoader(training_data, batch_size=batch_size, shuffle=True)
for t in range(40):
    train_loop(train_dataloader, model, loss_fn, optimizer)
    scheduler.step()
train_loss, train_correct = test_loop(DataLoader(training_data, batch_size=500), model, loss_fn)
test_loss, correct = test_loop(test_dataloader, model, loss_fn)
report("train_accuracy_random_init", [train_correct], "accuracy")
report("test_accuracy_random_init", [correct], "accuracy")
