"""yingshe.train.fit: metrics, validation, early stopping, checkpoints, plots."""

import numpy as np
import pytest

import yingshe
from yingshe import nn, optim
from yingshe.train import EarlyStopping, evaluate, fit
from yingshe.utils.data import DataLoader, TensorDataset



def _digits_loaders():
    (xtr, ytr), (xte, yte) = yingshe.datasets.load("digits")
    xtr, xte = xtr / 16.0, xte / 16.0
    train = DataLoader(TensorDataset(xtr, ytr), batch_size=64, shuffle=True)
    test = DataLoader(TensorDataset(xte, yte), batch_size=256)
    return train, test


def test_fit_trains_and_reports_history(tmp_path):
    yingshe.manual_seed(0)
    train, test = _digits_loaders()
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    lines = []
    history = fit(model, train, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-2),
                  epochs=5, val_loader=test, metrics=["accuracy"], progress=False,
                  log=lines.append, checkpoint=str(tmp_path / "best.safetensors"))
    h = history.history
    assert set(h) >= {"loss", "accuracy", "val_loss", "val_accuracy", "time_s"}
    assert len(h["loss"]) == 5 and h["loss"][-1] < h["loss"][0]
    assert h["val_accuracy"][-1] > 0.9
    assert len(lines) == 5 and "val_accuracy" in lines[-1]
    # the checkpoint holds the best epoch's weights
    saved = yingshe.load(tmp_path / "best.safetensors")
    assert saved["epoch"] == history.best_epoch
    fresh = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    fresh.load_state_dict(saved["model"])
    best = min(h["val_loss"])
    assert evaluate(fresh, test, nn.CrossEntropyLoss())["loss"] == pytest.approx(best, rel=1e-6)
    png = history.plot(tmp_path / "history.png")
    with open(png, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_evaluate_matches_a_plain_loop():
    yingshe.manual_seed(0)
    _, test = _digits_loaders()
    model = nn.Linear(64, 10)
    res = evaluate(model, test, nn.CrossEntropyLoss(), metrics=["accuracy"])
    x = yingshe.cat([b[0] for b in test])
    y = yingshe.cat([b[1] for b in test])
    with yingshe.no_grad():
        out = model(x)
        loss = nn.functional.cross_entropy(out, y).item()
    acc = float((out.argmax(1) == y).float().mean().item())
    assert res["loss"] == pytest.approx(loss, rel=1e-5)
    assert res["accuracy"] == pytest.approx(acc)


def test_early_stopping_stops_and_restores_best():
    yingshe.manual_seed(0)
    x = yingshe.randn(64, 3)
    y = yingshe.randn(64, 1)
    loader = DataLoader(TensorDataset(x, y), batch_size=64)
    model = nn.Linear(3, 1)
    # a learning rate that diverges: the loss grows after the first epochs
    history = fit(model, loader, nn.MSELoss(), optim.SGD(model.parameters(), lr=1.9),
                  epochs=30, early_stopping=EarlyStopping(patience=2, monitor="loss"),
                  progress=False, verbose=False)
    assert history.stopped_early
    assert len(history.epochs) < 30
    best = min(history.history["loss"])
    assert history.history["loss"].index(best) + 1 == history.best_epoch
    restored = evaluate(model, loader, nn.MSELoss())["loss"]
    # the restored weights are those *after* the best epoch's updates
    assert np.isfinite(restored)


def test_unknown_metric_is_refused():
    with pytest.raises(ValueError, match="unknown metric"):
        fit(nn.Linear(1, 1), [], nn.MSELoss(), optim.SGD(nn.Linear(1, 1).parameters(), lr=0.1),
            metrics=["f1"], progress=False)
