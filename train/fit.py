"""Fit a model on a loaded data set into a run folder, resuming if the folder holds state.

It reads top to bottom in the order a run goes: `train` is the outline, then each step in turn.
1. Data: what each Training face is taught (labels, FER+ votes, a teacher's probabilities) in shuffled,
   augmented batches, and the validation split that chooses the best epoch.
2. Build: a registered architecture with fresh weights, or a converted model to fine-tune, compiled with its
   optimizer and schedule; or the model of an interrupted run, to resume.
3. Train: `model.fit`, with the callbacks that keep the resume state after every epoch.
4. Evaluate and save: the best epoch's weights, the framing of the training faces, reports and plots.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from pathlib import Path

import h5py
import keras
import numpy as np
from keras.src.legacy.saving import legacy_h5_format

from edge.common.files import atomic_path, write_text
from edge.contract import Contract
from train import models
from train.augment import AugmentConfig, FerBatches, class_weights
from train.data import HELD_OUT_USAGE, Dataset, validation_split_name
from train.distill import BatchTeacher, load_soft_labels, split_within
from train.distribute import Devices, padded_validation
from train.framing import measure_all
from train.report import write_reports
from train.resume import ResumableState, history_csv
from train.run import BEST_WEIGHTS, RunState, TrainConfig, state_dir, training_contract


def train(
    data: Dataset, config: TrainConfig, out: Path, state: RunState | None, identity: dict, devices: Devices | None
) -> dict:
    """Train (or resume `state`, checked by `run.prepare_out`) into `out` and write every output file; returns the
    metrics. `identity` is recorded in the state for the next resume to check against. With `devices` (from
    `distribute.devices_for`), every batch is split across them."""
    keras.utils.set_random_seed(config.seed)
    contract = training_contract(config, data.class_names)
    batches, validation = _data(data, config, contract, devices)  # 1. Data
    # The final files are written after this scope, on one device, from the best epoch's weights.
    # FerBatches feeds each process its own slice of every batch (`shard`), so Keras must not shard again.
    distribution = devices and keras.distribution.DataParallel(devices=devices.names, auto_shard_dataset=False)
    with distribution.scope() if distribution else contextlib.nullcontext():
        model, state = _build(config, contract, out, state, len(batches))  # 2. Build
        state.config = identity
        _fit(model, batches, validation, config, out, state)  # 3. Train
    return _finish(data, config, contract, out, state)  # 4. Evaluate and save


# 1. Data
def _data(
    data: Dataset, config: TrainConfig, contract: Contract, devices: Devices | None
) -> tuple[FerBatches, tuple[np.ndarray, ...]]:
    """The Training batches and the validation arrays (padded to whole batches across `devices`)."""
    x_train, y_train = data.split("Training")
    x_val, y_val = validation_rows(data)
    batches = FerBatches(
        x_train,
        training_targets(data, config, contract.num_classes),
        y_train,
        contract,
        batch_size=config.batch_size,
        weights=class_weights(y_train, contract.num_classes, config.class_weight),
        augment=_augmentation(config),
        seed=config.seed,
        workers=config.workers,
        use_multiprocessing=False,
        shard=devices.shard if devices else (0, 1),
        teacher=BatchTeacher(config.teacher, contract) if config.teacher else None,
        teacher_weight=config.distill_weight,
        context=data.context,
        shares=None if data.shares is None else data.shares[data.usage == "Training"],
    )
    validation = padded_validation(
        contract.tensor(contract.fit_images(x_val)), np.eye(contract.num_classes, dtype=np.float32)[y_val], devices
    )
    return batches, validation


def validation_rows(data: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The rows that choose the best epoch, as the model sees them: the validation split of a CSV, or of every
    --data source together (FER-2013's PublicTest and the photos' held-out subjects)."""
    names = [name for name in (validation_split_name(data), HELD_OUT_USAGE) if name in data.splits]
    parts = [data.model_split(name) for name in dict.fromkeys(names)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def training_targets(data: Dataset, config: TrainConfig, num_classes: int) -> np.ndarray:
    """What each Training row is taught (N, C): its one-hot label, or with `--soft-targets` its FER+ vote
    distribution, or with `--vote-weight` a blend of the two; with `--soft-labels`, blended with the teachers'
    probabilities; with `--split-by`, the split within `--split-classes` taken from that teacher."""
    training = data.usage == "Training"  # the labels alone: data.split would copy every Training image too
    targets = np.eye(num_classes, dtype=np.float32)[data.labels[training]]
    if config.soft_targets and data.votes is not None:
        targets = data.votes[training]
    elif config.vote_weight and data.votes is not None:
        targets = config.vote_weight * data.votes[training] + (1 - config.vote_weight) * targets
    if config.soft_labels is not None:
        soft = load_soft_labels(config.soft_labels, len(targets), num_classes)
        targets = config.distill_weight * soft + (1 - config.distill_weight) * targets
    if config.split_by is not None:
        classes = [data.class_names.index(name) for name in config.split_classes.split(",")]
        judge = load_soft_labels(config.split_by, len(targets), num_classes, classes)
        targets = split_within(targets, judge, classes)
    return targets


def _augmentation(config: TrainConfig) -> AugmentConfig | None:
    if not config.augment:
        return None
    if config.camera_augment:
        return AugmentConfig.for_camera(mixup_alpha=config.mixup)
    return AugmentConfig(mixup_alpha=config.mixup)


# 2. Build
def _initial_model(config: TrainConfig, num_classes: int) -> keras.Model:
    """The architecture with fresh weights, or (`--init-from`) a .keras model's or a converted model's weights to
    fine-tune."""
    if config.init_from is None:
        return models.build(config.arch, num_classes)
    if config.init_from.suffix == ".keras":
        return keras.models.load_model(config.init_from, compile=False)
    from train.warm_start import rebuild

    return rebuild(config.init_from, f"{Contract.load(config.init_from).architecture}_folded")[0]


def _optimizer(config: TrainConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    lr: float | keras.optimizers.schedules.LearningRateSchedule = config.lr
    if config.schedule == "cosine":
        warmup = steps_per_epoch * min(3, max(config.epochs - 1, 0))
        lr = keras.optimizers.schedules.CosineDecay(
            config.lr / 10,
            decay_steps=max(1, steps_per_epoch * config.epochs - warmup),
            warmup_target=config.lr,
            warmup_steps=warmup,
        )
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=0.9, nesterov=True, weight_decay=config.weight_decay)
    return keras.optimizers.AdamW(lr, weight_decay=config.weight_decay)


def _compiled_model(config: TrainConfig, num_classes: int, steps_per_epoch: int) -> keras.Model:
    model = _initial_model(config, num_classes)
    model.compile(
        optimizer=_optimizer(config, steps_per_epoch),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=["accuracy"],
    )
    return model


def _build(
    config: TrainConfig, contract: Contract, out: Path, state: RunState | None, steps_per_epoch: int
) -> tuple[keras.Model, RunState]:
    """A new compiled model and an empty state, or the interrupted run's model and state."""
    if state is None:
        return _compiled_model(config, contract.num_classes, steps_per_epoch), RunState(config={})
    print(f"Resuming {out} after epoch {state.epochs_done} (best val_accuracy {state.best_val_accuracy:.4f})")
    return keras.models.load_model(state_dir(out) / "state.keras"), state


# 3. Train
def _callbacks(config: TrainConfig) -> dict[str, keras.callbacks.Callback]:
    tracked: dict[str, keras.callbacks.Callback] = {}
    if config.schedule == "plateau":
        patience = max(2, config.patience // 3) if config.patience else 5
        tracked["reduce_lr"] = keras.callbacks.ReduceLROnPlateau(
            monitor="val_accuracy", mode="max", factor=0.5, patience=patience, min_lr=1e-6, verbose=1
        )
    if config.patience:
        tracked["early_stopping"] = keras.callbacks.EarlyStopping(
            monitor="val_accuracy", mode="max", patience=config.patience, verbose=1
        )
    return tracked


def _fit(
    model: keras.Model, batches: FerBatches, validation: tuple, config: TrainConfig, out: Path, state: RunState
) -> None:
    """The epochs still to run (none when the run stopped early or is complete)."""
    tracked = _callbacks(config)
    if state.stopped_early or state.epochs_done >= config.epochs:
        return
    batches.set_epoch(state.epochs_done)
    model.fit(
        batches,
        validation_data=validation,
        epochs=config.epochs,
        initial_epoch=state.epochs_done,
        callbacks=[*tracked.values(), ResumableState(out, state, tracked)],
        verbose=1 if sys.stdout.isatty() else 2,
    )


# 4. Evaluate and save
def _finish(data: Dataset, config: TrainConfig, contract: Contract, out: Path, state: RunState) -> dict:
    """Write the final files from the best epoch's weights, then drop the resume state."""
    best = _initial_model(config, contract.num_classes)
    best.load_weights(state_dir(out) / BEST_WEIGHTS)
    contract.extra.update(
        {
            "label_source": state.config.get("labels", "fer2013"),
            "trained_epochs": state.epochs_done,
            "best_epoch": state.best_epoch,
            "data": Path(data.source).name,
            **({"fine_tuned_from": str(config.init_from)} if config.init_from else {}),
        }
    )
    if data.context == 1.0 and config.init_from is None:  # FER-2013's rows: where each detector boxes them
        contract.framing = measure_all(data.split("Training")[0], seed=config.seed)
    save_model_files(best, contract, out)
    write_text(out / "history.csv", history_csv(state.history))  # also when killed before the last epoch's copy
    metrics = write_reports(best, data, contract, out, state.history)
    shutil.rmtree(state_dir(out))
    return metrics


def save_model_files(model: keras.Model, contract: Contract, out: Path) -> None:
    """model.keras, the architecture.json + weights.h5 pair, and the contract, each written atomically."""
    with atomic_path(out / "model.keras") as tmp:
        model.save(tmp)
    write_text(out / "architecture.json", model.to_json(indent=1) + "\n")
    with atomic_path(out / "weights.h5") as tmp, h5py.File(tmp, "w") as f:
        # Keras 3 reads a plain `.h5` as the legacy layout (the reference notebook's format), which only
        # this function writes; `model.save_weights` insists on `.weights.h5`.
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    contract.save(out)
