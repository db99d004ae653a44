"""The model contract: what training and the device must agree on, defined once and shipped as JSON.

Train, convert and edge all read labels, input size and normalisation from here (or from the JSON
beside a model); nothing else hard-codes a label list or a pixel scale.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.common.errors import UserError
from edge.common.files import read_capped, write_json
from edge.common.text import is_control

LABELS: tuple[str, ...] = ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")
# FER+'s eight emotions in its vote columns' order (the FER+ model's output order), named as FER-2013's are.
FERPLUS_LABELS: tuple[str, ...] = ("Neutral", "Happy", "Surprise", "Sad", "Angry", "Disgust", "Fear", "Contempt")
IMAGE_SIZE = 48
INPUT_SHAPE: tuple[int, int, int] = (IMAGE_SIZE, IMAGE_SIZE, 1)
# The input colours a model may take, with their channel count: FER-2013's models read grayscale; an imported
# model trained on web photos (face-api's) reads RGB, and the edge cuts its face crops in colour for it.
COLOR_CHANNELS = {"grayscale": 1, "rgb": 3}
PIXEL_SCALE = 1.0 / 255.0
PIXEL_OFFSET = 0.0
CONTRACT_FILENAME = "contract.json"
CONTRACT_VERSION = 1
MANIFEST_KEY = "files"  # extra.files: every other file of a converted folder, name -> {"bytes", "sha256"}
DIGEST_KEY = "contract_sha256"  # extra.contract_sha256: the checksum of the contract itself, less this entry
MAX_JSON_BYTES = 1 << 20  # a contract with its manifest is a few KB; a larger file is not one
MAX_IMAGE_SIDE = 4096
MAX_PIXEL_FACTOR = 1000.0  # pixel_scale and |pixel_offset|: a uint8 level times this still fits a float32
_SHA256 = re.compile(r"[0-9a-f]{64}")
_REQUIRED = object()


def read_json(path: str | os.PathLike, what: str, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """A JSON file's value, or a one-line UserError naming the file: missing, not a regular file, unreadable, too
    large (`read_capped`), not JSON, or nested too deep for the parser (which raises RecursionError)."""
    path = Path(path)
    data = read_capped(path, what, max_bytes)
    try:
        return json.loads(data.decode("utf-8"))
    except RecursionError:
        raise UserError(f"{path}: nested too deep to be a {what}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a {what} (not UTF-8 text)") from None
    except ValueError as exc:  # json.JSONDecodeError, and integers of more digits than Python converts
        raise UserError(f"{path}: not a {what} (not JSON: {str(exc)[:120]})") from None


def _shown(value: Any) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_file_name(name: str) -> bool:
    return bool(name) and "/" not in name and "\\" not in name and "\0" not in name and name not in (".", "..")


def _manifest_problem(files: Any) -> str | None:
    """Why extra.files is not a manifest (plain file name -> {"bytes": int >= 0, "sha256": hex}), or None."""
    if not isinstance(files, dict):
        return f"must be an object of file name -> {{bytes, sha256}}, not {_shown(files)}"
    for name, entry in files.items():
        if not _is_file_name(name):
            return f"lists {_shown(name)}, which is not a file name in the folder"
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("bytes"), int)
            and not isinstance(entry.get("bytes"), bool)
            and entry["bytes"] >= 0
            and isinstance(entry.get("sha256"), str)
            and _SHA256.fullmatch(entry["sha256"])
        ):
            return f'entry {_shown(name)} must be {{"bytes": SIZE, "sha256": HEX}}, not {_shown(entry)}'
    return None


@dataclass(frozen=True)
class Framing:
    """Where a detector's square box falls in a training crop, in units of the crop's side."""

    centre_x: float = 0.5
    centre_y: float = 0.5
    side: float = 1.0

    @classmethod
    def from_dict(cls, data: dict) -> Framing:
        return cls(float(data["centre_x"]), float(data["centre_y"]), float(data["side"]))

    def to_dict(self) -> dict[str, float]:
        return {"centre_x": round(self.centre_x, 4), "centre_y": round(self.centre_y, 4), "side": round(self.side, 4)}

    def wider(self, scale: float) -> Framing:
        """The framing whose crop is `scale` times as wide about the same point of the face."""
        return Framing(self.centre_x, self.centre_y, self.side / scale)

    def crop_of(self, box: np.ndarray) -> tuple[float, float, float]:
        """The crop (x, y, side) in frame pixels that puts the box (x, y, w, h) where training crops had it."""
        x, y, w, h = (float(v) for v in box)
        side = (w + h) / 2 / self.side
        return x + w / 2 - self.centre_x * side, y + h / 2 - self.centre_y * side, side


IDENTITY = Framing()


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
    framing: dict[str, dict[str, float]] = field(default_factory=dict)  # per detector name, see Framing
    version: int = CONTRACT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    @property
    def channels(self) -> int:
        return COLOR_CHANNELS[self.color]

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

    def tensor(self, faces: np.ndarray) -> np.ndarray:
        """uint8 crops in the model's size and colour, (N, H, W) or (N, H, W, 3), to its input tensor's values."""
        values = self.normalise(faces)
        return values[..., None] if self.channels == 1 else values

    def fit_images(self, images: np.ndarray) -> np.ndarray:
        """uint8 images of another size or colour, (N, h, w) grayscale or (N, h, w, 3) RGB, as this model's crops:
        resized (area-averaged down, bilinear up) and made grayscale or RGB, gray repeated in each channel. So a
        48x48 grayscale data set feeds a 112x112 RGB model (calibration, evaluation, teaching) and the reverse."""
        height, width = self.image_size
        if images.shape[1:3] == (height, width) and (images.ndim == 3) == (self.channels == 1):
            return images
        import cv2

        upscale = images.shape[1] < height
        interpolation = cv2.INTER_LINEAR if upscale else cv2.INTER_AREA
        out = np.empty((len(images), height, width, *(() if self.channels == 1 else (3,))), dtype=np.uint8)
        for i, image in enumerate(images):
            if image.ndim == 3 and self.channels == 1:
                image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
            resized = cv2.resize(image, (width, height), interpolation=interpolation)
            out[i] = resized[..., None] if resized.ndim == 2 and self.channels == 3 else resized
        return out

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
    def from_dict(cls, data: Any, source: str = "contract") -> Contract:
        """A contract from its JSON value, every field checked for type and range: the one place that does.

        A bad field is a one-line UserError naming `source` and the field, so a runtime never feeds a model
        NaN (pixel_scale 1e400), seven one-letter labels (labels "ABCDEFG") or mirror images it was not
        trained on (flip_average "false").
        """
        fields = _Fields(data, source)
        architecture = fields.get("architecture")
        fields.check("architecture", architecture, isinstance(architecture, str) and architecture.strip() != "",
                     "a non-empty name")  # fmt: skip
        labels = _checked_labels(fields)
        shape = fields.get("input_shape")
        fields.check(
            "input_shape",
            shape,
            isinstance(shape, list)
            and len(shape) == 3
            and all(isinstance(n, int) and not isinstance(n, bool) and 0 < n <= MAX_IMAGE_SIDE for n in shape),
            f"[HEIGHT, WIDTH, CHANNELS]: whole numbers from 1 to {MAX_IMAGE_SIDE}",
        )
        scale, offset = _checked_pixels(fields)
        color = fields.get("color", "grayscale")
        fields.check("color", color, isinstance(color, str) and color in COLOR_CHANNELS,
                     " or ".join(f'"{c}"' for c in COLOR_CHANNELS))  # fmt: skip
        fields.check("input_shape", shape, shape[2] == COLOR_CHANNELS[color],
                     f"{COLOR_CHANNELS[color]} channel(s) deep for {color} input")  # fmt: skip
        flip_average = fields.get("flip_average", False)
        fields.check("flip_average", flip_average, isinstance(flip_average, bool), "true or false")
        version = fields.get("version", CONTRACT_VERSION)
        fields.check(
            "version",
            version,
            type(version) is int and version == CONTRACT_VERSION,
            f"{CONTRACT_VERSION}, the contract version this fer-edge reads (reconvert, or update fer-edge)",
        )
        extra = _checked_extra(fields)
        _check_pixels_fit_int8(fields, scale, offset, extra)
        framing = _checked_framing(fields)
        return cls(
            architecture=architecture,
            labels=list(labels),
            input_shape=list(shape),
            pixel_scale=scale,
            pixel_offset=offset,
            color=color,
            flip_average=flip_average,
            framing=framing,
            version=version,
            extra=extra,
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> Contract:
        """Read a contract JSON, or the contract.json inside a folder."""
        target = Path(path)
        if target.is_dir():
            target = target / CONTRACT_FILENAME
        return cls.from_dict(read_json(target, "model contract"), source=str(target))


class _Fields:
    """Reads a contract's JSON object field by field; every problem is one UserError naming the file and field."""

    def __init__(self, data: Any, source: str) -> None:
        if not isinstance(data, dict):
            raise UserError(f"{source}: not a model contract (not a JSON object)")
        self.data, self.source = data, source

    def get(self, name: str, default: Any = _REQUIRED) -> Any:
        if name not in self.data:
            if default is _REQUIRED:
                raise UserError(f"{self.source}: {name} is missing")
            return default
        return self.data[name]

    def check(self, name: str, value: Any, good: bool, wanted: str) -> None:
        if not good:
            raise UserError(f"{self.source}: {name} must be {wanted}, not {_shown(value)}")


