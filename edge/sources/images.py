"""Still images (a file or a folder of them) and the built-in demo clip made from the bundled photo."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from edge.common.errors import UserError
from edge.common.images import read_image, unreadable
from edge.frames import Frame
from edge.sources.base import IMAGE_SUFFIXES, Source, SourceOptions

DEMO_IMAGE = Path(__file__).resolve().parents[1] / "assets" / "astronaut.jpg"


def _numbered(images: Iterator[np.ndarray], name: str, started: float) -> Iterator[Frame]:
    for index, image in enumerate(images):
        yield Frame(image, index, name, time.monotonic() - started)


def open_images(paths: list[Path], name: str) -> Source:
    """Unrelated still images (not continuous); ends with a UserError if not one of them could be read."""
    source = Source(name, iter(()), continuous=False)
    started = time.monotonic()

    def frames() -> Iterator[Frame]:
        index = 0
        for path in paths:
            image = read_image(path)
            if image is None:
                source.skipped.append(path.name)
                continue
            yield Frame(image, index, path.name, time.monotonic() - started)
            index += 1
        if index == 0 and len(paths) == 1:
            raise UserError(f"{paths[0]}: {unreadable(paths[0])}")
        if index == 0:
            raise UserError(f"{name}: none of the {len(paths)} images could be read ({', '.join(source.skipped)})")

    source.frames = frames()
    return source


DEMO_SIZE = (SourceOptions.width, SourceOptions.height)


def open_folder(path: Path) -> Source:
    """The images in a folder, in name order."""
    try:
        images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    except OSError as exc:  # another user's folder (Permission denied)
        raise UserError(f"{path}: cannot read this folder ({exc.strerror})") from None
    if not images:
        raise UserError(f"{path}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in this folder")
    return open_images(images, path.name)


def demo_frames(count: int = SourceOptions.demo_frames, size: tuple[int, int] = DEMO_SIZE) -> Iterator[np.ndarray]:
    """The bundled portrait drifting and zooming across a grey frame: a clip that needs no camera."""
    photo = cv2.imread(str(DEMO_IMAGE), cv2.IMREAD_COLOR)
    if photo is None:
        raise UserError(f"{DEMO_IMAGE}: the demo image is missing from this copy of edge/")
    width, height = size
    base = 0.75 * min(width, height) / max(photo.shape[:2])
    for i in range(count):
        phase = 2 * np.pi * i / max(count, 1)
        scale = base * (1.0 + 0.15 * np.sin(phase))
        shown = photo.shape[1] * scale
        x = (width - shown) / 2 + 0.25 * (width - shown) * np.sin(phase)
        y = (height - photo.shape[0] * scale) / 2 + 0.1 * height * np.cos(phase)
        matrix = np.array([[scale, 0, x], [0, scale, y]], dtype=np.float64)
        yield cv2.warpAffine(photo, matrix, size, flags=cv2.INTER_LINEAR, borderValue=(90, 90, 90))


def open_demo(count: int = SourceOptions.demo_frames, size: tuple[int, int] = DEMO_SIZE) -> Source:
    return Source("demo", _numbered(demo_frames(count, size), "demo", time.monotonic()))
