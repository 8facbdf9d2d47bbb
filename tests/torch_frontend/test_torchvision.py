"""``yingshe.torchvision`` against real torchvision 0.28.0 (the release paired with torch
2.13.0): datasets read from small files written in the real formats, transforms on PIL
images and tensors, ``make_grid``/``save_image``.

The ``tv`` fixture (conftest.py) imports the real torchvision beside this CPU build of
torch (see there why and how).
"""

from __future__ import annotations

import io
import os
import pickle
import sys

import numpy as np
import pytest

import yingshe.torch as ytorch
import yingshe.torchvision as ytv
from yingshe.datasets import write_idx

PIL = pytest.importorskip("PIL.Image", reason="the vision extra (Pillow) is not installed")
Image = PIL


def _rng(seed=0):
    return np.random.default_rng(seed)


# ---- MNIST / FashionMNIST --------------------------------------------------------------------

def _write_mnist(root, cls="MNIST", n_train=7, n_test=5, seed=0):
    rng = _rng(seed)
    raw = os.path.join(root, cls, "raw")
    os.makedirs(raw)
    data = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, n, dtype=np.uint8)
        write_idx(os.path.join(raw, f"{split}-images-idx3-ubyte"), x)
        write_idx(os.path.join(raw, f"{split}-labels-idx1-ubyte"), y)
        data[split] = (x, y)
    return data


@pytest.mark.parametrize("cls", ["MNIST", "FashionMNIST"])
@pytest.mark.parametrize("train", [True, False])
def test_mnist_like_matches_torchvision(tv, tmp_path, cls, train):
    _write_mnist(str(tmp_path), cls)
    ref = getattr(tv.datasets, cls)(str(tmp_path), train=train)
    ours = getattr(ytv.datasets, cls)(str(tmp_path), train=train)
    assert len(ours) == len(ref)
    np.testing.assert_array_equal(ours.data.numpy(), ref.data.numpy())
    np.testing.assert_array_equal(ours.targets.numpy(), ref.targets.numpy())
    assert str(ours.data.dtype).split(".")[-1] == str(ref.data.dtype).split(".")[-1]
    assert ours.targets.dtype == ytorch.int64
    assert ours.classes == ref.classes and ours.class_to_idx == ref.class_to_idx
    for i in (0, len(ref) - 1):
        (ri, rt), (yi, yt) = ref[i], ours[i]
        assert type(yt) is type(rt) is int and yt == rt
        assert yi.mode == ri.mode and yi.size == ri.size
        np.testing.assert_array_equal(np.asarray(yi), np.asarray(ri))
    with pytest.warns(UserWarning):
        np.testing.assert_array_equal(ours.train_data.numpy(), ref.data.numpy())
    with pytest.warns(UserWarning):
        np.testing.assert_array_equal(ours.test_labels.numpy(), ref.targets.numpy())


def test_mnist_transforms_and_dataloader(tv, tmp_path):
    _write_mnist(str(tmp_path))
    tref = tv.transforms.Compose([tv.transforms.ToTensor(),
                                  tv.transforms.Normalize((0.1307,), (0.3081,))])
    tys = ytv.transforms.Compose([ytv.transforms.ToTensor(),
                                  ytv.transforms.Normalize((0.1307,), (0.3081,))])
    ref = tv.datasets.MNIST(str(tmp_path), transform=tref, target_transform=lambda t: t + 1)
    ours = ytv.datasets.MNIST(str(tmp_path), transform=tys, target_transform=lambda t: t + 1)
    for i in range(len(ref)):
        (rx, ry), (yx, yy) = ref[i], ours[i]
        assert yy == ry
        np.testing.assert_allclose(yx.numpy(), rx.numpy(), rtol=1e-6, atol=1e-6)
        assert yx.dtype == ytorch.float32 and tuple(yx.shape) == (1, 28, 28)
    loader = ytorch.utils.data.DataLoader(ours, batch_size=3, shuffle=False)
    xb, yb = next(iter(loader))
    assert tuple(xb.shape) == (3, 1, 28, 28) and yb.dtype == ytorch.int64


