"""Load and validate FER-2013 CSVs (`emotion,pixels,Usage`) into uint8 image arrays.

The fast path joins a chunk of pixel strings and parses it with one `np.fromstring` call; only a
chunk that fails a check is re-parsed row by row, to name the exact line and what is wrong with it.
"""

from __future__ import annotations

import argparse
import csv
import math
import re
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from edge.common.errors import UserError, described
from edge.common.files import check_regular
from edge.contract import FERPLUS_LABELS, IMAGE_SIZE, LABELS, Contract

PIXELS_PER_IMAGE = IMAGE_SIZE * IMAGE_SIZE
USAGES = ("Training", "PublicTest", "PrivateTest")
VALIDATION_USAGE = "PublicTest"
HELD_OUT_USAGE = "Validation"  # the split made from Training rows when a CSV has no Usage column
USAGE_DTYPE = f"U{max(map(len, (*USAGES, HELD_OUT_USAGE)))}"  # wide enough to relabel rows in place
CHUNK_ROWS = 4096
FERPLUS_COLUMNS = (
    "neutral",
    "happiness",
    "surprise",
    "sadness",
    "anger",
    "disgust",
    "fear",
    "contempt",
    "unknown",
    "NF",
)
FERPLUS_EMOTIONS = len(FERPLUS_LABELS)  # the first eight vote columns; the last two are unknown and not-a-face
DEFAULT_FERPLUS = "fer2013new.csv"
LABEL_SOURCES = {  # --labels, and how a model card names each
    "fer2013": "FER-2013's own",
    "ferplus": "FER+'s eight, by the FER+ authors' majority rule",
    "ferplus7": "FER+ majority votes mapped onto FER-2013's seven",
}
FERPLUS_TO_FER = {"neutral": 6, "happiness": 3, "surprise": 5, "sadness": 4, "anger": 0, "disgust": 1, "fear": 2}
_INTEGER = re.compile(r"^\d+$")


@dataclass
class BadRow:
    line: int
    reason: str


