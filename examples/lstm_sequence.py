"""An LSTM sequence classifier on a synthetic task: which pattern is hidden in the noise?

Each sequence is 24 steps of Gaussian noise (one feature per step, standard deviation
0.3). Somewhere in it, at a random position, one of four 6-step patterns is added: a
rising ramp, a falling ramp, a bump (up then down) or a dip (down then up). The label
is which pattern. The position varies, so the model has to remember what it saw: a
single-layer ``nn.LSTM`` reads the whole sequence and a linear layer classifies its
last hidden state. Cross-entropy, Adam with gradient-norm clipping and a decaying
learning rate, shuffled mini-batches.

    python examples/lstm_sequence.py
"""

import numpy as np

import yingshe
from yingshe import nn, optim
from yingshe.utils.data import DataLoader, TensorDataset

SEQ_LEN, PATTERN_LEN = 24, 6
_t = np.linspace(-1.0, 1.0, PATTERN_LEN)
PATTERNS = 2.0 * np.stack([
    _t,                                 # rising ramp
    -_t,                                # falling ramp
    1.0 - 2.0 * np.abs(_t),             # bump
    2.0 * np.abs(_t) - 1.0,             # dip
]).astype(np.float32)


def make_data(n: int, noise: float = 0.3, seed: int = 0):
    """(n, SEQ_LEN, 1) float32 sequences and (n,) int64 labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(PATTERNS), n)
    starts = rng.integers(0, SEQ_LEN - PATTERN_LEN + 1, n)
    x = noise * rng.standard_normal((n, SEQ_LEN)).astype(np.float32)
    for i, (label, start) in enumerate(zip(labels, starts)):
        x[i, start:start + PATTERN_LEN] += PATTERNS[label]
    return x[:, :, None], labels.astype(np.int64)


class SequenceClassifier(nn.Module):
    def __init__(self, n_features: int = 1, hidden: int = 32, classes: int = len(PATTERNS)):
        super().__init__()
        self.lstm = nn.LSTM(n_features, hidden, batch_first=True)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x):                    # x: (batch, time, features)
        _, (h_n, _) = self.lstm(x)           # h_n: (layers, batch, hidden)
        return self.head(h_n[-1])


def accuracy(model, x, y) -> float:
    model.eval()
    with yingshe.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    model.train()
    return acc


def main(epochs: int = 15, batch_size: int = 64, lr: float = 1e-2, gamma: float = 0.9,
         n_train: int = 2000, n_test: int = 500, seed: int = 0, verbose: bool = True) -> dict:
    yingshe.manual_seed(seed)
    x_train, y_train = (yingshe.from_numpy(a) for a in make_data(n_train, seed=seed))
    x_test, y_test = (yingshe.from_numpy(a) for a in make_data(n_test, seed=seed + 1))
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=batch_size, shuffle=True)

    model = SequenceClassifier()
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=lr)
    scheduler = optim.lr_scheduler.ExponentialLR(optimizer, gamma=gamma)

    for epoch in range(epochs):
        total, count = 0.0, 0
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
            optimizer.step()
            total += loss.item() * len(yb)
            count += len(yb)
        scheduler.step()
        if verbose:
            print(f"epoch {epoch + 1:2d}  train loss {total / count:.4f}  "
                  f"test accuracy {accuracy(model, x_test, y_test):.4f}")

    train_acc, test_acc = accuracy(model, x_train, y_train), accuracy(model, x_test, y_test)
    if verbose:
        print(f"train accuracy {train_acc:.4f}  test accuracy {test_acc:.4f}")
    return {"train_loss": total / count, "train_accuracy": train_acc, "test_accuracy": test_acc}


if __name__ == "__main__":
    main()