def test_mnist_missing_files_error_names_them(tv, tmp_path):
    with pytest.raises(RuntimeError, match="Dataset not found"):
        tv.datasets.MNIST(str(tmp_path))
    with pytest.raises(RuntimeError, match="Dataset not found") as err:
        ytv.datasets.MNIST(str(tmp_path))
    assert "train-images-idx3-ubyte" in str(err.value)
    assert os.path.join(str(tmp_path), "MNIST", "raw") in str(err.value)


def test_download_without_network_names_the_expected_files(tmp_path, monkeypatch):
    # a closed local port: the "network" refuses at once
    monkeypatch.setattr(ytv.datasets.MNIST, "mirrors", ["http://127.0.0.1:9/"])
    with pytest.raises(RuntimeError) as err:
        ytv.datasets.MNIST(str(tmp_path), download=True)
    msg = str(err.value)
    assert "could not download train-images-idx3-ubyte.gz" in msg
    assert "t10k-labels-idx1-ubyte" in msg and str(tmp_path) in msg


def test_download_is_skipped_when_files_exist(tmp_path, monkeypatch):
    _write_mnist(str(tmp_path))
    monkeypatch.setattr(ytv.datasets.MNIST, "mirrors", ["http://127.0.0.1:9/"])
    assert len(ytv.datasets.MNIST(str(tmp_path), download=True)) == 7


def test_download_fetches_decompresses_and_checks_md5(tmp_path, monkeypatch):
    """A download from a local 'mirror' (file:// URLs): the four .gz files are fetched,
    their MD5s checked, and decompressed."""
    src = tmp_path / "mirror"
    src.mkdir()
    rng = _rng(3)
    resources = []
    import hashlib
    for name, arr in (("train-images-idx3-ubyte.gz", rng.integers(0, 255, (4, 28, 28),
                                                                  dtype=np.uint8)),
                      ("train-labels-idx1-ubyte.gz", np.arange(4, dtype=np.uint8)),
                      ("t10k-images-idx3-ubyte.gz", rng.integers(0, 255, (2, 28, 28),
                                                                 dtype=np.uint8)),
                      ("t10k-labels-idx1-ubyte.gz", np.arange(2, dtype=np.uint8))):
        write_idx(str(src / name), arr)
        resources.append((name, hashlib.md5((src / name).read_bytes()).hexdigest()))
    monkeypatch.setattr(ytv.datasets.MNIST, "mirrors", [src.as_uri() + "/"])
    monkeypatch.setattr(ytv.datasets.MNIST, "resources", resources)
    ds = ytv.datasets.MNIST(str(tmp_path / "root"), download=True)
    assert len(ds) == 4 and ds.targets.tolist() == [0, 1, 2, 3]
    bad = [(n, "0" * 32) for n, _ in resources]
    monkeypatch.setattr(ytv.datasets.MNIST, "resources", bad)
    with pytest.raises(RuntimeError, match="MD5"):
        ytv.datasets.MNIST(str(tmp_path / "other"), download=True)


# ---- CIFAR-10 ----------------------------------------------------------------------------

def _write_cifar(root, per_batch=3, n_test=4, seed=1):
    """CIFAR-10's python version: dicts with text keys (what torchvision reads with
    encoding='latin1'), protocol 3 (NumPy arrays as raw bytes)."""
    rng = _rng(seed)
    folder = os.path.join(root, "cifar-10-batches-py")
    os.makedirs(folder)

    def dump(name, n):
        batch = {"batch_label": name, "labels": [int(v) for v in rng.integers(0, 10, n)],
                 "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 "filenames": [f"f{i}.png" for i in range(n)]}
        with open(os.path.join(folder, name), "wb") as fh:
            pickle.dump(batch, fh, protocol=3)

    for i in range(1, 6):
        dump(f"data_batch_{i}", per_batch)
    dump("test_batch", n_test)
    with open(os.path.join(folder, "batches.meta"), "wb") as fh:
        pickle.dump({"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog",
                                     "frog", "horse", "ship", "truck"]}, fh, protocol=3)


