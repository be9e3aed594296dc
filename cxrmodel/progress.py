"""Progress bars for long work: a count, the rate and the time left, on stderr (tqdm).

Every long loop of the training, evaluation and demo code (epochs, folds, studies) shows one, so a command that
runs for minutes says where it is (``fold 2/5``, ``epoch 7/20``, ``studies 13/32``) and when it will end; stdout
stays the command's result. On a terminal a bar redraws in place; in a log file or a pipe each update is its own
``\\r``-separated line (at most one every few seconds). :func:`epoch_progress` is the Keras side (epochs of one
``model.fit``); it imports Keras when called.
"""

from __future__ import annotations

import sys
from typing import Iterable, TypeVar

from tqdm import tqdm

__all__ = ["epoch_progress", "progress_meter"]

Item = TypeVar("Item")

NOT_A_TERMINAL_INTERVAL = 5.0
"""Seconds between two updates when stderr is not a terminal (a log file should not get a line per item)."""


def progress_meter(iterable: Iterable[Item] | None = None, *, total: int | None = None, description: str,
             unit: str = "it", leave: bool = True, initial: int = 0) -> tqdm:
    """A progress bar on stderr: iterate over it, or call ``update(n)``; ``close()`` it (or use ``with``).

    Args:
        iterable: What to iterate over; None = count by hand with ``update``.
        total: How many items in all (taken from ``len(iterable)`` when it has one).
        description: What is counted, e.g. ``"fold"`` or ``"image model epochs"``.
        unit: The unit after the rate ("study/s").
        leave: Keep the finished bar on screen (False for a bar nested in another).
        initial: Items already done (a resumed run).
    """
    interactive = sys.stderr.isatty()
    # Not on a terminal, every bar writes at position 0: no cursor-movement codes for nested bars in a log file.
    return tqdm(iterable, total=total, desc=description, unit=unit, leave=leave, initial=initial, file=sys.stderr,
                dynamic_ncols=interactive, mininterval=0.1 if interactive else NOT_A_TERMINAL_INTERVAL,
                position=None if interactive else 0)


def epoch_progress(description: str, epochs: int, initial_epoch: int = 0):
    """A Keras callback that shows the epochs of one ``fit`` as a bar, with the last epoch's validation figures.

    Args:
        description: What is trained, e.g. ``"image model"`` or ``"fold 2/5 Kim CNN"``.
        epochs: The most epochs the fit may run (early stopping may end it before).
        initial_epoch: Epochs done before (a resumed fit).
    """
    import keras  # noqa: PLC0415 - Keras only where a model is trained

    class EpochProgress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None) -> None:
            self.bar = progress_meter(total=epochs, description=f"{description} epochs", unit="epoch",
                                initial=initial_epoch)

        def on_epoch_end(self, epoch, logs=None) -> None:
            shown = {key: f"{float(value):.3f}" for key, value in sorted((logs or {}).items())
                     if key.startswith("val_")}
            self.bar.set_postfix(shown, refresh=False)
            self.bar.update(1)

        def on_train_end(self, logs=None) -> None:
            self.bar.close()

    return EpochProgress()