def _checked_labels(fields: _Fields) -> list[str]:
    labels = fields.get("labels")
    fields.check(
        "labels",
        labels,
        isinstance(labels, list) and len(labels) >= 2 and all(isinstance(x, str) and x.strip() for x in labels),
        "a list of at least two label names",
    )
    controls = [label for label in labels if any(map(is_control, label))]
    fields.check("labels", controls, not controls, "names without control or format characters (ESC, CR, tab...)")
    repeated = sorted(label for label, n in Counter(labels).items() if n > 1)
    fields.check("labels", labels, not repeated, f"a list of distinct names ({', '.join(repeated)} repeated)")
    return list(labels)


def _checked_pixels(fields: _Fields) -> tuple[float, float]:
    scale, offset = fields.get("pixel_scale"), fields.get("pixel_offset")
    fields.check(
        "pixel_scale",
        scale,
        _is_number(scale) and 0 < scale <= MAX_PIXEL_FACTOR,
        f"a number above 0 and at most {MAX_PIXEL_FACTOR:g}",
    )
    fields.check(
        "pixel_offset",
        offset,
        _is_number(offset) and abs(offset) <= MAX_PIXEL_FACTOR,
        f"a number from -{MAX_PIXEL_FACTOR:g} to {MAX_PIXEL_FACTOR:g}",
    )
    return float(scale), float(offset)


