"""The tutorial's linear regression, y = Wx + b, trained with yingshe's eager autograd.

Synthetic data y = 2x + 1 + noise; full-batch gradient descent on the mean squared
error; the learned (W, b) are compared with the closed-form least-squares solution.
"""

import numpy as np

import yingshe


def main(steps: int = 2000, lr: float = 0.1) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (1000, 1)).astype(np.float32)
    y = (2 * x + 1 + 0.1 * rng.standard_normal((1000, 1))).astype(np.float32)
    X, Y = yingshe.from_numpy(x), yingshe.from_numpy(y)

    W = yingshe.tensor([[0.0]], requires_grad=True)
    b = yingshe.tensor([0.0], requires_grad=True)
    for step in range(steps):
        y_pred = X @ W + b
        loss = ((Y - y_pred) ** 2).mean() if hasattr(yingshe.Tensor, "__pow__") else \
            ((Y - y_pred) * (Y - y_pred)).mean()
        W.grad = b.grad = None
        loss.backward()
        with yingshe.no_grad():
            W -= lr * W.grad if hasattr(yingshe.Tensor, "__isub__") else 0
            b -= lr * b.grad if hasattr(yingshe.Tensor, "__isub__") else 0
        if step % 500 == 0 or step == steps - 1:
            print(f"step {step:5d}  loss {loss.item():.6f}")

    A = np.hstack([x.astype(np.float64), np.ones_like(x, dtype=np.float64)])
    w_ls, b_ls = np.linalg.lstsq(A, y.astype(np.float64), rcond=None)[0].ravel()
    print(f"learned   W = {W.item():.5f}  b = {b.item():.5f}")
    print(f"lstsq     W = {w_ls:.5f}  b = {b_ls:.5f}")
    return W.item() - w_ls, b.item() - b_ls


if __name__ == "__main__":
    main()
