"""The tutorial's linear regression (section 3.2), trained with yingshe.

Synthetic data y = 2x + 1 + noise. The model, loss, optimizer and training loop are
the tutorial's PyTorch code with ``torch`` replaced by ``yingshe``; at the end the
learned (W, b) are compared with the closed-form least-squares solution.

    python examples/linear_regression.py
"""

import numpy as np

import yingshe
import yingshe.nn as nn


class LinearRegression(nn.Module):
    def __init__(self, input_size):
        super(LinearRegression, self).__init__()
        self.linear = nn.Linear(input_size, 1)

    def forward(self, x):
        out = self.linear(x)
        return out


def main(num_epochs: int = 1000, lr: float = 0.1, verbose: bool = True) -> dict:
    yingshe.manual_seed(0)
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (1000, 1)).astype(np.float32)
    Y = (2 * X + 1 + 0.1 * rng.standard_normal((1000, 1))).astype(np.float32)

    input_size = 1
    model = LinearRegression(input_size)
    criterion = nn.MSELoss()
    optimizer = yingshe.optim.SGD(model.parameters(), lr=lr)

    for epoch in range(num_epochs):
        inputs = yingshe.from_numpy(X)
        targets = yingshe.from_numpy(Y)

        optimizer.zero_grad()
        outputs = model(inputs)
        loss = criterion(outputs, targets)
        loss.backward()
        optimizer.step()
        if verbose and (epoch % 200 == 0 or epoch == num_epochs - 1):
            print(f"epoch {epoch:4d}  loss {loss.item():.6f}")

    A = np.hstack([X, np.ones_like(X)]).astype(np.float64)
    w_ls, b_ls = np.linalg.lstsq(A, Y.astype(np.float64), rcond=None)[0].ravel()
    w, b = model.linear.weight.item(), model.linear.bias.item()
    if verbose:
        print(f"learned        W = {w:.5f}   b = {b:.5f}")
        print(f"least squares  W = {w_ls:.5f}   b = {b_ls:.5f}")
        print(f"difference       {abs(w - w_ls):.1e}       {abs(b - b_ls):.1e}")
    return {"w": w, "b": b, "w_ls": float(w_ls), "b_ls": float(b_ls), "loss": loss.item()}


if __name__ == "__main__":
    main()
