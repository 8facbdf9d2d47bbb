"""Learn the Basics, 0: the Quickstart (PyTorch's ``quickstart_tutorial``), for real
PyTorch, on the bundled digits instead of FashionMNIST: data, model, training,
evaluation, saving, loading, predicting.
"""
import os
import tempfile

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset, DataLoader
from sklearn.datasets import load_digits


def report(name, values, mode="exact", **tol):
    vals = np.asarray(values, dtype=np.float64).ravel()
    opts = " ".join(f"{k}={v}" for k, v in tol.items())
    print("RESULT", name, " ".join(repr(float(v)) for v in vals), mode, opts)


# ---- Working with data -------------------------------------------------------------------------
class Digits(Dataset):
    def __init__(self, train=True):
        d = load_digits()
        order = np.random.default_rng(0).permutation(len(d.target))
        idx = order[:1500] if train else order[1500:]
        self.x = torch.from_numpy(d.images[idx].astype(np.float32) / 16.0).unsqueeze(1)
        self.y = torch.from_numpy(d.target[idx].astype(np.int64))

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


training_data = Digits(train=True)
test_data = Digits(train=False)
batch_size = 64

# Create data loaders.
train_dataloader = DataLoader(training_data, batch_size=batch_size, shuffle=True)
test_dataloader = DataLoader(test_data, batch_size=batch_size)

for X, y in test_dataloader:
    print(f"Shape of X [N, C, H, W]: {X.shape}")
    print(f"Shape of y: {y.shape} {y.dtype}")
    report("first_test_batch", [*X.shape, *y.shape, y.dtype == torch.int64])
    break

# ---- Creating Models -----------------------------------------------------------------------------
device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"
print(f"Using {device} device")


# Define model
class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(8 * 8, 128),
            nn.ReLU(),
            nn.Linear(128, 128),
            nn.ReLU(),
            nn.Linear(128, 10)
        )

    def forward(self, x):
        x = self.flatten(x)
        logits = self.linear_relu_stack(x)
        return logits


torch.manual_seed(0)
model = NeuralNetwork().to(device)
print(model)

# ---- Optimizing the Model Parameters -----------------------------------------------------------
loss_fn = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=1e-1)


def train(dataloader, model, loss_fn, optimizer):
    size = len(dataloader.dataset)
    model.train()
    for batch, (X, y) in enumerate(dataloader):
        X, y = X.to(device), y.to(device)

        # Compute prediction error
        pred = model(X)
        loss = loss_fn(pred, y)

        # Backpropagation
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

        if batch % 10 == 0:
            loss, current = loss.item(), (batch + 1) * len(X)
            print(f"loss: {loss:>7f}  [{current:>5d}/{size:>5d}]")


def test(dataloader, model, loss_fn):
    size = len(dataloader.dataset)
    num_batches = len(dataloader)
    model.eval()
    test_loss, correct = 0, 0
    with torch.no_grad():
        for X, y in dataloader:
            X, y = X.to(device), y.to(device)
            pred = model(X)
            test_loss += loss_fn(pred, y).item()
            correct += (pred.argmax(1) == y).type(torch.float).sum().item()
    test_loss /= num_batches
    correct /= size
    print(f"Test Error: \n Accuracy: {(100*correct):>0.1f}%, Avg loss: {test_loss:>8f} \n")
    return test_loss, correct


epochs = 25
for t in range(epochs):
    print(f"Epoch {t+1}\n-------------------------------")
    train(train_dataloader, model, loss_fn, optimizer)
    test_loss, correct = test(test_dataloader, model, loss_fn)
print("Done!")
report("test_accuracy", [correct], "accuracy")

# ---- Saving Models -----------------------------------------------------------------------------
tmp = tempfile.TemporaryDirectory()
path = os.path.join(tmp.name, "model.pth")
torch.save(model.state_dict(), path)
print("Saved PyTorch Model State to model.pth")

# ---- Loading Models ----------------------------------------------------------------------------
model2 = NeuralNetwork().to(device)
model2.load_state_dict(torch.load(path, weights_only=True))
tmp.cleanup()
report("loaded_test_loss_same", [test(test_dataloader, model2, loss_fn)[0] == test_loss])

classes = [str(i) for i in range(10)]
model2.eval()
x, y = test_data[0][0], test_data[0][1]
with torch.no_grad():
    x = x.to(device)
    pred = model2(x)
    predicted, actual = classes[pred[0].argmax(0)], classes[y]
    print(f'Predicted: "{predicted}", Actual: "{actual}"')
print("RESULT predicted_first", predicted, "text")
print("RESULT actual_first", actual, "text")
