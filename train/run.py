"""A training run's options and its folder's state, with every check that can be made before TensorFlow loads.

Nothing here imports Keras: `python -m train` checks its options, its data and its `--out` folder (writable,
not a finished run, resumable with these options) in well under a second, and only then starts TensorFlow.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge.common.errors import UserError
from edge.common.files import file_sha256, probe_folder, recover
from edge.contract import CONTRACT_FILENAME, Contract
from train.data import DEFAULT_FERPLUS, Dataset, check_labels
from train.distill import load_soft_labels, model_contract
from train.models import DEFAULT_ARCH
from train.photos import photo_rows

STATE_DIR = ".resume"
STATE_JSON = "state.json"
STATE_MODEL = "state.keras"
BEST_WEIGHTS = "best.weights.h5"
FINISHED_MARKER = "model.keras"


@dataclass
class TrainConfig:
    arch: str = DEFAULT_ARCH
    epochs: int = 60
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    schedule: str = "plateau"
    label_smoothing: float = 0.1
    class_weight: str = "sqrt"
    augment: bool = True
    camera_augment: bool = False
    mixup: float = 0.0
    patience: int = 12
    seed: int = 0
    workers: int = 1
    soft_labels: Path | None = None
    teacher: Path | None = None
    distill_weight: float = 0.7
    split_by: Path | None = None
    split_classes: str = "Happy,Neutral"
    soft_targets: bool = False
    vote_weight: float = 0.0
    init_from: Path | None = None
    distribute: str = "none"
    crop_scale: float = 1.0


# What may change between a run and its resume: how long it goes on, how many threads augment, and whether the
# batches are split across devices (the same result up to float rounding, so a run may move machines).
MAY_CHANGE = ("epochs", "workers", "distribute")
# Option names as the user typed them, where they differ from the config key.
FLAGS = {
    "augment": "--no-augment",
    "data_sha256": "--data",
    "ferplus_sha256": "--ferplus-csv",
    "soft_labels_sha256": "--soft-labels",
    "split_by_sha256": "--split-by",
    "teacher_sha256": "--teacher",
    "init_from_sha256": "--init-from",
}


@dataclass
class RunState:
    """What survives between processes; `epochs_done` counts finished epochs."""

    config: dict[str, Any]
    epochs_done: int = 0
    stopped_early: bool = False
    best_val_accuracy: float = -math.inf
    best_epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    callbacks: dict[str, dict[str, Any]] = field(default_factory=dict)


def state_dir(out: Path) -> Path:
    return out / STATE_DIR


def load_state(out: Path) -> RunState | None:
    """The last complete state, also when a crash came between the two renames of a swap."""
    recover(state_dir(out))
    if (state_dir(out) / STATE_JSON).exists() and (state_dir(out) / STATE_MODEL).exists():
        return RunState(**json.loads((state_dir(out) / STATE_JSON).read_text()))
    return None


def run_identity(
    config: TrainConfig,
    data: list[Path],
    labels: str,
    ferplus_csv: Path | None,
    skip_bad_rows: bool,
    shares: list[float] | None = None,
) -> dict:
    """Everything that makes two runs the same run: the options that shape training and the data's content."""
    identity = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()}
    first = data[0]
    identity.update(
        data_sha256=file_sha256(first) if len(data) == 1 and first.is_file() else _sources_sha256(data),
        mix=shares if shares and len(data) > 1 else None,
        labels=labels,
        ferplus_sha256=file_sha256(ferplus_csv or first.parent / DEFAULT_FERPLUS) if labels != "fer2013" else None,
        skip_bad_rows=skip_bad_rows,
        soft_labels_sha256=file_sha256(config.soft_labels) if config.soft_labels else None,
        split_by_sha256=file_sha256(config.split_by) if config.split_by else None,
        init_from_sha256=_folder_sha256(config.init_from) if config.init_from else None,
        teacher_sha256=_folder_sha256(config.teacher) if config.teacher else None,
    )
    return identity


def _sources_sha256(paths: list[Path]) -> str:
    """Several sources' identity: each CSV's content, each photo folder's rows and photos' content."""
    digest = hashlib.sha256()
    for path in paths:
        if path.is_file():
            digest.update(file_sha256(path).encode())
        else:
            for row in photo_rows(path):
                content = file_sha256(path / row.file)
                digest.update(f"{row.file},{row.label},{row.subject},{row.box},{content}\n".encode())
    return digest.hexdigest()


def _folder_sha256(model: Path) -> str:
    """A converted folder's identity, or that of the folder a .tflite model lies in: its contract, which lists
    every model file's sha256 (the path, which names the file, is in the identity too)."""
    folder = Path(model) if Path(model).is_dir() else Path(model).parent
    return file_sha256(folder / CONTRACT_FILENAME)


