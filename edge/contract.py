"""The model contract: what training and the device must agree on, defined once and shipped as JSON.

Train, convert and edge all read labels, input size and normalisation from here (or from the JSON
beside a model); nothing else hard-codes a label list or a pixel scale.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.atomic import write_json
from edge.errors import UserError
from edge.framing import IDENTITY, Framing

LABELS: tuple[str, ...] = ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")
# FER+'s eight emotions in its vote columns' order (the FER+ model's output order), named as FER-2013's are.
FERPLUS_LABELS: tuple[str, ...] = ("Neutral", "Happy", "Surprise", "Sad", "Angry", "Disgust", "Fear", "Contempt")
IMAGE_SIZE = 48
INPUT_SHAPE: tuple[int, int, int] = (IMAGE_SIZE, IMAGE_SIZE, 1)
PIXEL_SCALE = 1.0 / 255.0
PIXEL_OFFSET = 0.0
CONTRACT_FILENAME = "contract.json"
CONTRACT_VERSION = 1


@dataclass
class Contract:
    """Everything a runtime needs to feed a model and read its output."""

    architecture: str
    labels: list[str] = field(default_factory=lambda: list(LABELS))
    input_shape: list[int] = field(default_factory=lambda: list(INPUT_SHAPE))
    pixel_scale: float = PIXEL_SCALE
    pixel_offset: float = PIXEL_OFFSET
    color: str = "grayscale"
    flip_average: bool = False
    framing: dict[str, dict[str, float]] = field(default_factory=dict)  # per detector name, see edge/framing.py
    version: int = CONTRACT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) of the model input."""
        return self.input_shape[0], self.input_shape[1]

    def framing_for(self, detector: str) -> Framing:
        """How to crop `detector`'s boxes for this model (the box as it is when training measured nothing)."""
        return Framing.from_dict(self.framing[detector]) if detector in self.framing else IDENTITY

    def with_flips(self, faces: np.ndarray) -> np.ndarray:
        """The faces, then (if the model is meant to see both) their mirror images: (N, H, W) -> (N or 2N, H, W)."""
        return np.concatenate([faces, faces[:, :, ::-1]]) if self.flip_average else faces

    def merge_flips(self, probabilities: np.ndarray) -> np.ndarray:
        """Average each face's probabilities with its mirror's, undoing `with_flips`."""
        if not self.flip_average:
            return probabilities
        half = len(probabilities) // 2
        return (probabilities[:half] + probabilities[half:]) / 2

    def normalise(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 grey levels (any leading shape) to the float32 values the model was trained on."""
        return pixels.astype(np.float32) * np.float32(self.pixel_scale) + np.float32(self.pixel_offset)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the contract JSON; `path` may be a folder (the file is then named contract.json)."""
        target = Path(path)
        if target.is_dir() or not target.suffix:
            target = target / CONTRACT_FILENAME
        write_json(target, self.to_dict())
        return target

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "contract") -> Contract:
        try:
            contract = cls(
                architecture=str(data["architecture"]),
                labels=[str(label) for label in data["labels"]],
                input_shape=[int(n) for n in data["input_shape"]],
                pixel_scale=float(data["pixel_scale"]),
                pixel_offset=float(data["pixel_offset"]),
                color=str(data.get("color", "grayscale")),
                flip_average=bool(data.get("flip_average", False)),
                framing={str(name): Framing.from_dict(f).to_dict() for name, f in data.get("framing", {}).items()},
                version=int(data.get("version", CONTRACT_VERSION)),
                extra=dict(data.get("extra", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"{source}: not a valid model contract ({type(exc).__name__}: {exc})") from None
        if len(contract.input_shape) != 3 or contract.input_shape[2] != 1:
            raise UserError(f"{source}: input_shape {contract.input_shape} is not HxWx1 grayscale")
        return contract

    @classmethod
    def load(cls, path: str | os.PathLike) -> Contract:
        """Read a contract JSON, or the contract.json inside a folder."""
        target = Path(path)
        if target.is_dir():
            target = target / CONTRACT_FILENAME
        try:
            data = json.loads(target.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"{target}: no model contract found") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserError(f"{target}: cannot read model contract ({exc})") from None
        if not isinstance(data, dict):
            raise UserError(f"{target}: not a valid model contract (not a JSON object)")
        return cls.from_dict(data, source=str(target))
