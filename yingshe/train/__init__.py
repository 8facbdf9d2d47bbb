"""An optional training loop: ``fit`` for people who want one (plain loops stay first-class).

    history = yingshe.train.fit(model, train_loader, nn.CrossEntropyLoss(), optimizer,
                                epochs=10, val_loader=val_loader, metrics=["accuracy"],
                                early_stopping=3, checkpoint="best.safetensors")
    history.plot("history.png")
"""

from yingshe.train.fit import EarlyStopping, History, evaluate, fit  # noqa: F401

__all__ = ["fit", "evaluate", "History", "EarlyStopping"]