def _shown(value: Any) -> str:
    return f"sha256 {value[:12]}" if isinstance(value, str) and len(value) == 64 else repr(value)


def changed_options(started: dict, now: dict) -> list[str]:
    """Each option whose value differs from the one the run was started with, as the user would name it."""
    changed = []
    for key, value in now.items():
        if key not in MAY_CHANGE and started.get(key) != value:
            flag = FLAGS.get(key, "--" + key.replace("_", "-"))
            changed.append(f"{flag} {_shown(started.get(key))} then, {_shown(value)} now")
    return changed


def prepare_out(out: Path, identity: dict) -> RunState | None:
    """Check `--out` before any training: a folder that can be written, and either new or this run's to resume."""
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder; choose another --out")
    probe_folder(out, out, "run folder")
    state = load_state(out)
    if state is None and (out / FINISHED_MARKER).exists():
        raise UserError(f"{out}: already holds a finished run ({FINISHED_MARKER}); choose another --out")
    if state is not None:
        changed = changed_options(state.config, identity)
        if changed:
            raise UserError(
                f"{out}: this run was started with other options ({'; '.join(changed)}); rerun with the same"
                " arguments to resume, or choose another --out"
            )
    return state


def training_contract(config: TrainConfig, class_names: tuple[str, ...]) -> Contract:
    """The contract of the model being trained: a new one for --arch, or (--init-from) the starting model's input,
    colour, scaling and framing (photos are cut by its framing), less what describes that model's files."""
    if config.init_from is None:
        return Contract(architecture=config.arch, labels=list(class_names))
    start = with_crop_scale(model_contract(config.init_from), config.crop_scale)
    return Contract(
        architecture=start.architecture,
        labels=list(class_names),
        input_shape=start.input_shape,
        pixel_scale=start.pixel_scale,
        pixel_offset=start.pixel_offset,
        color=start.color,
        framing=start.framing,
    )


def with_crop_scale(contract: Contract, scale: float) -> Contract:
    """The contract with every detector's crop `scale` times as wide (`--crop-scale`): photos are cut so, and the
    trained model's contract records it, so the device cuts what training cut."""
    if scale == 1.0:
        return contract
    from edge.detectors.registry import DETECTORS

    contract.framing = {name: contract.framing_for(name).wider(scale).to_dict() for name in DETECTORS}
    return contract


def check_init_from(path: Path) -> None:
    """--init-from names a .keras model (its contract beside it) or a converted model folder."""
    if path.is_file() and path.suffix != ".keras":
        raise UserError(f"--init-from {path}: not a .keras model or a converted model folder")
    model_contract(path)


def check_against_data(config: TrainConfig, data: Dataset, validation: str) -> None:
    """Options that only make sense for some data sets, refused before any training."""
    training = int((data.usage == "Training").sum())
    if config.batch_size > training:
        raise UserError(
            f"--batch-size {config.batch_size} is more than the {training} Training rows of {data.source};"
            f" use at most {training}"
        )
    if config.soft_targets and data.votes is None:
        raise UserError("--soft-targets needs --labels ferplus (the FER+ vote distributions)")
    if config.vote_weight and data.votes is None:
        raise UserError("--vote-weight needs the FER+ votes: pass --ferplus-csv (or keep fer2013new.csv beside --data)")
    if config.init_from is not None:
        contract = model_contract(config.init_from)
        if list(contract.labels) != list(data.class_names):
            raise UserError(
                f"--init-from {config.init_from}: its labels ({', '.join(contract.labels)}) are not the data's"
                f" ({', '.join(data.class_names)})"
            )
    if config.soft_labels is not None:  # read and checked now, before its hash names the run
        load_soft_labels(config.soft_labels, training, len(data.class_names))
    if config.split_by is None and config.split_classes != TrainConfig.split_classes:
        raise UserError("--split-classes needs --split-by (the teacher that shares those classes' mass)")
    if config.split_by is not None:
        unknown = [name for name in config.split_classes.split(",") if name not in data.class_names]
        if unknown or len(config.split_classes.split(",")) < 2:
            raise UserError(
                f"--split-classes {config.split_classes!r}: give two or more of {', '.join(data.class_names)},"
                " separated by commas"
            )
        classes = [data.class_names.index(name) for name in config.split_classes.split(",")]
        load_soft_labels(config.split_by, training, len(data.class_names), classes)
    if config.teacher is not None:
        if config.soft_labels is not None:
            raise UserError("--teacher and --soft-labels each give the teacher's share of every target; give one")
        check_labels(data, model_contract(config.teacher), config.teacher)
    if not (data.usage == validation).any():
        raise UserError(f"{data.source}: no validation rows ({validation}) to select the best epoch on")