@dataclass
class Dataset:
    """Images (N, 48, 48) uint8, labels (N,) int64, and each row's split name and CSV line number.

    `class_names` names the label indices (FER-2013's seven, or FER+'s eight); `votes`, with FER+'s own labels,
    is each row's distribution of annotator votes over those classes (N, 8) float32, for soft targets.
    """

    images: np.ndarray
    labels: np.ndarray
    usage: np.ndarray
    lines: np.ndarray
    source: str
    skipped: list[BadRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    class_names: tuple[str, ...] = LABELS
    votes: np.ndarray | None = None
    # The stored image's side over the model's crop: 1 for FER-2013's rows, `train.photos.CONTEXT` for photos cut
    # with room around the face for augmentation (`model_split` cuts the model's crop out of the middle).
    context: float = 1.0
    # How often each row is drawn per epoch (1: once; 0.3: in three epochs of ten), for --data sources mixed with
    # --mix shares; None: every row once.
    shares: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def splits(self) -> list[str]:
        present = set(self.usage.tolist())
        return [name for name in (*USAGES, HELD_OUT_USAGE) if name in present]

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        mask = self.usage == name
        return self.images[mask], self.labels[mask]

    def model_split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """A split as the model sees it unaugmented: the middle of each stored crop (`centre_crops`)."""
        images, labels = self.split(name)
        return centre_crops(images, self.context), labels

    def split_sample(self, name: str, max_rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """A split, or a seeded stratified sample of `max_rows` of it when it is larger (0: always all)."""
        images, labels = self.split(name)
        if max_rows and len(labels) > max_rows:
            keep = stratified_sample(labels, max_rows, seed)
            images, labels = images[keep], labels[keep]
        return images, labels

    def class_counts(self, name: str) -> list[int]:
        return np.bincount(self.labels[self.usage == name], minlength=len(self.class_names)).tolist()


def centre_crops(images: np.ndarray, context: float) -> np.ndarray:
    """The model's crop out of the middle of context crops (N, C, C[, 3]) stored `context` times its side."""
    if context == 1.0:
        return images
    margin = (images.shape[1] - round(images.shape[1] / context)) // 2
    return images[:, margin : images.shape[1] - margin, margin : images.shape[2] - margin]


def _diagnose_pixels(text: str) -> str | None:
    """Why one row's pixel field is bad, or None if it is good."""
    tokens = text.split()
    for token in tokens:
        if not _INTEGER.match(token):
            return f"pixel value {token[:20]!r} is not a non-negative integer"
    if len(tokens) != PIXELS_PER_IMAGE:
        return f"{len(tokens)} pixel values, expected {PIXELS_PER_IMAGE}"
    for token in tokens:
        if int(token) > 255:
            return f"pixel value {token} out of range 0..255"
    return None


def _parse_chunk_fast(pixels: list[str]) -> np.ndarray | None:
    """All rows of a chunk at once; None when anything is off, so the slow path can say what."""
    if any(s.count(" ") != PIXELS_PER_IMAGE - 1 for s in pixels):
        return None
    try:
        values = np.fromstring(" ".join(pixels), dtype=np.int32, sep=" ")
    except ValueError:  # numpy >= 2.3 raises on a token that is not a number
        return None
    if values.size != len(pixels) * PIXELS_PER_IMAGE or values.min(initial=0) < 0 or values.max(initial=0) > 255:
        return None
    return values.astype(np.uint8).reshape(-1, IMAGE_SIZE, IMAGE_SIZE)


def _parse_chunk_slow(pixels: list[str], lines: np.ndarray, good: np.ndarray, bad: list[BadRow]) -> np.ndarray:
    """Row by row: parse the rows still `good`, clearing and reporting those whose pixels are bad."""
    images = np.zeros((len(pixels), IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    for i in np.flatnonzero(good):
        text = pixels[i]
        reason = _diagnose_pixels(text)
        if reason is None:
            images[i] = np.array(text.split(), dtype=np.int32).astype(np.uint8).reshape(IMAGE_SIZE, IMAGE_SIZE)
        else:
            good[i] = False
            bad.append(BadRow(int(lines[i]), reason))
    return images


def _check_labels_and_usage(
    chunk: pd.DataFrame, lines: np.ndarray, bad: list[BadRow]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    emotion = chunk["emotion"].str.strip()
    labels = pd.to_numeric(emotion, errors="coerce")
    good = np.array(labels.isin(range(len(LABELS))))
    for i in np.flatnonzero(~good):
        bad.append(BadRow(int(lines[i]), f"emotion {emotion.iloc[i]!r} is not a label 0..{len(LABELS) - 1}"))
    if "Usage" in chunk:
        usage = chunk["Usage"].str.strip()
        known = np.array(usage.isin(USAGES))
        for i in np.flatnonzero(~known & good):
            bad.append(BadRow(int(lines[i]), f"Usage {usage.iloc[i]!r} is not one of {', '.join(USAGES)}"))
        good &= known
        usage_values = usage.to_numpy(dtype=object)
    else:
        usage_values = np.full(len(chunk), "Training", dtype=object)
    return np.where(good, labels.fillna(-1).to_numpy(), -1).astype(np.int64), usage_values, good


def _number_lines(chunk: pd.DataFrame, next_line: int) -> tuple[pd.DataFrame, np.ndarray, int]:
    """The chunk without blank lines, each row's first line in the file, and the line after the chunk.

    A row takes one line plus one per line break inside its quoted fields; a blank line is a row of empty
    fields here (the reader keeps them so they are counted), dropped after counting.
    """
    cells = chunk.fillna("")
    breaks = sum(np.fromiter(map(_line_breaks, cells[column]), np.int64, len(cells)) for column in cells.columns)
    heights = 1 + breaks
    starts = next_line + np.concatenate([[0], np.cumsum(heights)[:-1]]).astype(np.int64)
    blank = (cells == "").all(axis=1).to_numpy()
    return chunk[~blank], starts[~blank], next_line + int(heights.sum())


def _line_breaks(text: str) -> int:
    return text.count("\n")


def _open_reader(path: Path) -> pd.io.parsers.TextFileReader:
    if not path.exists():
        raise UserError(f"{path}: file not found")
    check_regular(path, "FER-2013 CSV file")
    try:
        return pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,  # blank lines are dropped below, after they are counted
            chunksize=CHUNK_ROWS,
            compression="infer",
            quoting=csv.QUOTE_MINIMAL,
        )
    except pd.errors.EmptyDataError:
        raise UserError(f"{path}: empty file, expected a CSV with columns emotion,pixels[,Usage]") from None
    except (UnicodeDecodeError, zlib.error, EOFError, OSError, pd.errors.ParserError) as exc:
        raise UserError(f"{path}: not a readable CSV ({described(exc, 120)})") from None


def load_fer_csv(path: str | Path, skip_bad_rows: bool = False) -> Dataset:
    """Parse and validate a FER-2013 CSV (plain or compressed).

    A bad row raises UserError naming its line (the header is line 1) unless `skip_bad_rows`, in which
    case the bad rows are dropped and listed in `Dataset.skipped`.
    """
    path = Path(path)
    bad: list[BadRow] = []
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    next_line = 2
    first = True
    try:
        for chunk in _open_reader(path):
            if first:
                first = False
                missing = {"emotion", "pixels"} - set(chunk.columns)
                if missing:
                    found = ", ".join(map(str, chunk.columns))
                    raise UserError(
                        f"{path}: missing column(s) {', '.join(sorted(missing))}; found {found}"
                        " (expected emotion,pixels[,Usage])"
                    )
            chunk, lines, next_line = _number_lines(chunk, next_line)
            if chunk.empty:
                continue
            labels, usage, good = _check_labels_and_usage(chunk, lines, bad)
            pixel_text = chunk["pixels"].tolist()
            images = _parse_chunk_fast(pixel_text) if good.all() else None
            if images is None:
                images = _parse_chunk_slow(pixel_text, lines, good, bad)
            if bad and not skip_bad_rows:
                earliest = min(bad, key=lambda b: b.line)
                raise UserError(f"{path} line {earliest.line}: {earliest.reason}")
            parts.append((images[good], labels[good], usage[good], lines[good]))
    except pd.errors.EmptyDataError:
        raise UserError(f"{path}: empty file, expected a CSV with columns emotion,pixels[,Usage]") from None
    except (UnicodeDecodeError, zlib.error, EOFError, OSError, pd.errors.ParserError) as exc:
        raise UserError(f"{path}: not a readable CSV ({described(exc, 120)})") from None
    if not parts or sum(len(p[1]) for p in parts) == 0:
        raise UserError(f"{path}: no usable rows (header only, or every row bad)")
    bad.sort(key=lambda b: b.line)
    return Dataset(
        images=np.concatenate([p[0] for p in parts]),
        labels=np.concatenate([p[1] for p in parts]),
        usage=np.concatenate([p[2] for p in parts]).astype(USAGE_DTYPE),
        lines=np.concatenate([p[3] for p in parts]),
        source=str(path),
        skipped=bad,
    )


def stratified_sample(labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Indices of about `count` rows with every class in proportion (at least one each where present)."""
    rng = np.random.default_rng(seed)
    picked = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        take = min(len(members), max(1, round(count * len(members) / len(labels))))
        picked.append(rng.choice(members, size=take, replace=False))
    return rng.permutation(np.concatenate(picked))


def hold_out_validation(data: Dataset, fraction: float = 0.1, seed: int = 0) -> None:
    """Give a CSV without PublicTest rows a seeded, stratified validation split taken from Training."""
    rng = np.random.default_rng(seed)
    training = np.flatnonzero(data.usage == "Training")
    for label in range(len(data.class_names)):
        members = training[data.labels[training] == label]
        take = round(len(members) * fraction)
        if take:
            data.usage[rng.choice(members, size=take, replace=False)] = HELD_OUT_USAGE
    data.notes.append(
        f"no PublicTest rows: held out a stratified {fraction:.0%} of Training as '{HELD_OUT_USAGE}' (seed {seed})"
    )


def validation_split_name(data: Dataset) -> str:
    return VALIDATION_USAGE if VALIDATION_USAGE in data.splits else HELD_OUT_USAGE


def _read_votes(path: Path, data: Dataset) -> np.ndarray:
    """The FER+ vote counts (N, 10) of the data set's rows, in FER+'s column order.

    FER+ lists the same rows in the same order as the full FER-2013 file, so row i of the FER+ file is
    line i+2 of the original CSV.
    """
    if not path.exists():
        raise UserError(f"{path}: FER+ label file not found")
    if path.is_dir():
        raise UserError(f"{path}: is a folder, expected the FER+ votes CSV ({DEFAULT_FERPLUS})")
    check_regular(path, "FER+ votes CSV")  # a device or FIFO: never ends, or blocks
    try:
        votes = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not a readable FER+ CSV ({type(exc).__name__})") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read the FER+ CSV ({exc.strerror or exc})") from None
    missing = set(FERPLUS_COLUMNS) - set(votes.columns)
    if missing:
        raise UserError(f"{path}: missing FER+ column(s) {', '.join(sorted(missing))}")
    rows = data.lines - 2
    if rows.max() >= len(votes):
        raise UserError(f"{path}: {len(votes)} rows, but {data.source} has a row at line {rows.max() + 2}")
    counts = pd.DataFrame(votes[list(FERPLUS_COLUMNS)]).apply(pd.to_numeric, errors="coerce").to_numpy()[rows]
    bad = np.flatnonzero(~(counts >= 0).all(axis=1))
    if len(bad):
        raise UserError(f"{path} line {rows[bad[0]] + 2}: vote counts must be numbers >= 0")
    return counts.astype(np.float32)


def _keep_rows(data: Dataset, keep: np.ndarray, labels: np.ndarray, majority: np.ndarray, path: Path) -> None:
    dropped = {str(name): int(n) for name, n in zip(*np.unique(majority[~keep], return_counts=True), strict=True)}
    data.images, data.usage, data.lines = data.images[keep], data.usage[keep], data.lines[keep]
    data.labels = labels[keep].astype(np.int64)
    data.notes.append(f"FER+ majority labels from {path}; dropped {int((~keep).sum())} rows {dropped}")


def apply_ferplus(data: Dataset, ferplus_csv: str | Path) -> None:
    """FER+'s own eight labels, by the FER+ authors' majority rule (their reference code's `majority` mode).

    A single vote for a class is dropped as an outlier; the top class must then hold more than half of the
    remaining votes, so a tie has no majority. Rows without a majority, or whose majority is unknown or
    not-a-face, are dropped. `votes` keeps each row's remaining votes over the eight emotions, normalised.
    """
    path = Path(ferplus_csv)
    counts = _read_votes(path, data)
    counts[counts <= 1] = 0
    top = counts.argmax(axis=1)
    has_majority = counts.max(axis=1) > 0.5 * counts.sum(axis=1)
    keep = has_majority & (top < FERPLUS_EMOTIONS)
    majority = np.where(has_majority, np.asarray(FERPLUS_COLUMNS)[top], "no majority")
    emotions = counts[keep, :FERPLUS_EMOTIONS]
    _keep_rows(data, keep, top, majority, path)
    data.class_names = FERPLUS_LABELS
    data.votes = emotions / emotions.sum(axis=1, keepdims=True)


def apply_ferplus7(data: Dataset, ferplus_csv: str | Path) -> None:
    """FER+ majority votes mapped onto FER-2013's seven labels; rows whose majority is contempt, unknown or
    not-a-face are dropped. Ties go to the first class in FER+'s column order."""
    path = Path(ferplus_csv)
    majority = np.asarray(FERPLUS_COLUMNS)[_read_votes(path, data).argmax(axis=1)]
    keep = np.isin(majority, list(FERPLUS_TO_FER))
    labels = np.array([FERPLUS_TO_FER.get(name, -1) for name in majority], dtype=np.int64)
    _keep_rows(data, keep, labels, majority, path)


def attach_votes(data: Dataset, ferplus_csv: str | Path) -> None:
    """FER+'s vote distribution over FER-2013's seven labels for every row, beside the CSV's own labels.

    The annotators' votes say how expressive a face is (a mild smile gets some "happiness" votes where
    FER-2013 says Neutral), which is what a model needs to call mild real-world expressions. Contempt,
    unknown and not-a-face votes are left out; a row with no votes left keeps its one-hot label."""
    counts = _read_votes(Path(ferplus_csv), data)
    votes = np.zeros((len(data), len(LABELS)), dtype=np.float32)
    for column, label in FERPLUS_TO_FER.items():
        votes[:, label] = counts[:, FERPLUS_COLUMNS.index(column)]
    total = votes.sum(axis=1, keepdims=True)
    one_hot = np.eye(len(LABELS), dtype=np.float32)[data.labels]
    data.votes = np.where(total > 0, votes / np.maximum(total, 1), one_hot)


def check_labels(data: Dataset, contract: Contract, model: Path) -> None:
    """Refuse to score a model on data labelled with another class list (FER+'s eight against FER-2013's seven)."""
    if list(data.class_names) != contract.labels:
        source = contract.extra.get("label_source")
        raise UserError(
            f"{model}: its contract's {contract.num_classes} labels ({', '.join(contract.labels)}) are not the"
            f" data's {len(data.class_names)} ({', '.join(data.class_names)}); pass"
            + (f" --labels {source}, which it was trained with" if source else " the --labels it was trained with")
        )


def _crop_scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.5 <= value <= 2:
        raise argparse.ArgumentTypeError(f"{text!r}: give a scale from 0.5 to 2")
    return value


def add_data_options(parser: argparse.ArgumentParser, required: bool = True, sources: bool = False) -> None:
    """`--data` and the options of how to read it, declared once for every command that loads a CSV. With
    `sources` (`fit`), --data takes several CSVs or folders of labelled photos, mixed by --mix."""
    if sources:
        parser.add_argument(
            "--data",
            required=required,
            type=Path,
            nargs="+",
            metavar="CSV_OR_FOLDER",
            help="FER-2013 CSVs (emotion,pixels[,Usage]) and/or folders of labelled photos (labels.csv:"
            " file,label[,subject][,box], or one sub-folder per label); several sources are mixed by --mix",
        )
        parser.add_argument(
            "--mix",
            type=float,
            nargs="+",
            metavar="SHARE",
            help="each --data source's share of an epoch: 1 draws every Training row once, 0.3 a fresh 30%% each"
            " epoch (default: 1 each)",
        )
        parser.add_argument(
            "--crop-scale",
            type=_crop_scale,
            default=1.0,
            help="cut photos this many times wider than the starting model's framing; a trained model's contract"
            " records the framing it learnt from (default: 1)",
        )
        parser.add_argument(
            "--detector",
            default="auto",
            help="the edge detector that finds the faces of photos without a box column (default: auto)",
        )
    else:
        parser.add_argument(
            "--data", required=required, type=Path, help="FER-2013 CSV (emotion,pixels[,Usage]), plain or compressed"
        )
    parser.add_argument(
        "--skip-bad-rows",
        action="store_true",
        help="drop invalid rows (each named on stderr with its line number) instead of stopping",
    )
    parser.add_argument(
        "--labels",
        choices=tuple(LABEL_SOURCES),
        default="fer2013",
        help="label source: the CSV's own 7 labels; FER+'s 8 (majority vote, contempt included); or the FER+"
        " majority mapped onto the 7 FER-2013 labels (default: fer2013)",
    )
    parser.add_argument(
        "--ferplus-csv",
        type=Path,
        help=f"FER+ votes file for --labels ferplus[7] (default: {DEFAULT_FERPLUS} beside --data)",
    )


def load_dataset(
    path: Path, skip_bad_rows: bool = False, labels: str = "fer2013", ferplus_csv: Path | None = None, seed: int = 0
) -> Dataset:
    """Load, name every skipped row on stderr, apply FER+ labels if asked, and make sure there is a validation split."""
    data = load_fer_csv(path, skip_bad_rows=skip_bad_rows)
    if data.skipped:
        print(f"skipped {len(data.skipped)} bad row(s) of {path}:", file=sys.stderr)
        for row in data.skipped:
            print(f"  line {row.line}: {row.reason}", file=sys.stderr)
    if labels != "fer2013":
        relabel = apply_ferplus if labels == "ferplus" else apply_ferplus7
        relabel(data, ferplus_csv or path.parent / DEFAULT_FERPLUS)
    if VALIDATION_USAGE not in data.splits:
        hold_out_validation(data, seed=seed)
    for note in data.notes:
        print(note, file=sys.stderr)
    return data


def dataset_from(args: argparse.Namespace) -> Dataset:
    """The data set the options of `add_data_options` name (and `--seed`, where the command has one)."""
    return load_dataset(args.data, args.skip_bad_rows, args.labels, args.ferplus_csv, getattr(args, "seed", 0))