@pytest.mark.parametrize("train", [True, False])
def test_cifar10_matches_torchvision(tv, tmp_path, monkeypatch, train):
    _write_cifar(str(tmp_path))
    # the reference checks the MD5s of the original files; these are not the originals
    monkeypatch.setattr(tv.datasets.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(sys.modules["torchvision.datasets.cifar"], "check_integrity",
                        lambda *args, **kwargs: True)
    tref = tv.transforms.Compose([tv.transforms.ToTensor(),
                                  tv.transforms.Normalize((0.5, 0.4, 0.3), (0.2, 0.25, 0.3))])
    tys = ytv.transforms.Compose([ytv.transforms.ToTensor(),
                                  ytv.transforms.Normalize((0.5, 0.4, 0.3), (0.2, 0.25, 0.3))])
    ref = tv.datasets.CIFAR10(str(tmp_path), train=train, transform=tref)
    ours = ytv.datasets.CIFAR10(str(tmp_path), train=train, transform=tys)
    assert len(ours) == len(ref)
    np.testing.assert_array_equal(ours.data, ref.data)
    assert ours.targets == ref.targets and ours.classes == ref.classes
    assert ours.class_to_idx == ref.class_to_idx
    for i in range(len(ref)):
        (rx, ry), (yx, yy) = ref[i], ours[i]
        assert yy == ry
        np.testing.assert_allclose(yx.numpy(), rx.numpy(), rtol=1e-6, atol=1e-6)


def test_cifar10_missing_files(tv, tmp_path):
    with pytest.raises(RuntimeError, match="Dataset not found or corrupted"):
        tv.datasets.CIFAR10(str(tmp_path))
    with pytest.raises(RuntimeError, match="Dataset not found or corrupted") as err:
        ytv.datasets.CIFAR10(str(tmp_path))
    assert "data_batch_1" in str(err.value) and "cifar-10-batches-py" in str(err.value)


def test_cifar_reader_refuses_code_in_a_pickle(tmp_path):
    """A batch file whose pickle would call a function is refused before the function is
    even looked up (a plain pickle.load would run it)."""
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))
    _write_cifar(str(tmp_path))
    path = os.path.join(str(tmp_path), "cifar-10-batches-py", "data_batch_1")
    with open(path, "wb") as fh:
        pickle.dump({"data": Evil(), "labels": []}, fh, protocol=3)
    with pytest.raises(ValueError, match="refusing to load posix.system|refusing to load os"):
        ytv.datasets.CIFAR10(str(tmp_path))


# ---- ImageFolder --------------------------------------------------------------------------

def test_image_folder_matches_torchvision(tv, tmp_path):
    rng = _rng(2)
    for cls, n in (("cat", 2), ("dog", 3), ("bird", 1)):
        d = tmp_path / cls / ("sub" if cls == "dog" else "")
        d.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            arr = rng.integers(0, 256, (5 + i, 7, 3), dtype=np.uint8)
            Image.fromarray(arr).save(str(d / f"img{i}.png"))
        (tmp_path / cls / "notes.txt").write_text("not an image")
    t = [tv.transforms.Compose([tv.transforms.Resize((4, 4)), tv.transforms.ToTensor()]),
         ytv.transforms.Compose([ytv.transforms.Resize((4, 4)), ytv.transforms.ToTensor()])]
    ref = tv.datasets.ImageFolder(str(tmp_path), transform=t[0])
    ours = ytv.datasets.ImageFolder(str(tmp_path), transform=t[1])
    assert ours.classes == ref.classes and ours.class_to_idx == ref.class_to_idx
    assert ours.samples == ref.samples and ours.targets == ref.targets
    for i in range(len(ref)):
        (rx, ry), (yx, yy) = ref[i], ours[i]
        assert yy == ry
        np.testing.assert_allclose(yx.numpy(), rx.numpy(), atol=1e-7)


