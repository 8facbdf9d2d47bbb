"""``torchvision.datasets``: MNIST, FashionMNIST, CIFAR10 and ImageFolder.

The files are read where torchvision reads them: ``root/MNIST/raw/*-ubyte`` (and
``root/FashionMNIST/raw``), ``root/cifar-10-batches-py/``, and for ``ImageFolder`` one
folder per class. ``download=True`` fetches the originals when the network allows
(checking their MD5s); otherwise, and when files are missing, the error names the files
expected and where. Files already present are used as they are (no hash check: tests
build small files in the same formats).

Items are ``(image, target)``: the image as a PIL image (``mode "L"`` for MNIST, RGB for
CIFAR-10), as torchvision gives, when Pillow (the ``vision`` extra) is installed, or else
as the uint8 NumPy array (H, W[, C]) -- ``transforms.ToTensor`` takes either; the target
a Python int. ``data`` and ``targets`` are tensors (MNIST) or an array and a list
(CIFAR-10), as in torchvision.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

import yingshe
from yingshe.datasets import files as _files
from yingshe.torch._errors import unsupported_getattr
from yingshe.torch.utils.data import Dataset

# (IMG_EXTENSIONS and default_loader live in torchvision.datasets.folder; here they are
# module attributes, not listed names)
__all__ = ["VisionDataset", "MNIST", "FashionMNIST", "CIFAR10", "ImageFolder", "DatasetFolder"]


def _image(arr: np.ndarray, mode: str | None):
    """A PIL image of ``arr`` when Pillow is installed, else the array itself."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - depends on the environment
        return arr
    return Image.fromarray(arr, mode=mode) if mode else Image.fromarray(arr)


class VisionDataset(Dataset):
    """Base class: ``root``, ``transform``, ``target_transform``, ``transforms``."""

    def __init__(self, root=None, transforms=None, transform=None, target_transform=None):
        self.root = os.path.expanduser(os.fspath(root)) if root is not None else None
        has_separate = transform is not None or target_transform is not None
        if transforms is not None and has_separate:
            raise ValueError("Only transforms or transform/target_transform can be passed as "
                             "argument")
        self.transform, self.target_transform = transform, target_transform
        self.transforms = transforms

    def _ensure_files(self, download: bool, folder: str) -> None:
        """Download when asked (and missing), then check that the files are there; the
        error names them and the folder."""
        if download:
            self.download()
        if not self._check_exists():
            raise RuntimeError(f"{self.not_found} You can use download=True to download it "
                               f"(expected {', '.join(self._expected())} in {folder})")

    def _apply(self, img, target):
        if self.transforms is not None:
            return self.transforms(img, target)
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __repr__(self) -> str:
        lines = [f"Dataset {type(self).__name__}", f"    Number of datapoints: {len(self)}"]
        if self.root is not None:
            lines.append(f"    Root location: {self.root}")
        lines += ["    " + ln for ln in self.extra_repr().splitlines()]
        if self.transform is not None:
            lines.append(f"    StandardTransform\nTransform: {self.transform!r}")
        return "\n".join(lines)

    def extra_repr(self) -> str:
        return ""


class MNIST(VisionDataset):
    """``torchvision.datasets.MNIST(root, train=True, transform=None, target_transform=None,
    download=False)``: 28x28 digits from ``root/MNIST/raw``."""

    mirrors = ["https://ossci-datasets.s3.amazonaws.com/mnist/",
               "http://yann.lecun.com/exdb/mnist/"]
    resources = [
        ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    ]
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five",
               "6 - six", "7 - seven", "8 - eight", "9 - nine"]

    not_found = "Dataset not found."

    def __init__(self, root, train: bool = True, transform=None, target_transform=None,
                 download: bool = False):
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = train
        self._ensure_files(download, self.raw_folder)
        x, y = _files.read_mnist(self.raw_folder, "train" if train else "test")
        self.data = yingshe.from_numpy(x)
        self.targets = yingshe.from_numpy(y.astype(np.int64))

    @property
    def raw_folder(self) -> str:
        return os.path.join(self.root, type(self).__name__, "raw")

    @property
    def class_to_idx(self) -> dict:
        return {c: i for i, c in enumerate(self.classes)}

    def _expected(self) -> list[str]:
        return [os.path.splitext(f)[0] for f, _ in self.resources]

    def _check_exists(self) -> bool:
        return all(os.path.isfile(os.path.join(self.raw_folder, f)) for f in self._expected())

    def download(self) -> None:
        """Fetch and decompress the four files, unless they are present."""
        if self._check_exists():
            return
        os.makedirs(self.raw_folder, exist_ok=True)
        expected = f"{', '.join(self._expected())} in {self.raw_folder}"
        for name, md5 in self.resources:
            gz = os.path.join(self.raw_folder, name)
            if not os.path.isfile(gz):
                _files.download([m + name for m in self.mirrors], gz, md5, expected)
            _files.gunzip(gz, os.path.splitext(gz)[0])

    def __len__(self) -> int:
        return int(self.data.shape[0])

    def __getitem__(self, index):
        img = _image(self.data._data[index], "L")
        return self._apply(img, int(self.targets._data[index]))

    def extra_repr(self) -> str:
        return f"Split: {'Train' if self.train else 'Test'}"

    # torchvision's deprecated names, still common in tutorials (with its warning)
    def _renamed(self, old: str, new: str):
        warnings.warn(f"{old} has been renamed {new}", UserWarning, stacklevel=3)
        return getattr(self, new)

    @property
    def train_data(self):
        return self._renamed("train_data", "data")

    @property
    def test_data(self):
        return self._renamed("test_data", "data")

    @property
    def train_labels(self):
        return self._renamed("train_labels", "targets")

    @property
    def test_labels(self):
        return self._renamed("test_labels", "targets")


