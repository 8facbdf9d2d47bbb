"""Resuming from a mid-epoch checkpoint gives bit-identical losses to never stopping.

The checkpoint holds the model, the optimizer (Adam moments and step counts), the
scheduler, the framework RNG (dropout draws) and the DataLoader's shuffle position.
"""

import numpy as np

import yingshe
from yingshe import nn, optim
from yingshe.utils.data import DataLoader, TensorDataset

EPOCHS, STOP_AT = 3, 7   # stop after 7 batches: in the middle of epoch 2 (5 batches/epoch)


def _data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((80, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    return TensorDataset(yingshe.from_numpy(x), yingshe.from_numpy(y))


def _setup(seed):
    yingshe.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2))
    opt = optim.Adam(model.parameters(), lr=0.01)
    sched = optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    loader = DataLoader(_data(), batch_size=16, shuffle=True)
    return model, opt, sched, loader


def _train(model, opt, sched, loader, start_epoch, stop_after=None, on_stop=None):
    losses, seen = [], 0
    for epoch in range(start_epoch, EPOCHS):
        for xb, yb in loader:
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
            seen += 1
            if stop_after is not None and seen == stop_after:
                on_stop(epoch)
                return losses
    return losses


def test_mid_epoch_resume_is_bit_identical(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    yingshe.manual_seed(1234)
    _, _, _, _ = _setup(0)
    reference = _train(*_setup(0), start_epoch=0)

    model, opt, sched, loader = _setup(0)

    def save(epoch):
        yingshe.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                      "scheduler": sched.state_dict(), "rng": yingshe.get_rng_state(),
                      "loader": loader.state_dict(), "epoch": epoch}, path)

    first = _train(model, opt, sched, loader, 0, stop_after=STOP_AT, on_stop=save)
    assert first == reference[:STOP_AT]

    # a new "process": different seed, fresh objects, everything restored from the file
    model, opt, sched, loader = _setup(999)
    state = yingshe.load(path)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    yingshe.set_rng_state(state["rng"])
    loader.load_state_dict(state["loader"])
    rest = _train(model, opt, sched, loader, start_epoch=state["epoch"])
    assert first + rest == reference   # bit-identical, not merely close
