"""Learn the Basics, 2-3: Datasets & DataLoaders and Transforms (PyTorch's
``data_tutorial`` and ``transforms_tutorial``), for real PyTorch, on scikit-learn's
bundled 8x8 digits instead of FashionMNIST (no download, no torchvision).

A custom ``Dataset`` (``__init__``, ``__len__``, ``__getitem__``) with ``transform`` and
``target_transform`` (the tutorial's ``Lambda`` one-hot: ``torch.zeros(10).scatter_``),
indexing it like a list, ``DataLoader`` with batches and shuffling, iterating it.
"""
import numpy as np
import torch
from torch.utils.data import Dataset, DataLoader
from sklearn.datasets import load_digits


def report(name, values, mode="exact", **tol):
    vals = np.asarray(values, dtype=np.float64).ravel()
    opts = " ".join(f"{k}={v}" for k, v in tol.items())
    print("RESULT", name, " ".join(repr(float(v)) for v in vals), mode, opts)


class DigitsDataset(Dataset):
    """The 1797 8x8 digit images, as FashionMNIST's (image, label) pairs: a float image of
    shape (1, 8, 8) in [0, 1] and an integer label."""

    def __init__(self, train=True, transform=None, target_transform=None):
        digits = load_digits()
        order = np.random.default_rng(0).permutation(len(digits.target))
        idx = order[:1500] if train else order[1500:]
        self.images = digits.images[idx].astype(np.float32)
        self.img_labels = digits.target[idx]
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self):
        return len(self.img_labels)

    def __getitem__(self, idx):
        image = self.images[idx]
        label = int(self.img_labels[idx])
        if self.transform:
            image = self.transform(image)
        if self.target_transform:
            label = self.target_transform(label)
        return image, label


def to_tensor(image):
    """What torchvision's ToTensor does to a grey image: (H, W) -> (1, H, W), scaled into
    [0, 1] (the digits' pixels are 0..16)."""
    return torch.from_numpy(image).unsqueeze(0) / 16.0


def one_hot(y):
    """The transforms tutorial's ``Lambda`` target transform."""
    return torch.zeros(10, dtype=torch.float).scatter_(0, torch.tensor(y), value=1)


training_data = DigitsDataset(train=True, transform=to_tensor)
test_data = DigitsDataset(train=False, transform=to_tensor)
report("lengths", [len(training_data), len(test_data)])

labels_map = {i: str(i) for i in range(10)}
torch.manual_seed(0)
for i in range(1, 10):
    sample_idx = torch.randint(len(training_data), size=(1,)).item()
    img, label = training_data[sample_idx]
    assert img.shape == (1, 8, 8) and labels_map[label] == str(label)
img, label = training_data[0]
report("first_item", [*img.shape, img.sum().item(), img.max().item(), label])
report("first_item_dtype", [img.dtype == torch.float32, isinstance(label, int)])

# ---- DataLoader: batches in order -----------------------------------------------------------
train_dataloader = DataLoader(training_data, batch_size=64, shuffle=False)
test_dataloader = DataLoader(test_data, batch_size=64, shuffle=False)
train_features, train_labels = next(iter(train_dataloader))
print(f"Feature batch shape: {train_features.size()}")
print(f"Labels batch shape: {train_labels.size()}")
report("batch_shapes", [*train_features.size(), *train_labels.size()])
report("batch_dtypes", [train_features.dtype == torch.float32, train_labels.dtype == torch.int64])
img = train_features[0].squeeze()
label = train_labels[0]
print(f"Label: {label}")
report("batch_first", [*img.shape, img.sum().item(), label.item()])
report("batch_sums", [train_features.sum().item(), train_labels.sum().item()], rtol=1e-6)

sizes = [len(X) for X, y in test_dataloader]
report("test_batches", [len(test_dataloader), *sizes])
total = sum(y.sum().item() for X, y in train_dataloader)
report("all_labels_sum", [total, float(training_data.img_labels.sum())])

# ---- shuffling: a permutation of the data each epoch ------------------------------------------
train_dataloader = DataLoader(training_data, batch_size=64, shuffle=True)
for epoch in range(2):
    seen = torch.cat([y for X, y in train_dataloader])
    counts = [(seen == k).sum().item() for k in range(10)]
    report(f"shuffled_epoch{epoch}", [len(seen), seen.sum().item(), *counts])
# every (image, label) pair stays together: compare the sorted keys pixel-sum * 10 + label
X, y = next(iter(DataLoader(training_data, batch_size=1500, shuffle=True)))
keys = torch.sort(X.flatten(1).sum(1) * 16 * 10 + y).values
ref = np.sort(training_data.images.reshape(-1, 64).sum(1) * 10 + training_data.img_labels)
report("shuffled_pairs_match", [X.shape[0], bool((keys.numpy() == ref).all())])

# ---- drop_last, and the target transform ----------------------------------------------------
loader = DataLoader(test_data, batch_size=64, drop_last=True)
report("drop_last", [len(loader), sum(len(y) for _, y in loader)])

ds = DigitsDataset(train=False, transform=to_tensor, target_transform=one_hot)
img, target = ds[3]
report("one_hot_target", target.tolist())
report("one_hot_is_label", [target.argmax().item(), int(ds.img_labels[3])])
Xb, yb = next(iter(DataLoader(ds, batch_size=16)))
report("one_hot_batch", [*yb.shape, yb.sum().item(), *yb.argmax(1).tolist()])