class FashionMNIST(MNIST):
    """``torchvision.datasets.FashionMNIST``: MNIST's format, from ``root/FashionMNIST/raw``."""

    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    resources = [
        ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    ]
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]


class CIFAR10(VisionDataset):
    """``torchvision.datasets.CIFAR10(root, train=True, transform=None,
    target_transform=None, download=False)``: 32x32 RGB images from
    ``root/cifar-10-batches-py`` (the python version; read without running any pickle
    code, see ``yingshe.datasets.files``)."""

    base_folder = "cifar-10-batches-py"
    url = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    filename = "cifar-10-python.tar.gz"
    tgz_md5 = "c58f30108f718f92721af3b95e74349a"

    not_found = "Dataset not found or corrupted."

    def __init__(self, root, train: bool = True, transform=None, target_transform=None,
                 download: bool = False):
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = train
        self._ensure_files(download, self.folder)
        self.data, targets = _files.read_cifar10(self.folder, "train" if train else "test")
        self.targets = [int(t) for t in targets]
        self.classes = _files.cifar10_classes(self.folder)
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    @property
    def folder(self) -> str:
        return os.path.join(self.root, self.base_folder)

    def _expected(self) -> list[str]:
        return _files.CIFAR10_BATCHES["train"] + _files.CIFAR10_BATCHES["test"] + \
            ["batches.meta"]

    def _check_exists(self) -> bool:
        return all(os.path.isfile(os.path.join(self.folder, f)) for f in self._expected())

    def download(self) -> None:
        if self._check_exists():
            return
        archive = os.path.join(self.root, self.filename)
        if not os.path.isfile(archive):
            _files.download([self.url], archive, self.tgz_md5,
                            f"{', '.join(self._expected())} in {self.folder}")
        _files.extract_tar(archive, self.root)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index):
        return self._apply(_image(self.data[index], None), self.targets[index])

    def extra_repr(self) -> str:
        return f"Split: {'Train' if self.train else 'Test'}"


IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def default_loader(path: str):
    """Open an image file as an RGB PIL image (Pillow: the ``vision`` extra)."""
    try:
        from PIL import Image
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("ImageFolder reads images with Pillow: pip install "
                          "'yingshe[vision]'") from err
    with open(path, "rb") as fh:
        img = Image.open(fh)
        return img.convert("RGB")


class DatasetFolder(VisionDataset):
    """Samples in ``root/<class>/**/<file>``; classes are the sorted sub-folder names."""

    def __init__(self, root, loader, extensions=None, transform=None, target_transform=None,
                 is_valid_file=None, allow_empty: bool = False):
        super().__init__(root, transform=transform, target_transform=target_transform)
        if (extensions is None) == (is_valid_file is None):
            raise ValueError("Both extensions and is_valid_file cannot be None or not None at "
                             "the same time")
        self.classes, self.class_to_idx = self.find_classes(self.root)
        self.samples = self.make_dataset(self.root, self.class_to_idx, extensions,
                                         is_valid_file, allow_empty)
        self.loader, self.extensions = loader, extensions
        self.targets = [s[1] for s in self.samples]
        self.imgs = self.samples

    @staticmethod
    def find_classes(directory: str):
        classes = sorted(e.name for e in os.scandir(directory) if e.is_dir())
        if not classes:
            raise FileNotFoundError(f"Couldn't find any class folder in {directory}.")
        return classes, {c: i for i, c in enumerate(classes)}

    @staticmethod
    def make_dataset(directory, class_to_idx, extensions=None, is_valid_file=None,
                     allow_empty: bool = False):
        if extensions is not None:
            exts = tuple(e.lower() for e in (extensions if isinstance(extensions, tuple)
                                             else (extensions,)))

            def is_valid_file(path):  # noqa: F811 - torchvision's rule
                return path.lower().endswith(exts)
        samples, empty = [], []
        for target_class in sorted(class_to_idx):
            idx = class_to_idx[target_class]
            target_dir = os.path.join(directory, target_class)
            found = False
            for root, _, fnames in sorted(os.walk(target_dir, followlinks=True)):
                for fname in sorted(fnames):
                    path = os.path.join(root, fname)
                    if is_valid_file(path):
                        samples.append((path, idx))
                        found = True
            if not found:
                empty.append(target_class)
        if empty and not allow_empty:
            msg = f"Found no valid file for the classes {', '.join(sorted(empty))}. "
            if extensions is not None:
                msg += f"Supported extensions are: {', '.join(exts)}"
            raise FileNotFoundError(msg)
        return samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index):
        path, target = self.samples[index]
        return self._apply(self.loader(path), target)


class ImageFolder(DatasetFolder):
    """``torchvision.datasets.ImageFolder(root, transform=None, target_transform=None,
    loader=default_loader, is_valid_file=None, allow_empty=False)``: one folder per class,
    images read by Pillow as RGB."""

    def __init__(self, root, transform=None, target_transform=None, loader=default_loader,
                 is_valid_file=None, allow_empty: bool = False):
        super().__init__(root, loader, IMG_EXTENSIONS if is_valid_file is None else None,
                         transform=transform, target_transform=target_transform,
                         is_valid_file=is_valid_file, allow_empty=allow_empty)


__getattr__ = unsupported_getattr(__name__)
