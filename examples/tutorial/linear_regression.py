"""Tutorial 3.2/3.3: linear regression with nn.Module, MSELoss and SGD (PyTorch)."""
import numpy as np
import torch
import torch.nn as nn


def report(name, values, mode="exact", **tol):
    vals = np.asarray(values, dtype=np.float64).ravel()
    opts = " ".join(f"{k}={v}" for k, v in tol.items())
    print("RESULT", name, " ".join(repr(float(v)) for v in vals), mode, opts)


class LinearRegression(nn.Module):
    def __init__(self, input_size):
        super(LinearRegression, self).__init__()
        self.linear = nn.Linear(input_size, 1)

    def forward(self, x):
        out = self.linear(x)
        return out


rng = np.random.default_rng(0)
X = rng.uniform(-1, 1, size=(64, 1)).astype(np.float32)
Y = (3.0 * X + 2.0 + 0.1 * rng.standard_normal((64, 1))).astype(np.float32)
report("data", [X.sum(), Y.sum()])

num_epochs = 300
input_size = 1


def train(model, record):
    criterion = nn.MSELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    losses = []
    for epoch in range(num_epochs):
        inputs = torch.from_numpy(X)
        targets = torch.from_numpy(Y)

        optimizer.zero_grad()
        outputs = model(inputs)
        loss = criterion(outputs, targets)
        loss.backward()
        if record and epoch == 0:
            report("grad_step0", [model.linear.weight.grad.item(), model.linear.bias.grad.item()])
        optimizer.step()
        losses.append(loss.item())
    return losses


# 1) weights set from fixed numbers: the whole trajectory is deterministic
torch.manual_seed(0)
model = LinearRegression(input_size)
with torch.no_grad():
    model.linear.weight.fill_(0.5)
    model.linear.bias.zero_()
losses = train(model, record=True)
report("loss_step0", [losses[0]])
report("loss_trajectory", losses[::50], rtol=1e-4)
report("fit_fixed_init", [model.linear.weight.item(), model.linear.bias.item()], rtol=1e-4)

# 2) the closed-form least-squares solution (normal equations)
A = np.hstack([X, np.ones_like(X)]).astype(np.float64)
w_star = np.linalg.solve(A.T @ A, A.T @ Y)
report("closed_form", w_star)

# 3) each framework's own random initial weights: compare by convergence
torch.manual_seed(42)
model = LinearRegression(input_size)
losses = train(model, record=False)
report("final_loss_random_init", [losses[-1]], "converge")
report("weights_random_init", [model.linear.weight.item(), model.linear.bias.item()],
       "converge")
