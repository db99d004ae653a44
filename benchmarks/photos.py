"""Detector recall and precision on labelled real photos (../shared/detect-faces, when present).

The photos are dlib's example set (PASCAL VOC images, boxes in `training.xml` and `testing.xml`); they are read
where they lie and never copied into the project.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from benchmarks.scoring import DetectionScore
from edge.common.images import read_image
from edge.detectors.base import DetectorConfig
from edge.detectors.registry import make_detector

FACES = Path(__file__).resolve().parents[1].parent / "shared" / "detect-faces"
LABEL_FILES = ("training.xml", "testing.xml")
MIN_FACE = 32  # px: these faces are 37-109 px, below the live default of 48


def labelled_photos(folder: Path) -> list[tuple[Path, np.ndarray]]:
    """Each photo and its face boxes (N, 4) as x, y, w, h."""
    photos = []
    for name in LABEL_FILES:
        labels = folder / name
        if not labels.is_file():
            continue
        for image in ET.parse(labels).getroot().iter("image"):
            boxes = [[int(b.get(k)) for k in ("left", "top", "width", "height")] for b in image.iter("box")]
            photos.append((folder / image.get("file"), np.asarray(boxes, dtype=np.int32).reshape(-1, 4)))
    return photos


def photo_scores(folder: Path, detectors: tuple[str, ...], widths: tuple[int, ...]) -> dict:
    """{detector: {"WIDTH": recall, precision and counts}} over every labelled photo (width 0: full size)."""
    photos = [(read_image(path), boxes) for path, boxes in labelled_photos(folder)]
    out: dict = {}
    for name in detectors:
        out[name] = {}
        for width in widths:
            detector = make_detector(DetectorConfig(min_face=MIN_FACE, detect_width=width, name=name))
            score = DetectionScore()
            for image, truth in photos:
                score.add(detector.detect(image), truth)
            out[name][str(width)] = score.summary()
    return {"photos": len(photos), "faces": sum(len(b) for _, b in photos), "min_face": MIN_FACE, "scores": out}