def test_image_folder_errors(tv, tmp_path):
    with pytest.raises(FileNotFoundError):
        tv.datasets.ImageFolder(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="Couldn't find any class folder"):
        ytv.datasets.ImageFolder(str(tmp_path))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError):
        tv.datasets.ImageFolder(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="Found no valid file for the classes empty"):
        ytv.datasets.ImageFolder(str(tmp_path))
    assert len(ytv.datasets.ImageFolder(str(tmp_path), allow_empty=True)) == 0


# ---- transforms -------------------------------------------------------------------------

def _pil(seed, shape, mode=None):
    arr = _rng(seed).integers(0, 256, shape, dtype=np.uint8)
    return Image.fromarray(arr, mode) if mode else Image.fromarray(arr)


def _np(x):
    if hasattr(x, "detach"):
        return x.detach().numpy()
    return np.asarray(x)


def _both(tv, make):
    """(reference result, our result) of ``make(library, torch-like module)``."""
    import torch
    return make(tv, torch), make(ytv, ytorch)


@pytest.mark.parametrize("img", ["L", "RGB", "array_hwc", "array_hw", "array_float"])
def test_to_tensor(tv, img):
    src = {"L": lambda: _pil(0, (6, 5)), "RGB": lambda: _pil(1, (6, 5, 3)),
           "array_hwc": lambda: _rng(2).integers(0, 256, (4, 3, 2), dtype=np.uint8),
           "array_hw": lambda: _rng(3).integers(0, 256, (4, 3), dtype=np.uint8),
           "array_float": lambda: _rng(4).random((4, 3, 2))}[img]()
    r, y = _both(tv, lambda lib, m: lib.transforms.ToTensor()(src))
    assert y.dtype.name == str(r.dtype).split(".")[1]
    np.testing.assert_array_equal(_np(y), _np(r))


def test_normalize_and_its_errors(tv):
    x = _rng(5).random((3, 4, 4)).astype(np.float32)
    r, y = _both(tv, lambda lib, m: lib.transforms.Normalize([0.1, 0.2, 0.3], [0.5, 0.6, 0.7])(
        m.from_numpy(x.copy())))
    np.testing.assert_allclose(_np(y), _np(r), rtol=1e-6, atol=1e-7)
    for lib, m in ((tv, __import__("torch")), (ytv, ytorch)):
        with pytest.raises(ValueError, match="std evaluated to zero"):
            lib.transforms.Normalize([0.0], [0.0])(m.zeros(1, 2, 2))
        with pytest.raises(TypeError):
            lib.transforms.Normalize([0.0], [1.0])(np.zeros((1, 2, 2), np.float32))
    t = ytorch.from_numpy(x.copy())
    out = ytv.transforms.Normalize([0.1] * 3, [0.5] * 3, inplace=True)(t)
    assert out is t


@pytest.mark.parametrize("size", [4, (5, 3), [6], 9])
def test_resize_pil(tv, size):
    img = _pil(6, (7, 10, 3))
    r, y = _both(tv, lambda lib, m: lib.transforms.Resize(size)(img))
    assert y.size == r.size
    np.testing.assert_array_equal(np.asarray(y), np.asarray(r))


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
@pytest.mark.parametrize("size", [(12, 14), (3, 5)])
def test_resize_tensor(tv, mode, size):
    x = _rng(7).random((2, 3, 6, 7)).astype(np.float32)
    interp = {"nearest": "NEAREST", "bilinear": "BILINEAR"}[mode]

    def make(lib, m):
        return lib.transforms.Resize(size, getattr(lib.transforms.InterpolationMode, interp),
                                     antialias=False)(m.from_numpy(x.copy()))
    r, y = _both(tv, make)
    np.testing.assert_allclose(_np(y), _np(r), rtol=1e-5, atol=1e-6)


def test_resize_tensor_antialias_downscale_fails_by_name():
    with pytest.raises(NotImplementedError, match="antialias"):
        ytv.transforms.Resize((2, 2))(ytorch.zeros(1, 8, 8))


