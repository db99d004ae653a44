"""Several `--data` sources, each a FER-2013 CSV or a folder of labelled photos, as one training set.

Why mix: labelled real photos (`train/photos.py`) teach what a camera sees, but are thin on five of the seven
emotions; FER-2013's rows cover those. `--mix` gives each source its share of an epoch: 1 draws every Training
row once, 0.3 a fresh seeded 30% each epoch (`FerBatches` draws by `Dataset.shares`). Each source keeps its own
validation rows (FER-2013's PublicTest; the photos' held-out subjects), and the best epoch is chosen on all of
them together, so no one set decides alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.common.errors import UserError
from edge.contract import Contract
from train.data import Dataset, load_dataset
from train.photos import CONTEXT, context_side, load_photos


@dataclass(frozen=True)
class SourceOptions:
    """How to read every source: the CSV options (`train.data.add_data_options`) and the photos' detector."""

    skip_bad_rows: bool = False
    labels: str = "fer2013"
    ferplus_csv: Path | None = None
    seed: int = 0
    detector: str = "auto"


def is_photo_folder(path: Path) -> bool:
    return path.is_dir()


def with_context(images: np.ndarray, contract: Contract) -> np.ndarray:
    """FER-2013 rows as the photos are stored: fitted to the model's crop (`Contract.fit_images`), then given
    `CONTEXT` of margin by repeating the edge pixels (a 48x48 row has no more of the photo)."""
    fitted = contract.fit_images(images)
    margin = (context_side(contract.image_size[0]) - contract.image_size[0]) // 2
    out = np.empty((len(fitted), *(s + 2 * margin for s in fitted.shape[1:3]), *fitted.shape[3:]), dtype=np.uint8)
    for i, image in enumerate(fitted):
        padded = cv2.copyMakeBorder(image, margin, margin, margin, margin, cv2.BORDER_REPLICATE)
        out[i] = padded.reshape(out.shape[1:])
    return out


def _photo_dataset(path: Path, contract: Contract, options: SourceOptions) -> Dataset:
    photos = load_photos(path, contract, options.detector, options.skip_bad_rows)
    data = Dataset(
        photos.images, photos.labels, photos.usage, photos.lines, str(path), class_names=tuple(contract.labels)
    )
    data.context = CONTEXT
    if not (data.usage == "Validation").any() or not (data.usage == "Training").any():
        raise UserError(f"{path}: too few subjects to hold some out for validation and train on the rest")
    return data


def _combined(parts: list[Dataset], shares: list[float]) -> Dataset:
    names = {part.class_names for part in parts}
    if len(names) > 1:
        raise UserError("--data sources name different labels: " + "; ".join(", ".join(n) for n in names))
    data = Dataset(
        images=np.concatenate([part.images for part in parts]),
        labels=np.concatenate([part.labels for part in parts]),
        usage=np.concatenate([part.usage for part in parts]).astype(parts[0].usage.dtype),
        lines=np.concatenate([part.lines for part in parts]),
        source=" + ".join(part.source for part in parts),
        skipped=[row for part in parts for row in part.skipped],
        notes=[note for part in parts for note in part.notes],
        class_names=parts[0].class_names,
    )
    data.context = CONTEXT
    data.shares = np.concatenate(
        [np.full(len(part), share, dtype=np.float32) for part, share in zip(parts, shares, strict=True)]
    )
    return data


def load_sources(paths: list[Path], shares: list[float], contract: Contract, options: SourceOptions) -> Dataset:
    """One data set from every source, in the model's crops: a lone CSV as it is (48x48 gray rows, fitted to the
    model per batch), anything with photos as context crops of the model's size and colour."""
    if len(shares) != len(paths):
        raise UserError(f"--mix gives {len(shares)} share(s) for {len(paths)} --data source(s); give one per source")
    parts = []
    for path in paths:
        if not path.exists():
            raise UserError(f"{path}: file not found (--data takes a FER-2013 CSV or a folder of labelled photos)")
        if is_photo_folder(path):
            parts.append(_photo_dataset(path, contract, options))
        else:
            parts.append(load_dataset(path, options.skip_bad_rows, options.labels, options.ferplus_csv, options.seed))
    if len(parts) == 1 and shares == [1.0]:
        return parts[0]
    for part in parts:
        if part.context == 1.0:
            part.images = with_context(part.images, contract)
    return _combined(parts, shares)
