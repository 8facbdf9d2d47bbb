"""Higher-order gradients with create_graph=True (PyTorch)."""
import numpy as np
import torch


def report(name, values, mode="exact", **tol):
    vals = np.asarray(values, dtype=np.float64).ravel()
    opts = " ".join(f"{k}={v}" for k, v in tol.items())
    print("RESULT", name, " ".join(repr(float(v)) for v in vals), mode, opts)


T = dict(rtol=1e-12, atol=1e-14)
x_np = np.array([-1.5, -0.3, 0.2, 0.9, 2.0])
x = torch.tensor(x_np, requires_grad=True, dtype=torch.float64)

y = (x ** 3 + torch.sin(x)).sum()
(g1,) = torch.autograd.grad(y, x, create_graph=True)
(g2,) = torch.autograd.grad(g1.sum(), x, create_graph=True)
(g3,) = torch.autograd.grad(g2.sum(), x)
report("d1", g1.detach().numpy(), **T)
report("d2", g2.detach().numpy(), **T)
report("d3", g3.numpy(), **T)
report("d1_analytic", 3 * x_np ** 2 + np.cos(x_np), **T)
report("d3_analytic", 6 - np.cos(x_np), **T)

# Hessian-vector product of f(w) = log(sum(exp(A w))) + 0.5 |w|^2
rng = np.random.default_rng(5)
A = torch.tensor(rng.standard_normal((6, 4)))
w = torch.tensor(rng.standard_normal(4), requires_grad=True)
v = torch.tensor(rng.standard_normal(4))
f = torch.logsumexp(torch.mv(A, w), dim=0) + 0.5 * (w * w).sum()
(g,) = torch.autograd.grad(f, w, create_graph=True)
(hv,) = torch.autograd.grad((g * v).sum(), w)
report("grad_f", g.detach().numpy(), **T)
report("hvp", hv.numpy(), **T)

# a gradient penalty: the gradient of |d loss / d input|^2 with respect to the weights
torch.manual_seed(0)
lin = torch.nn.Linear(3, 1).double()
with torch.no_grad():
    lin.weight.copy_(torch.tensor([[0.3, -0.2, 0.5]], dtype=torch.float64))
    lin.bias.fill_(0.1)
inp = torch.tensor(rng.standard_normal((4, 3)), requires_grad=True)
out = torch.tanh(lin(inp)).sum()
(gi,) = torch.autograd.grad(out, inp, create_graph=True)
penalty = (gi ** 2).sum()
penalty.backward()
report("penalty", [penalty.item()], **T)
report("penalty_grad_w", lin.weight.grad.numpy(), **T)

# backward(create_graph=True) then grad of .grad
z = torch.tensor([0.7], dtype=torch.float64, requires_grad=True)
(z ** 4).sum().backward(create_graph=True)
(gg,) = torch.autograd.grad(z.grad.sum(), z)
report("second_via_backward", [z.grad.item(), gg.item()], **T)
