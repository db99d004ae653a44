"""The converted model folder: its file names, the manifest that ties its files together, and its swap as one unit.

`python -m convert` writes a folder of files that only make sense together: the .tflite models, the contract
that says how to feed them, the report and plots about them. This module is the one owner of that layout.

Writing: every file of the new folder goes into a staging folder beside the target, which is then swapped in.
On Linux the swap is one `renameat2(RENAME_EXCHANGE)` call, so a kill at any moment leaves either the whole
old folder or the whole new one in place. Where that call is missing (another OS, an old kernel or a file system
without it), the swap is two renames (target -> `.NAME.old`, staging -> target); a kill between them leaves no
target, and the next read or write puts the old folder back (`recover`).

Reading: contract.json records every other file's size and sha256 (`extra.files`), and the sha256 of its own
content less that one entry (`extra.contract_sha256`, over the contract as canonical JSON, so reformatting it
changes nothing). A folder whose files do not match, whose contract was edited, or that holds a model the manifest
does not list, is refused with one line rather than run: that is what an interrupted convert of an older version,
or files copied in by hand from another model, look like.

A target that is a symlink to a folder stays a link: the folder it points to is the one swapped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from pathlib import Path

from edge.common.errors import UserError
from edge.common.files import file_sha256, probe_folder, real_folder, recover, staging_path, swap_in, sync_folder
from edge.contract import CONTRACT_FILENAME, DIGEST_KEY, MANIFEST_KEY, Contract

INT8_FILE = "model_int8.tflite"
FLOAT32_FILE = "model_float32.tflite"
MODEL_FILES = {"int8": INT8_FILE, "float32": FLOAT32_FILE}
PRECISIONS = tuple(MODEL_FILES)
CONTRACT_FILE = CONTRACT_FILENAME
REPORT_FILE = "conversion_report.json"
FAILED_REPORT_FILE = "conversion_report.failed.json"  # a refused conversion's report; never part of the unit
CARD_FILE = "MODEL_CARD.md"
CONFUSION_PLOT = "confusion_matrix_int8.png"
CURVES_PLOT = "training_curves.png"
LICENSE_FILE = "LICENSE"  # an imported model's licence notice (face-api's MIT)
LAYOUT = (INT8_FILE, FLOAT32_FILE, CONTRACT_FILE, REPORT_FILE, FAILED_REPORT_FILE, CARD_FILE, CONFUSION_PLOT,
          CURVES_PLOT, LICENSE_FILE)  # fmt: skip
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "model"
# The model zoo by name (`--model faceapi`): the default ships in edge/model/, the others in edge/models/NAME/,
# every one tracked by git (tests/edge/test_zoo_ships.py runs each from what git tracks). A name always means the
# zoo model; a folder of yours with the same name is `./NAME`.
MODEL_NAMES = {
    "default": DEFAULT_MODEL_DIR,
    "faceapi": DEFAULT_MODEL_DIR.parent / "models" / "faceapi",
    "vgg_wide": DEFAULT_MODEL_DIR.parent / "models" / "vgg_wide",
}


def zoo_name(folder: Path) -> str:
    """A folder's name in the zoo (`default` for edge/model/), else the folder's own name."""
    return next((name for name, path in MODEL_NAMES.items() if path.resolve() == folder.resolve()), folder.name)


def model_location(model: str | os.PathLike | None) -> Path:
    """Where `--model` points: a zoo name's folder, or the path as given (None: the default model)."""
    if model is None:
        return DEFAULT_MODEL_DIR
    if isinstance(model, str) and model in MODEL_NAMES:
        return MODEL_NAMES[model]
    return Path(model)


