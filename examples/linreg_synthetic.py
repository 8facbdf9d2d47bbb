"""Linear regression on synthetic data, the tutorial's first model, PyTorch-style.

Data: y = 2x + 1 + noise. Model: ``nn.Linear(1, 1)``. Loss: mean squared error.
Optimiser: full-batch gradient descent (``optim.SGD`` over the whole data set each
step). The learned weight and bias are compared with the closed-form least-squares
solution computed by NumPy in float64.

    python examples/linreg_synthetic.py
"""

import numpy as np

import yingshe
from yingshe import nn, optim


def make_data(n: int = 1000, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, 1)).astype(np.float32)
    y = (2 * x + 1 + 0.1 * rng.standard_normal((n, 1))).astype(np.float32)
    return x, y


def closed_form(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares (w, b) of y = w x + b, in float64."""
    A = np.hstack([x.astype(np.float64), np.ones((len(x), 1))])
    return np.linalg.lstsq(A, y.astype(np.float64), rcond=None)[0].ravel()


def main(steps: int = 500, lr: float = 0.5, verbose: bool = True) -> dict:
    yingshe.manual_seed(0)
    x, y = make_data()
    X, Y = yingshe.from_numpy(x), yingshe.from_numpy(y)

    model = nn.Linear(1, 1)
    loss_fn = nn.MSELoss()
    optimizer = optim.SGD(model.parameters(), lr=lr)

    for step in range(steps):
        optimizer.zero_grad()
        loss = loss_fn(model(X), Y)
        loss.backward()
        optimizer.step()
        if verbose and (step % 100 == 0 or step == steps - 1):
            print(f"step {step:4d}  loss {loss.item():.6f}")

    w, b = model.weight.item(), model.bias.item()
    w_ls, b_ls = closed_form(x, y)
    if verbose:
        print(f"learned  w = {w:.6f}  b = {b:.6f}")
        print(f"lstsq    w = {w_ls:.6f}  b = {b_ls:.6f}")
    return {"loss": loss.item(), "w": w, "b": b, "w_lstsq": float(w_ls),
            "b_lstsq": float(b_ls), "max_abs_error": float(max(abs(w - w_ls), abs(b - b_ls)))}


if __name__ == "__main__":
    main()
