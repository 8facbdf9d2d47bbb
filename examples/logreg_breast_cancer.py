"""Logistic regression on the breast-cancer data set (569 samples, 30 features).

As in the tutorial: a linear layer followed by a sigmoid gives P(malignant | x), and
the loss is the binary cross-entropy (``nn.BCELoss``). Features are standardised with
the training split's mean and standard deviation. Full-batch gradient descent.

    python examples/logreg_breast_cancer.py
"""

import yingshe
from yingshe import nn, optim
from yingshe.datasets import load


class LogisticRegression(nn.Module):
    def __init__(self, n_features: int):
        super().__init__()
        self.linear = nn.Linear(n_features, 1)

    def forward(self, x):
        return yingshe.sigmoid(self.linear(x)).squeeze(1)   # P(y = 1 | x)


def main(steps: int = 300, lr: float = 0.5, verbose: bool = True) -> dict:
    yingshe.manual_seed(0)
    (x_train, y_train), (x_test, y_test) = load("breast_cancer")
    mean, std = x_train.mean(0), x_train.std(0, unbiased=False)
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    y_train_f, y_test_f = y_train.float(), y_test.float()   # BCELoss wants float targets

    model = LogisticRegression(x_train.shape[1])
    loss_fn = nn.BCELoss()
    optimizer = optim.SGD(model.parameters(), lr=lr)

    for step in range(steps):
        optimizer.zero_grad()
        loss = loss_fn(model(x_train), y_train_f)
        loss.backward()
        optimizer.step()
        if verbose and (step % 50 == 0 or step == steps - 1):
            print(f"step {step:4d}  loss {loss.item():.4f}")

    model.eval()
    with yingshe.no_grad():
        p_train, p_test = model(x_train), model(x_test)
        test_loss = loss_fn(p_test, y_test_f).item()
    train_acc = ((p_train > 0.5).long() == y_train).float().mean().item()
    test_acc = ((p_test > 0.5).long() == y_test).float().mean().item()
    if verbose:
        print(f"train accuracy {train_acc:.4f}  test accuracy {test_acc:.4f}  "
              f"test loss {test_loss:.4f}")
    return {"train_loss": loss.item(), "test_loss": test_loss, "train_accuracy": train_acc,
            "test_accuracy": test_acc}


if __name__ == "__main__":
    main()
