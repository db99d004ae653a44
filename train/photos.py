"""Labelled photos as data: a folder with `labels.csv` (`file,label[,subject][,box]`) or one sub-folder per label.

The benchmark scores the pipeline on such a folder (`benchmarks/real_faces.py`); training learns from one. Either
way each photo's face is found the way the device finds it (the edge's own detector, or the `box` column when the
photos come with one) and cut the way the model's contract frames it (`Framing.crop_of`, `edge/pipeline/crop.py`),
so a model learns from the very crops the device will cut. For training the cut keeps `CONTEXT` times the crop
around it, so augmentation can zoom out and shift with real pixels rather than mirrored edges: a model trained so
does not depend on one framing. Decoded crops are cached (`cache_path`): the second run of a recipe reads them in
a second.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.common.errors import UserError
from edge.common.files import atomic_path, file_sha256, inside, is_special, read_capped
from edge.common.images import read_image as read_any_image
from edge.common.images import unreadable
from edge.contract import Contract, Framing
from edge.detectors.base import DetectorConfig
from edge.detectors.registry import make_detector, resolve
from edge.pipeline.crop import cut
from edge.sources.base import IMAGE_SUFFIXES

LABELS_FILE = "labels.csv"
MAX_LABELS_BYTES = 64 << 20  # a line per photo: a million photos' names and labels
REQUIRED_COLUMNS = ("file", "label")
SUBJECT = "subject"
BOX = "box"
# The stored crop's side over the model's crop: room for augmentation to zoom out to 1/1.25 and shift by 8%.
CONTEXT = 1.5
# The share of subjects (never of photos: one person's photos stay on one side) held out for validation.
VALIDATION_SHARE = 0.15
TRAINING, VALIDATION = "Training", "Validation"  # train/data.py's split names
CACHE_VERSION = 1
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fer-edge" / "photos"


@dataclass(frozen=True)
class Row:
    line: int  # in labels.csv (0 for a sub-folder layout), for messages
    file: str
    label: str
    subject: str  # "" when there is no subject column or the cell is empty
    box: tuple[float, float, float, float] | None = None  # x, y, w, h in the photo's pixels, when given


def where(folder: Path, line: int | None = None) -> str:
    """How a message names a row: labels.csv and its line, or the folder."""
    if line == 0:
        return str(folder)
    return f"{folder / LABELS_FILE}" + (f" line {line}" if line is not None else "")


def _box(text: str, folder: Path, line: int) -> tuple[float, float, float, float] | None:
    if not text.strip():
        return None
    try:
        values = tuple(float(v) for v in text.split())
    except ValueError:
        values = ()
    if len(values) != 4 or not all(np.isfinite(values)) or values[2] <= 0 or values[3] <= 0:
        raise UserError(f"{where(folder, line)}: box {text.strip()[:40]!r} is not x y w h (four numbers, w and h > 0)")
    return values  # type: ignore[return-value]


def read_labels(folder: Path) -> tuple[list[Row], bool]:
    """labels.csv's rows, checked for shape and for files that exist; and whether it has a subject column.

    Labels are checked against a model's contract by whoever uses the rows."""
    path = folder / LABELS_FILE
    if not path.exists():
        raise UserError(f"{path}: not found (a photo folder holds a labels.csv: file,label[,subject][,box])")
    try:
        text = read_capped(path, LABELS_FILE, MAX_LABELS_BYTES).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not readable as UTF-8 text ({type(exc).__name__})") from None
    reader = csv.reader(text.splitlines())
    try:
        header = [name.strip().lower() for name in next(reader, [])]
        missing = [name for name in REQUIRED_COLUMNS if name not in header]
        if missing:
            raise UserError(
                f"{where(folder, 1)}: expected a header naming the columns file,label[,subject][,box];"
                f" no {' or '.join(missing)} column in {','.join(header) or 'an empty line'}"
            )
        columns = {name: header.index(name) for name in (*REQUIRED_COLUMNS, SUBJECT, BOX) if name in header}
        rows: list[Row] = []
        first_seen: dict[str, int] = {}
        for fields in reader:
            line = reader.line_num
            if not any(field.strip() for field in fields):
                continue  # a blank line
            if len(fields) != len(header):
                raise UserError(f"{where(folder, line)}: {len(fields)} fields, the header has {len(header)}")
            file, label = (fields[columns[name]].strip() for name in REQUIRED_COLUMNS)
            if not file or not label:
                raise UserError(f"{where(folder, line)}: empty {'file' if not file else 'label'}")
            _photo_path(folder, line, file)
            key = os.path.normpath(file)  # x.jpg and ./x.jpg are one photo
            if key in first_seen:
                raise UserError(f"{where(folder, line)}: {file} is listed twice (first on line {first_seen[key]})")
            first_seen[key] = line
            subject = fields[columns[SUBJECT]].strip() if SUBJECT in columns else ""
            box = _box(fields[columns[BOX]], folder, line) if BOX in columns else None
            rows.append(Row(line, file, label, subject, box))
    except csv.Error as exc:
        raise UserError(f"{where(folder, reader.line_num)}: not valid CSV ({exc})") from None
    if not rows:
        raise UserError(f"{path}: no rows under the header")
    return rows, SUBJECT in columns