def manifest(folder: Path) -> dict[str, dict[str, int | str]]:
    """Size and sha256 of every file of the unit in `folder` (all but the contract that holds the manifest)."""
    return {
        path.name: {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
        for path in sorted(folder.iterdir())
        if path.is_file() and path.name not in (CONTRACT_FILE, FAILED_REPORT_FILE) and not path.name.startswith(".")
    }


def contract_digest(contract: Contract) -> str:
    """sha256 of the contract as canonical JSON (sorted keys, values as read back), less its own digest entry."""
    data = Contract.from_dict(json.loads(json.dumps(contract.to_dict()))).to_dict()  # 1 and 1.0: as read back
    data["extra"].pop(DIGEST_KEY, None)
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def check_writable(target: Path) -> None:
    """Refuse, before any work, a target that is not a model folder or whose parent cannot take the staging folder."""
    target = real_folder(target)
    if target.exists() and not target.is_dir():
        raise UserError(f"{target}: exists and is not a folder; choose another --out")
    if target.is_dir():
        foreign = sorted(p.name for p in target.iterdir() if p.name not in LAYOUT)
        if foreign:
            raise UserError(
                f"{target}: holds {', '.join(foreign[:5])}, which are not part of a converted model folder; choose an"
                " empty or new --out (the whole folder is replaced)"
            )
    probe_folder(target.parent, target, "model folder")  # where the staging folder goes


def write_folder(target: Path, files: dict[str, bytes], contract: Contract, keep: bool = False) -> None:
    """Replace `target` with `files` and the contract (its manifest filled in), as one unit.

    keep: start from the old folder's files (hard links, or copies), for writers that add to a folder.
    A failure (a full disk) deletes the staging folder and leaves the old folder as it was.
    """
    target = real_folder(target)
    recover(target)
    staging = staging_path(target)
    shutil.rmtree(staging, ignore_errors=True)
    try:
        if keep and target.is_dir():
            shutil.copytree(target, staging, copy_function=_link_or_copy)
            (staging / FAILED_REPORT_FILE).unlink(missing_ok=True)
        else:
            staging.mkdir(parents=True)
        for name, content in files.items():
            (staging / name).write_bytes(content)
        contract.extra[MANIFEST_KEY] = manifest(staging)
        contract.extra[DIGEST_KEY] = contract_digest(contract)
        contract.save(staging)
        sync_folder(staging)
        swap_in(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _link_or_copy(source: str, destination: str) -> None:
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def check_folder(folder: Path) -> Contract:
    """The folder's contract, once every file it lists matches and no model beside it is unlisted."""
    recover(folder)
    contract = Contract.load(folder)
    listed = contract.extra.get(MANIFEST_KEY)
    hint = "an interrupted convert, or files copied from another model? Reconvert with `python -m convert`"
    if not isinstance(listed, dict) or not listed:
        raise UserError(
            f"{folder / CONTRACT_FILE}: lists none of the folder's files, so they cannot be checked ({hint})"
        )
    if DIGEST_KEY not in contract.extra:
        raise UserError(f"{folder / CONTRACT_FILE}: has no checksum of itself, so an edit cannot be told ({hint})")
    if contract.extra[DIGEST_KEY] != contract_digest(contract):
        raise UserError(
            f"{folder / CONTRACT_FILE}: does not match its own checksum, it was edited after conversion ({hint})"
        )
    for name in MODEL_FILES.values():
        if (folder / name).is_file() and name not in listed:
            raise UserError(f"{folder / name}: not listed in {CONTRACT_FILE}, it belongs to another model ({hint})")
    for name, entry in listed.items():
        path = folder / name
        if not path.is_file():
            raise UserError(f"{path}: listed in {CONTRACT_FILE} but missing ({hint})")
        if path.stat().st_size != entry.get("bytes") or file_sha256(path) != entry.get("sha256"):
            raise UserError(f"{path}: does not match {CONTRACT_FILE}, it belongs to another model ({hint})")
    return contract


def resolve_models(model: str | os.PathLike | None) -> tuple[dict[str, Path], Contract]:
    """Every model of a zoo name (`MODEL_NAMES`), a folder from `python -m convert` or a .tflite file (None: the
    shipped default), by precision, and their checked contract. A lone .tflite file is its own precision (named
    by its file name, else int8 when it is not float32)."""
    path = model_location(model)
    with contextlib.suppress(OSError):  # a read-only place cannot be repaired; the checks below still run
        recover(path)
    folder = path if path.is_dir() else path.parent
    if not path.exists():
        raise UserError(f"{path}: model not found")
    present = {p: folder / name for p, name in MODEL_FILES.items() if (folder / name).is_file()}
    if path.is_dir() and not present:
        raise UserError(f"{folder}: no {' or '.join(MODEL_FILES.values())} in this folder")
    if not (folder / CONTRACT_FILE).is_file():
        raise UserError(f"{path}: no {CONTRACT_FILE} beside the model (it holds labels and input size)")
    contract = check_folder(folder)
    if not path.is_dir():
        present = {"float32" if path.name == FLOAT32_FILE else "int8": path}
    return present, contract


def resolve_model(model: str | os.PathLike | None, precision: str = "int8") -> tuple[Path, Contract]:
    """`resolve_models`' model of one precision (a lone .tflite file is itself, whatever it is)."""
    if precision not in MODEL_FILES:
        raise ValueError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    present, contract = resolve_models(model)
    path = model_location(model)
    if not path.is_dir():
        return path, contract
    if precision not in present:
        raise UserError(
            f"{path}: no {MODEL_FILES[precision]} for --precision {precision}; this folder has {', '.join(present)}"
        )
    return present[precision], contract
