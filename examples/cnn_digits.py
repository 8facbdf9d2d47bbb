"""A small convolutional network on the digits data set, as 1x8x8 images.

conv 3x3 (1 -> 32) -> ReLU -> 2x2 max-pool -> conv 3x3 (32 -> 64) -> ReLU -> 2x2
max-pool -> flatten (64 x 2 x 2) -> dropout -> linear (256 -> 10). Cross-entropy,
Adam with an exponentially decaying learning rate, shuffled mini-batches of 32.

    python examples/cnn_digits.py
"""

import yingshe
from yingshe import nn, optim
from yingshe.datasets import load
from yingshe.utils.data import DataLoader, TensorDataset


class DigitsCNN(nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 32x4x4
            nn.Conv2d(32, 64, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 64x2x2
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.3),
                                        nn.Linear(64 * 2 * 2, classes))

    def forward(self, x):
        return self.classifier(self.features(x))


def evaluate(model, x, y, loss_fn) -> tuple[float, float]:
    model.eval()
    with yingshe.no_grad():
        scores = model(x)
        loss = loss_fn(scores, y).item()
        acc = (scores.argmax(1) == y).float().mean().item()
    model.train()
    return loss, acc


def main(epochs: int = 12, batch_size: int = 32, lr: float = 1e-2, gamma: float = 0.8,
         seed: int = 0, verbose: bool = True) -> dict:
    yingshe.manual_seed(seed)
    (x_train, y_train), (x_test, y_test) = load("digits")
    # (N, 64) pixels in [0, 16] -> (N, 1, 8, 8) images in [0, 1]
    x_train = (x_train / 16.0).reshape(-1, 1, 8, 8)
    x_test = (x_test / 16.0).reshape(-1, 1, 8, 8)
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=batch_size, shuffle=True)

    model = DigitsCNN()
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=lr)
    scheduler = optim.lr_scheduler.ExponentialLR(optimizer, gamma=gamma)

    for epoch in range(epochs):
        total, count = 0.0, 0
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(yb)
            count += len(yb)
        scheduler.step()
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
