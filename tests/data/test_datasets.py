"""Bundled datasets (scikit-learn's) and the IDX reader."""

import gzip

import numpy as np
import pytest

import yingshe
from yingshe.datasets import IDXDataset, read_idx, write_idx



@pytest.mark.parametrize("name,n,features,classes", [
    ("iris", 150, 4, 3), ("digits", 1797, 64, 10), ("wine", 178, 13, 3),
    ("breast_cancer", 569, 30, 2), ("diabetes", 442, 10, None)])
def test_bundled_datasets_shapes_dtypes_and_split(name, n, features, classes):
    (Xtr, ytr), (Xte, yte) = yingshe.datasets.load(name)
    assert Xtr.shape[0] + Xte.shape[0] == n
    assert Xte.shape[0] == int(np.ceil(0.2 * n))
    assert Xtr.shape[1] == features and Xtr.dtype is yingshe.float32
    if classes is None:
        assert ytr.dtype is yingshe.float32
    else:
        assert ytr.dtype is yingshe.int64
        assert set(np.unique(ytr.numpy())) == set(range(classes))
        # stratified: class proportions in train and test agree to within one sample
        tr = np.bincount(ytr.numpy(), minlength=classes) / len(ytr)
        te = np.bincount(yte.numpy(), minlength=classes) / len(yte)
        assert np.all(np.abs(tr - te) <= 1.0 / len(yte) + 1e-9)
    again = yingshe.datasets.load(name)
    np.testing.assert_array_equal(again[0][0].numpy(), Xtr.numpy())
    other = yingshe.datasets.load(name, seed=1)
    assert not np.array_equal(other[0][0].numpy(), Xtr.numpy())


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match="available"):
        yingshe.datasets.load("mnist")


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, dtype, gz):
    arr = (np.arange(2 * 3 * 4) % 100).astype(dtype).reshape(2, 3, 4)
    path = tmp_path / ("a.idx.gz" if gz else "a.idx")
    write_idx(path, arr)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)


def test_idx_header_is_mnist_layout(tmp_path):
    write_idx(tmp_path / "l.idx", np.array([3, 1, 4], dtype=np.uint8))
    raw = (tmp_path / "l.idx").read_bytes()
    assert raw == bytes([0, 0, 8, 1, 0, 0, 0, 3, 3, 1, 4])


def test_idx_errors(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01")
    with pytest.raises(ValueError, match="magic"):
        read_idx(tmp_path / "bad")
    write_idx(tmp_path / "ok", np.zeros((4, 4), dtype=np.uint8))
    (tmp_path / "short").write_bytes((tmp_path / "ok").read_bytes()[:-3])
    with pytest.raises(ValueError, match="needs"):
        read_idx(tmp_path / "short")


def test_idx_dataset_with_loader(tmp_path):
    imgs = np.random.default_rng(0).integers(0, 256, (10, 28, 28), dtype=np.uint8)
    labels = np.arange(10, dtype=np.uint8)
    write_idx(tmp_path / "img.idx.gz", imgs)
    with gzip.open(tmp_path / "lab.idx.gz", "wb") as fh:
        fh.write(bytes([0, 0, 8, 1, 0, 0, 0, 10]) + labels.tobytes())
    ds = IDXDataset(tmp_path / "img.idx.gz", tmp_path / "lab.idx.gz")
    x, y = ds[3]
    assert x.shape == (1, 28, 28) and x.dtype is yingshe.float32 and y.item() == 3
    np.testing.assert_allclose(x.numpy()[0], imgs[3] / 255.0, rtol=1e-6)
    from yingshe.utils.data import DataLoader
    xb, yb = next(iter(DataLoader(ds, batch_size=4)))
    assert xb.shape == (4, 1, 28, 28) and yb.tolist() == [0, 1, 2, 3]
