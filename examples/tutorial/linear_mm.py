"""Tutorial 4.1: y_pred = torch.mm(X, W.t()) + b, gradients by hand and by autograd."""
import numpy as np
import torch


def report(name, values, mode="exact", **tol):
    vals = np.asarray(values, dtype=np.float64).ravel()
    opts = " ".join(f"{k}={v}" for k, v in tol.items())
    print("RESULT", name, " ".join(repr(float(v)) for v in vals), mode, opts)


rng = np.random.default_rng(1)
n, d = 100, 3
X_np = rng.standard_normal((n, d)).astype(np.float32)
true_W = np.array([[1.5, -2.0, 0.5]], dtype=np.float32)
Y_np = (X_np @ true_W.T + 0.3 + 0.05 * rng.standard_normal((n, 1))).astype(np.float32)

X = torch.from_numpy(X_np)
Y = torch.from_numpy(Y_np)
W = torch.zeros(1, d, requires_grad=True)
b = torch.zeros(1, requires_grad=True)

y_pred = torch.mm(X, W.t()) + b
loss = ((y_pred - Y) ** 2).mean()
loss.backward()
report("loss0", [loss.item()])
# the analytic gradient of the mean squared error
resid = (X_np @ np.zeros((d, 1), np.float32) - Y_np)
report("dW_autograd", W.grad.numpy())
report("dW_analytic", 2.0 * (resid * X_np).mean(axis=0))
report("db_autograd", b.grad.numpy())

lr = 0.1
for step in range(200):
    y_pred = torch.mm(X, W.t()) + b
    loss = ((y_pred - Y) ** 2).mean()
    if W.grad is not None:
        W.grad.zero_()
        b.grad.zero_()
    loss.backward()
    with torch.no_grad():
        W -= lr * W.grad
        b -= lr * b.grad
report("W_gd", W.detach().numpy(), rtol=1e-4)
report("b_gd", b.detach().numpy(), rtol=1e-4)
report("loss_gd", [loss.item()], rtol=1e-4)

# closed form with the framework's own matrix ops (float64)
Xa = torch.cat([torch.from_numpy(X_np.astype(np.float64)), torch.ones(n, 1, dtype=torch.float64)], dim=1)
Ya = torch.from_numpy(Y_np.astype(np.float64))
gram = torch.mm(Xa.t(), Xa)
rhs = torch.mm(Xa.t(), Ya)
report("gram", gram.numpy(), rtol=1e-10, atol=1e-12)
report("rhs", rhs.numpy(), rtol=1e-10, atol=1e-12)
