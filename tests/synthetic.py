"""Small synthetic FER-2013-style CSVs (and FER+ votes) for tests: learnable (each class has its own bright stripe)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.contract import FERPLUS_LABELS, IMAGE_SIZE, LABELS
from train.data import FERPLUS_COLUMNS


def synthetic_images(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 90, size=(len(labels), IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    band = IMAGE_SIZE // len(FERPLUS_LABELS)  # room for FER+'s eight classes
    for i, label in enumerate(labels):
        images[i, label * band : (label + 1) * band, :] += 150
    return images


def write_csv(path: Path, rows_per_split: dict[str, int], seed: int = 0, usage_column: bool = True) -> Path:
    """A CSV with `rows_per_split` rows per Usage value, labels cycling through the seven classes."""
    lines = ["emotion,pixels,Usage" if usage_column else "emotion,pixels"]
    for offset, (usage, n) in enumerate(rows_per_split.items()):
        labels = (np.arange(n) + offset) % len(LABELS)
        for label, image in zip(labels, synthetic_images(labels, seed + offset), strict=True):
            pixels = " ".join(map(str, image.ravel().tolist()))
            lines.append(f"{label},{pixels},{usage}" if usage_column else f"{label},{pixels}")
    path.write_text("\n".join(lines) + "\n")
    return path


VOTES_HEADER = "Usage,Image name," + ",".join(FERPLUS_COLUMNS)  # fer2013new.csv's first line


def write_votes(path: Path, rows: list[str]) -> Path:
    """A FER+ votes file with these rows (`Usage,Image name,` then the ten vote counts) under its header."""
    path.write_text("\n".join([VOTES_HEADER, *rows]) + "\n")
    return path


def write_ferplus(folder: Path, rows_per_split: dict[str, int], seed: int = 0) -> tuple[Path, Path]:
    """A FER-2013 CSV and its FER+ votes file (`fer2013new.csv` beside it), striped by each row's FER+ class.

    Each row's ten annotators give 7 votes to its class (one of the eight emotions, contempt included), 2 to
    the next and 1 (an outlier, dropped by the FER+ rule) to the one after; every ninth row's majority is
    not-a-face and every eleventh row is a 5-5 tie, both to be dropped. The CSV's own emotion column is a
    valid FER-2013 label that says nothing about the image.
    """
    lines = ["emotion,pixels,Usage"]
    votes = [VOTES_HEADER]
    row = 0
    for offset, (usage, n) in enumerate(rows_per_split.items()):
        classes = (np.arange(n) + offset) % len(FERPLUS_LABELS)
        for cls, image in zip(classes, synthetic_images(classes, seed + offset), strict=True):
            lines.append(f"{row % len(LABELS)},{' '.join(map(str, image.ravel().tolist()))},{usage}")
            count = np.zeros(len(FERPLUS_COLUMNS), dtype=int)
            if row % 9 == 0:
                count[[cls, -1]] = 3, 7
            elif row % 11 == 0:
                count[[cls, (cls + 1) % len(FERPLUS_LABELS)]] = 5
            else:
                count[[cls, (cls + 1) % len(FERPLUS_LABELS), (cls + 2) % len(FERPLUS_LABELS)]] = 7, 2, 1
            votes.append(f"{usage},fer{row:07d}.png," + ",".join(map(str, count)))
            row += 1
    csv = folder / "fer.csv"
    csv.write_text("\n".join(lines) + "\n")
    (folder / "fer2013new.csv").write_text("\n".join(votes) + "\n")
    return csv, folder / "fer2013new.csv"
