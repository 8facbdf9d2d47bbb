"""Learn the Basics, 4: Build the Neural Network (PyTorch's ``buildmodel_tutorial``), for
real PyTorch, with the digits' 8x8 images instead of FashionMNIST's 28x28.

The device idiom, ``nn.Module`` with ``nn.Flatten`` + ``nn.Sequential`` of
``Linear``/``ReLU``, ``model(X)``, ``nn.Softmax(dim=1)``, ``argmax(1)``, each layer on its
own, and ``named_parameters()``.
"""
import numpy as np
import torch
from torch import nn


def report(name, values, mode="exact", **tol):
    vals = np.asarray(values, dtype=np.float64).ravel()
    opts = " ".join(f"{k}={v}" for k, v in tol.items())
    print("RESULT", name, " ".join(repr(float(v)) for v in vals), mode, opts)


device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"
print(f"Using {device} device")


class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(8 * 8, 64),
            nn.ReLU(),
            nn.Linear(64, 64),
            nn.ReLU(),
            nn.Linear(64, 10),
        )

    def forward(self, x):
        x = self.flatten(x)
        logits = self.linear_relu_stack(x)
        return logits


model = NeuralNetwork().to(device)
print(model)
report("structure", [len(list(model.children())), len(model.linear_relu_stack),
                     sum(p.numel() for p in model.parameters())])
report("training_mode", [model.training])

# the model's own random weights, then the same weights set from NumPy on both engines
torch.manual_seed(0)
X = torch.rand(1, 8, 8, device=device)
logits = model(X)
pred_probab = nn.Softmax(dim=1)(logits)
y_pred = pred_probab.argmax(1)
print(f"Predicted class: {y_pred}")
report("random_init_shapes", [*logits.shape, pred_probab.sum().item(), y_pred.shape[0]], atol=1e-6)

rng = np.random.default_rng(0)
with torch.no_grad():
    for name, param in model.named_parameters():
        param.copy_(torch.from_numpy((0.2 * rng.standard_normal(tuple(param.shape))).astype(np.float32)))
X = torch.from_numpy(rng.uniform(0, 1, (3, 8, 8)).astype(np.float32))
logits = model(X)
pred_probab = nn.Softmax(dim=1)(logits)
y_pred = pred_probab.argmax(1)
report("logits", logits.detach().numpy())
report("probabilities", pred_probab.detach().numpy())
report("predicted", y_pred.tolist())

# ---- Model Layers ----------------------------------------------------------------------------
input_image = X
print(input_image.size())
flatten = nn.Flatten()
flat_image = flatten(input_image)
print(flat_image.size())
report("flatten", [*flat_image.size(), torch.equal(flat_image, X.reshape(3, 64))])

layer1 = nn.Linear(in_features=8 * 8, out_features=20)
with torch.no_grad():
    layer1.weight.copy_(torch.from_numpy(rng.standard_normal((20, 64)).astype(np.float32) / 8))
    layer1.bias.fill_(0.1)
hidden1 = layer1(flat_image)
print(hidden1.size())
report("hidden1", hidden1.detach().numpy())

print(f"Before ReLU: {hidden1}\n\n")
hidden1 = nn.ReLU()(hidden1)
print(f"After ReLU: {hidden1}")
report("relu", hidden1.detach().numpy())

seq_modules = nn.Sequential(
    flatten,
    layer1,
    nn.ReLU(),
    nn.Linear(20, 10),
)
with torch.no_grad():
    seq_modules[3].weight.copy_(torch.from_numpy(rng.standard_normal((10, 20)).astype(np.float32) / 4))
    seq_modules[3].bias.zero_()
logits = seq_modules(input_image)
softmax = nn.Softmax(dim=1)
pred_probab = softmax(logits)
report("seq_logits", logits.detach().numpy())
report("seq_probab", pred_probab.detach().numpy())
report("seq_probab_rows", pred_probab.sum(1).tolist())

# ---- Model Parameters --------------------------------------------------------------------------
print(f"Model structure: {model}\n\n")
names, sizes = [], []
for name, param in model.named_parameters():
    print(f"Layer: {name} | Size: {param.size()} | Values : {param[:2]} \n")
    names.append(name)
    sizes.extend(param.size())
print("RESULT parameter_names", " ".join(names), "text")
report("parameter_sizes", sizes)
report("parameter_heads", [p[:2].sum().item() for p in model.parameters()])
