"""Resumable run state: after every finished epoch, the model, optimizer, callback counters, best
weights and history are written as one folder, swapped in atomically, so `kill -9` at any moment
loses at most the epoch in progress and a rerun continues where it stopped.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path
from typing import Any

import keras

from edge.common.errors import UserError
from edge.common.files import staging_path, swap_in, sync_folder, write_text
from train.run import BEST_WEIGHTS, STATE_JSON, STATE_MODEL, RunState, state_dir

CALLBACK_ATTRS = ("wait", "best", "cooldown_counter", "best_epoch")
HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds")


def history_csv(history: list[dict[str, float]]) -> str:
    lines = [",".join(HISTORY_COLUMNS)]
    for row in history:
        lines.append(",".join(_format(row.get(column)) for column in HISTORY_COLUMNS))
    return "\n".join(lines) + "\n"


def _format(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() and abs(value) > 1 else f"{value:.6g}"


class ResumableState(keras.callbacks.Callback):
    """Keep the run state and history.csv current; put it last in the callback list.

    Being last, its `on_train_begin` restores the other callbacks' counters after they reset them,
    and its `on_epoch_end` records them after they updated them.
    """

    def __init__(self, out: Path, state: RunState, tracked: dict[str, keras.callbacks.Callback]) -> None:
        super().__init__()
        self.out, self.state, self.tracked = out, state, tracked
        self.epoch_started = 0.0

    def on_train_begin(self, logs: dict | None = None) -> None:
        for name, callback in self.tracked.items():
            for attr, value in self.state.callbacks.get(name, {}).items():
                setattr(callback, attr, value)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch_started = time.monotonic()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = dict(logs or {})
        self._refuse_non_finite(epoch, logs)
        row = {"epoch": epoch + 1, "seconds": round(time.monotonic() - self.epoch_started, 2)}
        row.update({k: float(v) for k, v in logs.items() if k in HISTORY_COLUMNS})
        row["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        state = self.state
        state.history.append(row)
        state.epochs_done = epoch + 1
        state.stopped_early = bool(self.model.stop_training)
        improved = row.get("val_accuracy", -math.inf) > state.best_val_accuracy
        if improved:
            state.best_val_accuracy, state.best_epoch = row["val_accuracy"], epoch + 1
        state.callbacks = {
            name: {a: _plain(getattr(cb, a)) for a in CALLBACK_ATTRS if hasattr(cb, a)}
            for name, cb in self.tracked.items()
        }
        self._save(improved)
        write_text(self.out / "history.csv", history_csv(state.history))

    def _refuse_non_finite(self, epoch: int, logs: dict) -> None:
        """Stop a run whose weights have become NaN or infinite, before this epoch is saved: the state stays the
        last finite epoch's (or none), and a rerun with the same options would diverge again."""
        loss = logs.get("loss")
        if loss is None or math.isfinite(float(loss)):
            return
        kept = (
            f"the run folder keeps its state after epoch {self.state.epochs_done}"
            if self.state.epochs_done
            else "nothing was saved"
        )
        raise UserError(
            f"{self.out}: epoch {epoch + 1}: the training loss is {float(loss)}, not finite (training diverged);"
            f" stopped, {kept}. Start again in a new --out with a lower --lr"
        )

    def _save(self, improved: bool) -> None:
        final = state_dir(self.out)
        tmp = staging_path(final)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        self.model.save(tmp / STATE_MODEL)
        if improved or not (final / BEST_WEIGHTS).exists():
            self.model.save_weights(tmp / BEST_WEIGHTS)
        else:
            shutil.copy2(final / BEST_WEIGHTS, tmp / BEST_WEIGHTS)
        (tmp / STATE_JSON).write_text(json.dumps(self.state.__dict__, indent=1))
        sync_folder(tmp)
        swap_in(tmp, final)


def _plain(value: Any) -> Any:
    """Callback attributes as JSON values (numpy scalars become floats; None and ints stay)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return float(value)