def _check_pixels_fit_int8(fields: _Fields, scale: float, offset: float, extra: dict[str, Any]) -> None:
    """Refuse a normalisation that puts the pixels mostly outside the range an int8 model's input was calibrated
    for (extra.models, as convert records it): such a model answers, wrongly, with no other sign. Half the pixel
    range must fall inside it; a convert with the same contract gives all of it."""
    models = extra.get("models")
    if not isinstance(models, dict):
        return
    low, high = offset, offset + 255 * scale
    for name, model in models.items():
        quantization = model.get("input_quantization") if isinstance(model, dict) else None
        if not isinstance(quantization, list) or len(quantization) != 2 or model.get("input_dtype") != "int8":
            continue
        q_scale, zero = quantization
        if not (_is_number(q_scale) and _is_number(zero) and q_scale > 0):
            continue
        calibrated = (q_scale * (-128 - zero), q_scale * (127 - zero))
        inside = max(0.0, min(high, calibrated[1]) - max(low, calibrated[0]))
        if inside < (high - low) / 2:
            raise UserError(
                f"{fields.source}: pixel_scale {scale:g} and pixel_offset {offset:g} give pixels in"
                f" [{low:g}, {high:g}], but {name}'s input was calibrated for [{calibrated[0]:.3g},"
                f" {calibrated[1]:.3g}]: it would answer wrongly; reconvert the model with this contract"
            )


def _checked_extra(fields: _Fields) -> dict[str, Any]:
    extra = fields.get("extra", {})
    fields.check("extra", extra, isinstance(extra, dict), "an object")
    if MANIFEST_KEY in extra:
        problem = _manifest_problem(extra[MANIFEST_KEY])
        if problem:
            raise UserError(f"{fields.source}: extra.{MANIFEST_KEY} {problem}")
    if DIGEST_KEY in extra:
        digest = extra[DIGEST_KEY]
        fields.check(f"extra.{DIGEST_KEY}", digest, isinstance(digest, str) and bool(_SHA256.fullmatch(digest)),
                     "a sha256 in hex")  # fmt: skip
    return dict(extra)


def _checked_framing(fields: _Fields) -> dict[str, dict[str, float]]:
    """Per detector name, where its box falls in a training crop: centre and side as fractions of the crop."""
    framing = fields.get("framing", {})
    fields.check("framing", framing, isinstance(framing, dict), "an object of detector names")
    for name, values in framing.items():
        good = isinstance(values, dict) and set(values) == {"centre_x", "centre_y", "side"}
        good = good and all(_is_number(v) for v in values.values())
        good = good and 0 <= values["centre_x"] <= 1 and 0 <= values["centre_y"] <= 1 and 0.2 <= values["side"] <= 2
        fields.check(f"framing.{name}", values, good, "{centre_x, centre_y in [0, 1], side in [0.2, 2]}")
    return {str(name): Framing.from_dict(values).to_dict() for name, values in framing.items()}