@pytest.mark.parametrize("size", [3, (4, 2), (9, 12), 7])
def test_center_crop(tv, size):
    img = _pil(8, (7, 6, 3))
    r, y = _both(tv, lambda lib, m: lib.transforms.CenterCrop(size)(img))
    np.testing.assert_array_equal(np.asarray(y), np.asarray(r))
    x = _rng(9).random((3, 7, 6)).astype(np.float32)
    r, y = _both(tv, lambda lib, m: lib.transforms.CenterCrop(size)(m.from_numpy(x.copy())))
    np.testing.assert_array_equal(_np(y), _np(r))


@pytest.mark.parametrize("padding,mode", [(2, "constant"), ((1, 3), "edge"),
                                          ((1, 2, 3, 0), "reflect"), (2, "symmetric")])
def test_pad(tv, padding, mode):
    img = _pil(10, (5, 6, 3))
    r, y = _both(tv, lambda lib, m: lib.transforms.Pad(padding, fill=7, padding_mode=mode)(img))
    np.testing.assert_array_equal(np.asarray(y), np.asarray(r))
    if mode != "symmetric":
        x = _rng(11).random((3, 5, 6)).astype(np.float32)
        r, y = _both(tv, lambda lib, m: lib.transforms.Pad(padding, padding_mode=mode)(
            m.from_numpy(x.copy())))
        np.testing.assert_array_equal(_np(y), _np(r))


def test_random_crop_is_a_window_of_the_padded_image(tv):
    """The position is random (another generator): every crop must be one of the windows
    torchvision could have chosen, and all of them must occur."""
    import torch
    img = _pil(12, (6, 6, 3))
    padded = np.asarray(tv.transforms.Pad(2)(img))
    windows = {padded[i:i + 5, j:j + 5].tobytes() for i in range(6) for j in range(6)}
    seen = set()
    ytorch.manual_seed(0)
    t = ytv.transforms.RandomCrop(5, padding=2)
    for _ in range(400):
        out = np.asarray(t(img))
        assert out.shape == (5, 5, 3) and out.tobytes() in windows
        seen.add(out.tobytes())
    assert len(seen) == len(windows)
    with pytest.raises(ValueError, match="larger than input image size"):
        ytv.transforms.RandomCrop(9)(img)
    with pytest.raises(ValueError):
        tv.transforms.RandomCrop(9)(img)
    x = torch.zeros(3, 4, 4)
    assert tuple(tv.transforms.RandomCrop(6, pad_if_needed=True)(x).shape) == \
        tuple(ytv.transforms.RandomCrop(6, pad_if_needed=True)(ytorch.zeros(3, 4, 4)).shape)


def test_random_flips(tv):
    img = _pil(13, (4, 5, 3))
    for p in (0.0, 1.0):
        r, y = _both(tv, lambda lib, m: lib.transforms.RandomHorizontalFlip(p)(img))
        np.testing.assert_array_equal(np.asarray(y), np.asarray(r))
        r, y = _both(tv, lambda lib, m: lib.transforms.RandomVerticalFlip(p)(img))
        np.testing.assert_array_equal(np.asarray(y), np.asarray(r))
    x = _rng(14).random((3, 4, 5)).astype(np.float32)
    r, y = _both(tv, lambda lib, m: lib.transforms.RandomHorizontalFlip(1.0)(
        m.from_numpy(x.copy())))
    np.testing.assert_array_equal(_np(y), _np(r))
    ytorch.manual_seed(1)
    flips = sum(np.array_equal(np.asarray(ytv.transforms.RandomHorizontalFlip()(img)),
                               np.asarray(img)[:, ::-1]) for _ in range(400))
    assert 150 < flips < 250          # p = 0.5: 400 draws, 5 standard deviations


def test_lambda_and_compose(tv):
    for lib in (tv, ytv):
        with pytest.raises(TypeError, match="Argument lambd should be callable"):
            lib.transforms.Lambda(3)
    img = _pil(15, (6, 6))
    r, y = _both(tv, lambda lib, m: lib.transforms.Compose([
        lib.transforms.CenterCrop(4), lib.transforms.ToTensor(),
        lib.transforms.Lambda(lambda t: t * 2)])(img))
    np.testing.assert_array_equal(_np(y), _np(r))


