"""A multi-layer perceptron on the digits data set, trained with mini-batches.

64 -> 256 -> 256 -> 10 with ReLU and dropout, cross-entropy, Adam; the training split
is served by a ``DataLoader`` over a ``TensorDataset`` (shuffled batches of 32).
Pixels are standardised with the training split's per-pixel mean and standard
deviation (pixels that are constant in training keep a scale of 1).

    python examples/mlp_digits.py
"""

import yingshe
from yingshe import nn, optim
from yingshe.datasets import load
from yingshe.utils.data import DataLoader, TensorDataset


def make_model() -> nn.Module:
    return nn.Sequential(
        nn.Linear(64, 256), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(256, 256), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(256, 10),
    )


def evaluate(model, x, y, loss_fn) -> tuple[float, float]:
    model.eval()
    with yingshe.no_grad():
        scores = model(x)
        loss = loss_fn(scores, y).item()
        acc = (scores.argmax(1) == y).float().mean().item()
    model.train()
    return loss, acc


def main(epochs: int = 10, batch_size: int = 32, lr: float = 1e-3, verbose: bool = True) -> dict:
    yingshe.manual_seed(0)
    (x_train, y_train), (x_test, y_test) = load("digits")
    mean, std = x_train.mean(0), x_train.std(0, unbiased=False)
    std = yingshe.where(std > 1e-6, std, yingshe.ones_like(std))
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=batch_size, shuffle=True)

    model = make_model()
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=lr)

    for epoch in range(epochs):
        total, count = 0.0, 0
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(yb)
            count += len(yb)
        if verbose:
            _, test_acc = evaluate(model, x_test, y_test, loss_fn)
            print(f"epoch {epoch + 1:2d}  train loss {total / count:.4f}  "
                  f"test accuracy {test_acc:.4f}")

    train_loss, train_acc = evaluate(model, x_train, y_train, loss_fn)
    test_loss, test_acc = evaluate(model, x_test, y_test, loss_fn)
    if verbose:
        print(f"train accuracy {train_acc:.4f}  test accuracy {test_acc:.4f}")
    return {"train_loss": train_loss, "test_loss": test_loss, "train_accuracy": train_acc,
            "test_accuracy": test_acc}


if __name__ == "__main__":
    main()
