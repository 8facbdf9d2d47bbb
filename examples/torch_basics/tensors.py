"""Learn the Basics, 1: Tensors (PyTorch's ``tensorqs_tutorial``), for real PyTorch.

Initialising tensors (from data, from NumPy, from another tensor, with a shape),
their attributes, the device idiom, indexing and slicing, ``torch.cat``, matrix and
elementwise products (``@``, ``.T``, ``matmul``/``mul`` with ``out=``), single-element
tensors, in-place ``add_``, and the NumPy bridge (shared memory both ways).
"""
import numpy as np
import torch


def report(name, values, mode="exact", **tol):
    vals = np.asarray(values, dtype=np.float64).ravel()
    opts = " ".join(f"{k}={v}" for k, v in tol.items())
    print("RESULT", name, " ".join(repr(float(v)) for v in vals), mode, opts)


# ---- Initializing a Tensor ----------------------------------------------------------------
data = [[1, 2], [3, 4]]
x_data = torch.tensor(data)
report("x_data", x_data.numpy())
report("x_data_is_int64", [x_data.dtype == torch.int64])

np_array = np.array(data)
x_np = torch.from_numpy(np_array)
report("x_np", x_np.numpy())

x_ones = torch.ones_like(x_data)  # retains the properties of x_data
print(f"Ones Tensor: \n {x_ones} \n")
report("x_ones", [x_ones.sum().item(), x_ones.dtype == torch.int64])

torch.manual_seed(0)
x_rand = torch.rand_like(x_data, dtype=torch.float)  # overrides the datatype of x_data
print(f"Random Tensor: \n {x_rand} \n")
report("x_rand_range", [x_rand.dtype == torch.float32, bool((x_rand >= 0).all()),
                        bool((x_rand < 1).all()), x_rand.shape == x_data.shape])

shape = (2, 3,)
rand_tensor = torch.rand(shape)
ones_tensor = torch.ones(shape)
zeros_tensor = torch.zeros(shape)
print(f"Random Tensor: \n {rand_tensor} \n")
print(f"Ones Tensor: \n {ones_tensor} \n")
print(f"Zeros Tensor: \n {zeros_tensor}")
report("shapes", [*rand_tensor.shape, ones_tensor.sum().item(), zeros_tensor.abs().sum().item()])

# ---- Attributes of a Tensor ----------------------------------------------------------------
tensor = torch.rand(3, 4)
print(f"Shape of tensor: {tensor.shape}")
print(f"Datatype of tensor: {tensor.dtype}")
print(f"Device tensor is stored on: {tensor.device}")
report("attributes", [*tensor.shape, tensor.dtype == torch.float32, tensor.device.type == "cpu",
                      tensor.size() == torch.Size([3, 4]), tensor.ndim, tensor.numel()])

# We move our tensor to the current accelerator if available
if torch.accelerator.is_available():
    tensor = tensor.to(torch.accelerator.current_accelerator())
report("on_cpu", [tensor.device.type == "cpu"])

# ---- Operations on Tensors ------------------------------------------------------------------
tensor = torch.ones(4, 4)
print(f"First row: {tensor[0]}")
print(f"First column: {tensor[:, 0]}")
print(f"Last column: {tensor[..., -1]}")
tensor[:, 1] = 0
print(tensor)
report("indexing", tensor.numpy())
report("first_row_col_last", [*tensor[0].tolist(), *tensor[:, 0].tolist(), *tensor[..., -1].tolist()])

t1 = torch.cat([tensor, tensor, tensor], dim=1)
print(t1)
report("cat", [*t1.shape, t1.sum().item()])
report("cat_dim0_stack", [*torch.cat([tensor, tensor], dim=0).shape,
                          *torch.stack([tensor, tensor]).shape])

# Arithmetic: a fixed tensor from NumPy so that the products are exact
tensor = torch.from_numpy(np.arange(12, dtype=np.float32).reshape(3, 4) / 4)
y1 = tensor @ tensor.T
y2 = tensor.matmul(tensor.T)
y3 = torch.rand_like(y1)
torch.matmul(tensor, tensor.T, out=y3)
report("matmul", y1.numpy())
report("matmul_same", [torch.equal(y1, y2), torch.equal(y1, y3)])

z1 = tensor * tensor
z2 = tensor.mul(tensor)
z3 = torch.rand_like(tensor)
torch.mul(tensor, tensor, out=z3)
report("mul", z1.numpy())
report("mul_same", [torch.equal(z1, z2), torch.equal(z1, z3)])

agg = tensor.sum()
agg_item = agg.item()
print(agg_item, type(agg_item))
report("agg_item", [agg_item, isinstance(agg_item, float)])
report("reductions", [tensor.mean().item(), tensor.max().item(), tensor.argmax().item(),
                      *tensor.sum(dim=0).tolist(), *tensor.std(dim=1).tolist()])

print(f"{tensor} \n")
tensor.add_(5)
print(tensor)
report("add_", tensor.numpy())

# ---- Bridge with NumPy ----------------------------------------------------------------------
t = torch.ones(5)
print(f"t: {t}")
n = t.numpy()
print(f"n: {n}")
t.add_(1)                       # a change in the tensor reflects in the NumPy array
print(f"t: {t}")
print(f"n: {n}")
report("tensor_to_numpy_shares", [*n.tolist(), isinstance(n, np.ndarray)])

n = np.ones(5)
t = torch.from_numpy(n)
np.add(n, 1, out=n)             # changes in the NumPy array reflect in the tensor
print(f"t: {t}")
print(f"n: {n}")
report("numpy_to_tensor_shares", [*t.tolist(), t.dtype == torch.float64])
