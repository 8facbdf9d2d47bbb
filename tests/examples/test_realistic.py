"""The realistic-size benchmark (yingshe.compare.realistic) on a tiny subset.

Checks the data it writes (IDX round trip, learnable classes) and that a run of both
engines, each in its own process, produces complete records and a table.
"""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest

from yingshe.compare import realistic
from yingshe.datasets import IDXDataset, read_idx
from yingshe.testing.hang import run_guarded


def test_written_idx_files_round_trip(tmp_path):
    paths = realistic.write_dataset(str(tmp_path), n_train=300, n_test=50, seed=5, gzip=True)
    images, labels = realistic.make_images(300, seed=5)
    assert images.dtype == np.uint8 and images.shape == (300, 28, 28)
    assert labels.dtype == np.uint8 and labels.max() < 10
    np.testing.assert_array_equal(read_idx(paths["train"][0]), images)
    np.testing.assert_array_equal(read_idx(paths["train"][1]), labels)
    ds = IDXDataset(*paths["test"])
    x, y = ds[0]
    assert tuple(x.shape) == (1, 28, 28) and len(ds) == 50
    test_images, test_labels = realistic.make_images(50, seed=6)
    np.testing.assert_allclose(x.numpy(), test_images[0][None] / 255.0, rtol=1e-6)
    assert int(y.item()) == int(test_labels[0])


def test_synthetic_images_are_learnable_but_not_trivial():
    """Nearest class mean on held-out images does well (the classes are learnable),
    while the images are noisy (no two of a class are equal)."""
    xtr, ytr = realistic.make_images(2000, seed=0)
    xte, yte = realistic.make_images(500, seed=1)
    xtr, xte = xtr.reshape(len(xtr), -1) / 255.0, xte.reshape(len(xte), -1) / 255.0
    means = np.stack([xtr[ytr == k].mean(0) for k in range(10)])
    pred = ((xte[:, None, :] - means[None]) ** 2).sum(-1).argmin(1)
    assert (pred == yte).mean() > 0.5
    same = xtr[ytr == 0]
    assert np.abs(same[0] - same[1]).mean() > 0.05


def test_initial_weights_have_lenet_layout():
    w = realistic.initial_weights(0)
    assert w["conv1.weight"].shape == (6, 1, 5, 5) and w["fc3.weight"].shape == (10, 84)
    assert all(v.dtype == np.float32 for v in w.values())
    bound = 1 / math.sqrt(400)
    assert np.abs(w["fc1.weight"]).max() <= bound


@pytest.fixture(scope="module")
def tiny_report():
    return realistic.run(limit=512, workers=2)


FIELDS = ("samples_per_s", "epoch_s", "first_batch_s", "peak_rss_mb", "peak_rss_children_mb",
          "step0_loss", "final_loss", "train_loss", "train_accuracy", "test_accuracy")


@pytest.mark.parametrize("engine", realistic.ENGINES)
def test_tiny_run_reports_every_field(tiny_report, engine):
    if engine.startswith("torch"):
        from yingshe.testing.reference import require
        require("torch")     # skips locally without torch, fails in CI
    rec = {r["engine"]: r for r in tiny_report["results"]}[engine]
    assert rec["status"] == "ok", rec.get("traceback") or rec.get("error")
    assert rec["samples"] == 512 and rec["batches"] == 8 and rec["batch_size"] == 64
    assert rec["workers"] == 2 and rec["test_samples"] == tiny_report["data"]["test"] == 100
    for f in FIELDS:
        assert isinstance(rec[f], float) and math.isfinite(rec[f]) and rec[f] >= 0, f
    assert rec["peak_rss_mb"] > 10 and rec["samples_per_s"] > 0
    # each engine in its own process: no other framework was imported into it
    assert rec["modules"] == (["torch"] if engine.startswith("torch") else [])
    # untrained 10-class network: the first loss is near log(10)
    assert abs(rec["step0_loss"] - math.log(10)) < 0.3
    assert 0 <= rec["train_accuracy"] <= 1 and 0 <= rec["test_accuracy"] <= 1


def test_tiny_run_table(tiny_report):
    table = realistic.format_table(tiny_report)
    lines = table.splitlines()
    header = [c.strip() for c in lines[2].strip("|").split("|")]
    assert header[:3] == ["engine", "dataset", "samples/s"]
    rows = [ln for ln in lines[4:] if ln.startswith("|")]
    assert len(rows) == len(realistic.ENGINES)
    for row in rows:
        assert len(row.strip("|").split("|")) == len(header)
    assert "512" in lines[0]


def test_benchmark_command_limit(tmp_path):
    """benchmarks/realistic.py --limit runs end to end and writes its JSON."""
    import pathlib
    script = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "realistic.py"
    out = tmp_path / "r.json"
    proc = run_guarded([sys.executable, str(script), "--limit", "256", "--engines",
                        "yingshe-eager", "--workers", "0", "--gzip", "--out", str(out)],
                       capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert report["data"]["train"] == 256 and report["data"]["gzip"] is True
    (rec,) = report["results"]
    assert rec["status"] == "ok" and rec["samples"] == 256 and rec["workers"] == 0
    assert "| yingshe-eager" in proc.stdout
