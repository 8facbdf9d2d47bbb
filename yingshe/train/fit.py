"""``fit``/``evaluate``: epochs over a DataLoader with metrics, validation, early
stopping, checkpoints and a progress bar (rich, when installed)."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from yingshe._tensor import Tensor

__all__ = ["fit", "evaluate", "History", "EarlyStopping"]


def _accuracy(output: Tensor, target: Tensor) -> tuple[float, int]:
    out = output.detach().numpy()
    tgt = target.detach().numpy()
    if out.ndim == tgt.ndim + 1:           # class scores vs class indices
        pred = out.argmax(axis=-1)
    elif out.ndim == tgt.ndim and (out.ndim == 1 or out.shape[-1] == 1):  # one logit/prob
        thresh = 0.5 if (out.min() >= 0 and out.max() <= 1) else 0.0
        pred = (out > thresh).astype(tgt.dtype)
    else:                                   # one-hot or probability targets
        pred, tgt = out.argmax(axis=-1), tgt.argmax(axis=-1)
    return float((pred.reshape(tgt.shape) == tgt).sum()), int(tgt.size)


METRICS: dict[str, Callable[[Tensor, Tensor], tuple[float, int]]] = {"accuracy": _accuracy}


@dataclass
class History:
    """Per-epoch records: ``history.history["loss"]``, ``["val_accuracy"]``, ..."""

    history: dict[str, list[float]] = field(default_factory=dict)
    epochs: list[int] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False

    def log(self, epoch: int, values: dict[str, float]) -> None:
        self.epochs.append(epoch)
        for k, v in values.items():
            self.history.setdefault(k, []).append(v)

    def plot(self, path: str | os.PathLike, title: str = "training history") -> str:
        """Draw each series against the epoch into a PNG (matplotlib, Agg backend)."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = sorted({k.removeprefix("val_") for k in self.history})
        fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.6), squeeze=False)
        for ax, name in zip(axes[0], names):
            for key, style in ((name, "-o"), (f"val_{name}", "--s")):
                if key in self.history:
                    ax.plot(self.epochs, self.history[key], style, label=key, markersize=3)
            ax.set_xlabel("epoch")
            ax.set_title(name)
            ax.grid(alpha=0.3)
            ax.legend()
        fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return os.fspath(path)