# ---- utils --------------------------------------------------------------------------------

@pytest.mark.parametrize("kw", [{}, {"nrow": 3, "padding": 1}, {"normalize": True},
                                {"normalize": True, "value_range": (0.2, 0.8),
                                 "scale_each": True, "pad_value": 0.5},
                                {"normalize": True, "scale_each": True}])
@pytest.mark.parametrize("shape", [(5, 3, 4, 6), (4, 1, 5, 5), (1, 3, 4, 4), (2, 4, 4)])
def test_make_grid(tv, kw, shape):
    x = _rng(16).random(shape).astype(np.float32)
    r, y = _both(tv, lambda lib, m: lib.utils.make_grid(m.from_numpy(x.copy()), **kw))
    assert tuple(y.shape) == tuple(r.shape)
    np.testing.assert_allclose(_np(y), _np(r), rtol=1e-6, atol=1e-7)


def test_make_grid_of_a_list_and_errors(tv):
    import torch
    xs = [_rng(i).random((3, 4, 4)).astype(np.float32) for i in range(3)]
    r = tv.utils.make_grid([torch.from_numpy(a) for a in xs], nrow=2)
    y = ytv.utils.make_grid([ytorch.from_numpy(a) for a in xs], nrow=2)
    np.testing.assert_array_equal(_np(y), _np(r))
    for lib in (tv, ytv):
        with pytest.raises(TypeError, match="tensor or list of tensors expected"):
            lib.utils.make_grid(np.zeros((2, 3, 4, 4)))


def test_save_image_writes_the_same_pixels(tv, tmp_path):
    import torch
    x = _rng(17).random((6, 3, 5, 5)).astype(np.float32)
    tv.utils.save_image(torch.from_numpy(x), str(tmp_path / "ref.png"), nrow=3)
    ytv.utils.save_image(ytorch.from_numpy(x), str(tmp_path / "ours.png"), nrow=3)
    a = np.asarray(Image.open(str(tmp_path / "ref.png")))
    b = np.asarray(Image.open(str(tmp_path / "ours.png")))
    np.testing.assert_array_equal(a, b)
    buf = io.BytesIO()
    ytv.utils.save_image(ytorch.from_numpy(x[:1]), buf, format="png")
    assert buf.getvalue()[:4] == b"\x89PNG"


def test_unsupported_torchvision_names_fail_by_name():
    from yingshe.torch._errors import UnsupportedError
    with pytest.raises(UnsupportedError, match="torchvision.models"):
        ytv.models  # noqa: B018
    with pytest.raises(UnsupportedError, match="torchvision.transforms.RandomRotation"):
        ytv.transforms.RandomRotation  # noqa: B018
    with pytest.raises(UnsupportedError, match="torchvision.datasets.CIFAR100"):
        ytv.datasets.CIFAR100  # noqa: B018


def test_pil_conversions_and_functional_names(tv):
    img = _pil(18, (5, 4, 3))
    r, y = _both(tv, lambda lib, m: lib.transforms.PILToTensor()(img))
    assert y.dtype.name == str(r.dtype).split(".")[1] == "uint8"
    np.testing.assert_array_equal(_np(y), _np(r))
    x = _rng(19).random((3, 4, 5)).astype(np.float32)
    r, y = _both(tv, lambda lib, m: lib.transforms.ToPILImage()(m.from_numpy(x.copy())))
    assert y.mode == r.mode and y.size == r.size
    np.testing.assert_array_equal(np.asarray(y), np.asarray(r))
    for name, args in (("get_image_size", ()), ("get_dimensions", ()),
                       ("crop", (1, 2, 3, 2)), ("crop", (-1, -2, 4, 5)),
                       ("hflip", ()), ("vflip", ())):
        r, y = _both(tv, lambda lib, m: getattr(lib.transforms.functional, name)(img, *args))
        if isinstance(r, list):
            assert y == r, name
        else:
            np.testing.assert_array_equal(np.asarray(y), np.asarray(r))