def _photo_path(folder: Path, line: int, file: str) -> Path:
    """A row's photo, refused in one line naming the row: outside the folder (`inside`: absolute, `..`, a link
    out), missing, or not a regular file (a folder, or a link to /dev/zero)."""
    try:
        path = inside(folder, file, "photo")
    except UserError as exc:
        raise UserError(f"{where(folder, line)}: {exc}") from None
    if not path.exists():
        raise UserError(f"{where(folder, line)}: {file}: no such file in {folder}")
    if not path.is_file() or is_special(path):
        raise UserError(f"{where(folder, line)}: {file}: {unreadable(path)}")
    return path


def read_label_folders(folder: Path) -> list[Row]:
    """One sub-folder per label (`Happy/`, `Neutral/`...), each photo its own subject."""
    rows = []
    for label_folder in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for photo in sorted(p for p in label_folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            rows.append(Row(0, f"{label_folder.name}/{photo.name}", label_folder.name, ""))
    if not rows:
        raise UserError(
            f"{folder}: no {LABELS_FILE} and no photos in sub-folders named by label"
            f" ({', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    return rows


def photo_rows(folder: Path) -> list[Row]:
    """The rows of a photo folder in either layout."""
    if not folder.is_dir():
        raise UserError(f"{folder}: not a folder of labelled photos")
    return read_labels(folder)[0] if (folder / LABELS_FILE).exists() else read_label_folders(folder)


def read_image(folder: Path, row: Row) -> np.ndarray | None:
    """The photo as BGR (EXIF orientation applied, as a viewer shows it), or None when it cannot be decoded
    (`edge.common.images.read_image`: under the image size cap, regular files only)."""
    return read_any_image(folder / row.file)


def is_validation(subject: str, share: float = VALIDATION_SHARE) -> bool:
    """Whether a subject is held out: by a hash of its name, so the split does not depend on row order, and a
    person added later lands on the side the same name always lands on."""
    digest = hashlib.sha256(subject.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def context_side(size: int, context: float = CONTEXT) -> int:
    """The stored crop's side in pixels for a model input of `size`: an even margin, so the model's crop is its
    exact middle."""
    return size + 2 * round(size * (context - 1) / 2)


@dataclass
class Photos:
    """Context crops (N, C, C[, 3]) uint8 cut by the model's framing, with labels (indices into the contract's),
    each row's split, labels.csv line, and the rows that were skipped."""

    images: np.ndarray
    labels: np.ndarray
    usage: np.ndarray
    lines: np.ndarray
    skipped: list[tuple[int, str]]


def cache_path(folder: Path, rows: list[Row], contract: Contract, detector: str, cache_dir: Path) -> Path:
    """Where this folder's crops for this framing are cached: named by a digest of everything they depend on."""
    listing = [(r.file, r.label, r.subject, r.box, file_sha256(folder / r.file)) for r in rows]
    key = {
        "version": CACHE_VERSION,
        "folder": str(folder.resolve()),
        "rows": listing,
        "size": contract.input_shape,
        "color": contract.color,
        "framing": contract.framing_for(detector).to_dict(),
        "detector": detector,
        "context": CONTEXT,
        "labels": contract.labels,
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    return cache_dir / f"{folder.name}-{digest}.npz"


def _face(image: np.ndarray, row: Row, finder) -> np.ndarray | None:
    if row.box is not None:
        return np.asarray(row.box, dtype=np.float64)
    found = finder.detect(image)
    return found[np.argmax(found[:, 2] * found[:, 3])].astype(np.float64) if len(found) else None


def _cut_all(folder: Path, rows: list[Row], contract: Contract, detector: str) -> Photos:
    framing: Framing = contract.framing_for(detector)
    side = context_side(contract.image_size[0])
    finder = None if all(r.box is not None for r in rows) else make_detector(DetectorConfig(name=detector))
    images = np.zeros((len(rows), side, side, *(() if contract.channels == 1 else (3,))), dtype=np.uint8)
    keep = np.zeros(len(rows), dtype=bool)
    skipped: list[tuple[int, str]] = []
    for i, row in enumerate(rows):
        if row.label not in contract.labels:
            known = ", ".join(contract.labels)
            skipped.append((i, f"{row.file}: label {row.label!r} is not one of the model's ({known})"))
            continue
        image = read_image(folder, row)
        if image is None:
            skipped.append((i, f"{row.file}: {unreadable(folder / row.file)}"))
            continue
        box = _face(image, row, finder)
        if box is None:
            skipped.append((i, f"{row.file}: no face found by {detector}"))
            continue
        x, y, crop = framing.crop_of(box)
        grow = crop * (side / contract.image_size[0] - 1) / 2
        images[i] = cut(image, (x - grow, y - grow, crop + 2 * grow), (side, side), contract.color)
        keep[i] = True
    labels = np.array([contract.labels.index(r.label) if k else -1 for r, k in zip(rows, keep, strict=True)])
    usage = np.array([VALIDATION if is_validation(r.subject or r.file) else TRAINING for r in rows])
    lines = np.array([r.line for r in rows])
    return Photos(images[keep], labels[keep], usage[keep], lines[keep], skipped)


def load_photos(
    folder: Path,
    contract: Contract,
    detector: str = "auto",
    skip_bad_rows: bool = False,
    cache_dir: Path = DEFAULT_CACHE,
) -> Photos:
    """The folder's photos as context crops for `contract`, from the cache when it has them.

    A row whose label the model lacks, whose image cannot be read or where no face is found is a bad row: a
    one-line UserError naming it, or with `skip_bad_rows` dropped and named on stderr (as CSV rows are)."""
    rows = photo_rows(folder)
    detector = resolve(detector)
    cached = cache_path(folder, rows, contract, detector, cache_dir)
    if cached.is_file():
        with np.load(cached) as stored:
            skipped = zip(stored["skipped_rows"], stored["skipped_reasons"], strict=True)
            photos = Photos(
                stored["images"],
                stored["labels"],
                stored["usage"],
                stored["lines"],
                [(int(i), str(r)) for i, r in skipped],
            )
    else:
        photos = _cut_all(folder, rows, contract, detector)
        cached.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cached, suffix=".npz") as tmp:
            np.savez(
                tmp,
                images=photos.images,
                labels=photos.labels,
                usage=photos.usage,
                lines=photos.lines,
                skipped_rows=np.array([i for i, _ in photos.skipped], dtype=np.int64),
                skipped_reasons=np.array([r for _, r in photos.skipped], dtype=str),
            )
    if photos.skipped:
        first_row, first_reason = photos.skipped[0]
        if not skip_bad_rows:
            raise UserError(f"{where(folder, rows[first_row].line)}: {first_reason} (--skip-bad-rows drops such rows)")
        print(f"skipped {len(photos.skipped)} photo(s) of {folder}:", file=sys.stderr)
        for row, reason in photos.skipped:
            print(f"  {where(folder, rows[row].line)}: {reason}", file=sys.stderr)
    if not len(photos.labels):
        raise UserError(f"{folder}: no usable photos")
    return photos