@dataclass
class EarlyStopping:
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs."""

    patience: int = 3
    monitor: str = "val_loss"
    mode: str = "min"
    min_delta: float = 0.0
    restore_best: bool = True
    best: float = field(default=math.nan, init=False)
    wait: int = field(default=0, init=False)

    def improved(self, value: float) -> bool:
        if math.isnan(self.best):
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def update(self, value: float) -> tuple[bool, bool]:
        """Returns (improved, should_stop)."""
        if self.improved(value):
            self.best, self.wait = value, 0
            return True, False
        self.wait += 1
        return False, self.wait >= self.patience


def _split_batch(batch):
    if isinstance(batch, dict):
        return batch["x"] if "x" in batch else batch["input"], batch.get("y", batch.get("target"))
    x, y = batch[0], batch[1]
    return x, y


def evaluate(model, loader: Iterable, loss_fn, metrics: Iterable[str] = ()) -> dict[str, float]:
    """Mean loss (weighted by batch size) and metrics of ``model`` over ``loader``."""
    from yingshe.autograd import no_grad
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    totals = {"loss": 0.0}
    counts = {"loss": 0}
    with no_grad():
        for batch in loader:
            x, y = _split_batch(batch)
            out = model(x)
            n = int(y.shape[0]) if y.ndim else 1
            totals["loss"] += float(loss_fn(out, y).item()) * n
            counts["loss"] += n
            for m in metrics:
                s, c = METRICS[m](out, y)
                totals[m] = totals.get(m, 0.0) + s
                counts[m] = counts.get(m, 0) + c
    if was_training and hasattr(model, "train"):
        model.train()
    return {k: totals[k] / max(counts[k], 1) for k in totals}


def _progress(enabled: bool):
    if not enabled:
        return None
    try:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeRemainingColumn)
    except ImportError:
        return None
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), TextColumn("{task.fields[info]}"), transient=True)


def fit(model, loader: Iterable, loss_fn, optimizer, epochs: int = 1, *,
        val_loader: Iterable | None = None, metrics: Iterable[str] = (), scheduler=None,
        early_stopping: int | EarlyStopping | None = None, checkpoint: str | None = None,
        progress: bool = True, verbose: bool = True, log: Callable[[str], None] = print
        ) -> History:
    """Train ``model`` for ``epochs`` epochs and return a ``History``.

    Args:
        loader: yields ``(input, target)`` batches (or dicts with "x"/"y").
        loss_fn: ``loss_fn(output, target) -> scalar tensor``.
        metrics: names from ``yingshe.train.fit.METRICS`` (``"accuracy"``).
        scheduler: stepped once per epoch (``ReduceLROnPlateau`` gets the monitored value).
        early_stopping: a patience (int) on ``val_loss`` (``loss`` without validation),
            or an ``EarlyStopping``; the best weights are restored at the end.
        checkpoint: a path: the best model's ``state_dict`` is saved there (atomic,
            safetensors) whenever the monitored value improves.
    """
    metrics = list(metrics)
    for m in metrics:
        if m not in METRICS:
            raise ValueError(f"fit: unknown metric {m!r}; available: {sorted(METRICS)}")
    stopper = EarlyStopping(patience=early_stopping) if isinstance(early_stopping, int) \
        else early_stopping
    if stopper is not None and val_loader is None and stopper.monitor.startswith("val_"):
        stopper.monitor = stopper.monitor.removeprefix("val_")
    history = History()
    best_state = None
    bar = _progress(progress)
    if bar is not None:
        bar.start()
    try:
        for epoch in range(1, epochs + 1):
            if hasattr(model, "train"):
                model.train()
            t0 = time.perf_counter()
            total, count = 0.0, 0
            msums: dict[str, float] = {}
            mcounts: dict[str, int] = {}
            n_batches = len(loader) if hasattr(loader, "__len__") else None
            task = bar.add_task(f"epoch {epoch}/{epochs}", total=n_batches, info="") \
                if bar is not None else None
            for batch in loader:
                x, y = _split_batch(batch)
                optimizer.zero_grad()
                out = model(x)
                loss = loss_fn(out, y)
                loss.backward()
                optimizer.step()
                n = int(y.shape[0]) if y.ndim else 1
                value = float(loss.item())
                total += value * n
                count += n
                for m in metrics:
                    s, c = METRICS[m](out, y)
                    msums[m] = msums.get(m, 0.0) + s
                    mcounts[m] = mcounts.get(m, 0) + c
                if task is not None:
                    bar.update(task, advance=1, info=f"loss {value:.4f}")
            if task is not None:
                bar.remove_task(task)
            record = {"loss": total / max(count, 1)}
            record.update({m: msums[m] / max(mcounts[m], 1) for m in metrics})
            if val_loader is not None:
                val = evaluate(model, val_loader, loss_fn, metrics)
                record.update({f"val_{k}": v for k, v in val.items()})
            record["time_s"] = time.perf_counter() - t0
            history.log(epoch, record)
            if verbose:
                log(f"epoch {epoch:3d}  " + "  ".join(
                    f"{k} {v:.4f}" for k, v in record.items() if k != "time_s")
                    + f"  ({record['time_s']:.2f} s)")
            if scheduler is not None:
                if type(scheduler).__name__ == "ReduceLROnPlateau":
                    scheduler.step(record.get("val_loss", record["loss"]))
                else:
                    scheduler.step()
            monitor = stopper.monitor if stopper is not None else (
                "val_loss" if val_loader is not None else "loss")
            value = record[monitor]
            improved = stop = False
            if stopper is not None:
                improved, stop = stopper.update(value)
            elif history.best_epoch is None or value < min(history.history[monitor][:-1]):
                improved = True
            if improved:
                history.best_epoch = epoch
                if hasattr(model, "state_dict"):
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                if checkpoint is not None:
                    from yingshe.io import save
                    save({"model": model.state_dict(), "epoch": epoch, monitor: value},
                         checkpoint)
            if stop:
                history.stopped_early = True
                if verbose:
                    log(f"early stopping: {monitor} did not improve for {stopper.patience} "
                        f"epochs (best {stopper.best:.4f} at epoch {history.best_epoch})")
                break
    finally:
        if bar is not None:
            bar.stop()
    if stopper is not None and stopper.restore_best and best_state is not None:
        model.load_state_dict(best_state)
    return history
