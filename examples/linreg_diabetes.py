"""Linear regression on the diabetes data set (442 patients, 10 features).

The features are standardised with a scaler fitted on the training split only (the
test split is transformed with the training mean and standard deviation). A single
``nn.Linear(10, 1)`` is trained by full-batch gradient descent on the mean squared
error, once in float32 and once in float64, and the learned coefficients are compared
with the closed-form least-squares solution (``np.linalg.lstsq`` in float64).

The standardised features are correlated (the Hessian's condition number is about
440), so plain gradient descent needs thousands of steps to reach 1e-6; gradient
descent with heavy-ball momentum (``SGD(momentum=0.9)``) gets there in a few hundred.

    python examples/linreg_diabetes.py
"""

import numpy as np

import yingshe
from yingshe import nn, optim
from yingshe.datasets import load


class StandardScaler:
    """x -> (x - mean) / std with the mean and std of the data it was fitted on."""

    def fit(self, x: np.ndarray) -> "StandardScaler":
        self.mean = x.mean(axis=0)
        self.std = x.std(axis=0)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.std


def closed_form(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares weights and bias of y = x w + b, in float64."""
    A = np.hstack([x.astype(np.float64), np.ones((len(x), 1))])
    sol = np.linalg.lstsq(A, y.astype(np.float64), rcond=None)[0]
    return sol[:-1], float(sol[-1])


def train(name, dtype, x_train, y_train, x_test, y_test, steps: int, lr: float, momentum: float,
          verbose: bool) -> dict:
    yingshe.manual_seed(0)
    np_dtype = np.float32 if dtype == yingshe.float32 else np.float64
    X = yingshe.from_numpy(x_train.astype(np_dtype))
    Y = yingshe.from_numpy(y_train.astype(np_dtype).reshape(-1, 1))
    model = nn.Linear(x_train.shape[1], 1).to(dtype)
    loss_fn = nn.MSELoss()
    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    for step in range(steps):
        optimizer.zero_grad()
        loss = loss_fn(model(X), Y)
        loss.backward()
        optimizer.step()
        if verbose and (step % 200 == 0 or step == steps - 1):
            print(f"  [{name}] step {step:4d}  train MSE {loss.item():.6f}")
    with yingshe.no_grad():
        Xt = yingshe.from_numpy(x_test.astype(np_dtype))
        pred = model(Xt).numpy().ravel().astype(np.float64)
    test_mse = float(((pred - y_test.astype(np.float64)) ** 2).mean())
    return {"weights": model.weight.detach().numpy().ravel().astype(np.float64),
            "bias": float(model.bias.item()), "train_mse": loss.item(), "test_mse": test_mse}


def main(steps: int = 600, lr: float = 0.2, momentum: float = 0.9, verbose: bool = True) -> dict:
    (x_tr, y_tr), (x_te, y_te) = load("diabetes", as_numpy=True)
    scaler = StandardScaler().fit(x_tr.astype(np.float64))
    x_tr = scaler.transform(x_tr.astype(np.float64))
    x_te = scaler.transform(x_te.astype(np.float64))
    w_ls, b_ls = closed_form(x_tr, y_tr)
    largest = int(np.argmax(np.abs(w_ls)))
    results = {"w_lstsq": w_ls, "b_lstsq": b_ls, "largest_index": largest}
    for name, dtype in (("float32", yingshe.float32), ("float64", yingshe.float64)):
        r = train(name, dtype, x_tr, y_tr, x_te, y_te, steps, lr, momentum, verbose)
        r["largest_coef_error"] = float(abs(r["weights"][largest] - w_ls[largest]))
        r["max_coef_error"] = float(np.max(np.abs(r["weights"] - w_ls)))
        r["bias_error"] = abs(r["bias"] - b_ls)
        results[name] = r
        if verbose:
            print(f"{name}: test MSE {r['test_mse']:.2f}; largest coefficient "
                  f"{r['weights'][largest]:.8f} vs lstsq {w_ls[largest]:.8f} "
                  f"(error {r['largest_coef_error']:.2e}; max over all {r['max_coef_error']:.2e})")
    return results


if __name__ == "__main__":
    main()
