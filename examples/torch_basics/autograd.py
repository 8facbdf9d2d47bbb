"""Learn the Basics, 5: Automatic Differentiation with ``torch.autograd`` (PyTorch's
``autogradqs_tutorial``), for real PyTorch.

A one-layer network with ``requires_grad`` parameters, ``binary_cross_entropy_with_logits``,
``grad_fn``, ``loss.backward()`` and ``.grad``, disabling tracking (``torch.no_grad()``,
``detach()``), and the Jacobian-vector product with
``out.backward(torch.ones_like(out), retain_graph=True)`` (gradients accumulate;
``inp.grad.zero_()``).
"""
import warnings

import numpy as np
import torch


def report(name, values, mode="exact", **tol):
    vals = np.asarray(values, dtype=np.float64).ravel()
    opts = " ".join(f"{k}={v}" for k, v in tol.items())
    print("RESULT", name, " ".join(repr(float(v)) for v in vals), mode, opts)


x = torch.ones(5)  # input tensor
y = torch.zeros(3)  # expected output
# the tutorial's torch.randn(5, 3, requires_grad=True), from NumPy so both engines agree
rng = np.random.default_rng(0)
w = torch.tensor(rng.standard_normal((5, 3)), dtype=torch.float32, requires_grad=True)
b = torch.tensor(rng.standard_normal(3), dtype=torch.float32, requires_grad=True)
z = torch.matmul(x, w) + b
loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
report("z", z.detach().numpy())
report("loss", [loss.item()])

print(f"Gradient function for z = {z.grad_fn}")
print(f"Gradient function for loss = {loss.grad_fn}")
report("grad_fns", [z.grad_fn is not None, loss.grad_fn is not None, x.grad_fn is None,
                    w.grad_fn is None, w.is_leaf, z.is_leaf])

# ---- Computing Gradients ---------------------------------------------------------------------
loss.backward()
print(w.grad)
print(b.grad)
report("w_grad", w.grad.numpy())
report("b_grad", b.grad.numpy())
# closed form: d/dz mean(BCE(sigmoid(z), 0)) = sigmoid(z) / 3, dz/dw = x (outer), dz/db = 1
zs = x.numpy() @ w.detach().numpy() + b.detach().numpy()
s = 1.0 / (1.0 + np.exp(-zs)) / 3.0
report("w_grad_closed_form", [float(np.abs(w.grad.numpy() - np.outer(x.numpy(), s)).max()) < 1e-6])
with warnings.catch_warnings():
    warnings.simplefilter("ignore")     # PyTorch warns: .grad of a non-leaf tensor
    report("z_grad_not_retained", [z.grad is None])

# ---- Disabling Gradient Tracking ---------------------------------------------------------------
z = torch.matmul(x, w) + b
print(z.requires_grad)
report("tracked", [z.requires_grad])

with torch.no_grad():
    z = torch.matmul(x, w) + b
print(z.requires_grad)
report("no_grad", [z.requires_grad, z.grad_fn is None])

z = torch.matmul(x, w) + b
z_det = z.detach()
print(z_det.requires_grad)
report("detach", [z_det.requires_grad, z_det.is_leaf, torch.equal(z_det, z.detach())])
z_det.zero_()                       # detach shares storage with z
report("detach_shares_storage", z.detach().numpy())

# requires_grad_ and freezing a parameter
w2 = torch.ones(2, 2)
w2.requires_grad_(True)
(w2 * 3).sum().backward()
report("requires_grad_", w2.grad.numpy())

# ---- Optional Reading: Tensor Gradients and Jacobian Products -----------------------------------
inp = torch.eye(4, 5, requires_grad=True)
out = (inp + 1).pow(2).t()
out.backward(torch.ones_like(out), retain_graph=True)
print(f"First call\n{inp.grad}")
report("jvp_first", inp.grad.numpy())
out.backward(torch.ones_like(out), retain_graph=True)
print(f"\nSecond call\n{inp.grad}")
report("jvp_second", inp.grad.numpy())
inp.grad.zero_()
out.backward(torch.ones_like(out), retain_graph=True)
print(f"\nCall after zeroing gradients\n{inp.grad}")
report("jvp_after_zero", inp.grad.numpy())

v = torch.from_numpy(rng.standard_normal((5, 4)).astype(np.float32))
inp.grad = None
out.backward(v)
report("vjp_weighted", inp.grad.numpy())

# backward a second time without retain_graph: PyTorch raises RuntimeError
try:
    out.backward(torch.ones_like(out))
    err = "none"
except RuntimeError:
    err = "RuntimeError"
print("RESULT backward_twice", err, "text")

# torch.autograd.grad, and a non-scalar output without a gradient argument
a = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
(ga,) = torch.autograd.grad((a ** 3).sum(), a)
report("autograd_grad", ga.numpy())
try:
    (a * 2).backward()
    err = "none"
except RuntimeError:
    err = "RuntimeError"
print("RESULT nonscalar_backward", err, "text")
