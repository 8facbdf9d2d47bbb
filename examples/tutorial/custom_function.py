"""A custom torch.autograd.Function with ctx.save_for_backward (PyTorch)."""
import numpy as np
import torch


def report(name, values, mode="exact", **tol):
    vals = np.asarray(values, dtype=np.float64).ravel()
    opts = " ".join(f"{k}={v}" for k, v in tol.items())
    print("RESULT", name, " ".join(repr(float(v)) for v in vals), mode, opts)


class MyExp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = torch.exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return grad_output * y


class ScaledClamp(torch.autograd.Function):
    """clamp(x, lo, hi) * scale, with non-tensor arguments (their grads are None)."""

    @staticmethod
    def forward(ctx, x, lo, hi, scale):
        ctx.save_for_backward(x)
        ctx.lo, ctx.hi, ctx.scale = lo, hi, scale
        return x.clamp(lo, hi) * scale

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        inside = ((x >= ctx.lo) & (x <= ctx.hi)).to(grad_output.dtype)
        return grad_output * inside * ctx.scale, None, None, None


x_np = np.linspace(-2.0, 2.0, 9)
x = torch.tensor(x_np, dtype=torch.float64, requires_grad=True)
y = MyExp.apply(x)
y.sum().backward()
report("exp_forward", y.detach().numpy(), rtol=1e-12, atol=1e-14)
report("exp_grad", x.grad.numpy(), rtol=1e-12, atol=1e-14)
report("exp_grad_analytic", np.exp(x_np), rtol=1e-12, atol=1e-14)

x.grad = None
w = torch.tensor(np.linspace(0.5, 1.5, 9), dtype=torch.float64)
z = ScaledClamp.apply(x * 1.3, -1.0, 1.0, 3.0)
(z * w).sum().backward()
report("clamp_forward", z.detach().numpy(), rtol=1e-12, atol=1e-14)
report("clamp_grad", x.grad.numpy(), rtol=1e-12, atol=1e-14)

# used inside a model: a custom activation in a small regression
xs = torch.linspace(-1, 1, 20).reshape(-1, 1)
ys = torch.exp(xs) * 0.5
lin = torch.nn.Linear(1, 1)
with torch.no_grad():
    lin.weight.fill_(0.2)
    lin.bias.fill_(-0.3)
opt = torch.optim.SGD(lin.parameters(), lr=0.1)
for _ in range(50):
    opt.zero_grad()
    loss = ((MyExp.apply(lin(xs)) - ys) ** 2).mean()
    loss.backward()
    opt.step()
report("fit", [loss.item(), lin.weight.item(), lin.bias.item()], rtol=1e-4)
