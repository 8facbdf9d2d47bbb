"""Softmax regression on the digits data set (1,797 8x8 images, 10 classes).

One ``nn.Linear(64, 10)`` gives a score per class; softmax turns the scores into
class probabilities and the cross-entropy compares them with the labels
(``nn.CrossEntropyLoss`` does both, from the raw scores). Pixels in [0, 16] are
scaled to [0, 1]. Full-batch gradient descent with momentum.

    python examples/softmax_digits.py
"""

import yingshe
from yingshe import nn, optim
from yingshe.datasets import load


def accuracy(scores, labels) -> float:
    return (scores.argmax(1) == labels).float().mean().item()


def main(steps: int = 300, lr: float = 0.5, verbose: bool = True) -> dict:
    yingshe.manual_seed(0)
    (x_train, y_train), (x_test, y_test) = load("digits")
    x_train, x_test = x_train / 16.0, x_test / 16.0

    model = nn.Linear(64, 10)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=0.9)

    for step in range(steps):
        optimizer.zero_grad()
        scores = model(x_train)
        loss = loss_fn(scores, y_train)
        loss.backward()
        optimizer.step()
        if verbose and (step % 50 == 0 or step == steps - 1):
            print(f"step {step:4d}  loss {loss.item():.4f}  "
                  f"train accuracy {accuracy(scores, y_train):.4f}")

    with yingshe.no_grad():
        train_acc = accuracy(model(x_train), y_train)
        test_scores = model(x_test)
        test_loss = loss_fn(test_scores, y_test).item()
        test_acc = accuracy(test_scores, y_test)
    if verbose:
        probs = yingshe.softmax(test_scores[:1], dim=1)
        print(f"first test image: P(class) = {[round(p, 3) for p in probs[0].tolist()]}, "
              f"label {y_test[0].item()}")
        print(f"train accuracy {train_acc:.4f}  test accuracy {test_acc:.4f}  "
              f"test loss {test_loss:.4f}")
    return {"train_loss": loss.item(), "test_loss": test_loss, "train_accuracy": train_acc,
            "test_accuracy": test_acc}


if __name__ == "__main__":
    main()
