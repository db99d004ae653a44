"""Small synthetic FER-2013-style CSVs for tests: learnable (each class has its own bright stripe)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.contract import IMAGE_SIZE, LABELS


def synthetic_images(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 90, size=(len(labels), IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    band = IMAGE_SIZE // len(LABELS)
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
