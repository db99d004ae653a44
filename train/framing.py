"""Measure how the training faces are framed relative to each detector's box, for the contract.

Each detector runs on a seeded sample of upscaled Training faces; the median centre and side of its box, in
units of the crop, say how much margin and which vertical offset a live crop needs to look like a training
crop (the contract carries it; edge/pipeline/crop.py cuts it). Medians, because a detector sometimes boxes a
part of a face.
"""

from __future__ import annotations

import sys

import cv2
import numpy as np

from edge.common.errors import UserError
from edge.contract import Framing
from edge.detectors.base import DetectorConfig
from edge.detectors.registry import DETECTORS, make_detector

SAMPLE = 1500
UPSCALE = 4  # FER-2013's 48 px faces are below the detectors' smallest; 192 px is a typical webcam face
# Many FER-2013 faces fill their crop: without room around them a detector misses exactly the tightly framed ones,
# and the median would describe only the loosely framed rest. The padding repeats the edge pixels.
PAD = 0.25
MIN_FOUND = 0.2  # a detector that boxes fewer of the sample says nothing reliable about the framing


def measure(images: np.ndarray, detector: str, sample: int = SAMPLE, seed: int = 0) -> tuple[Framing, float] | None:
    """The median framing of `detector`'s boxes on up to `sample` images, and the share of images where it found a
    face; None if it found too few."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(images), size=min(sample, len(images)), replace=False)
    size = images.shape[1] * UPSCALE
    pad = round(size * PAD)
    finder = make_detector(DetectorConfig(name=detector, detect_width=0, min_face=size // 3))
    boxes = []
    for row in rows:
        face = cv2.resize(images[row], (size, size), interpolation=cv2.INTER_CUBIC)
        face = cv2.copyMakeBorder(face, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        found = finder.detect(cv2.cvtColor(face, cv2.COLOR_GRAY2BGR))
        if len(found):
            x, y, w, h = found[np.argmax(found[:, 2] * found[:, 3])]
            boxes.append(((x - pad + w / 2) / size, (y - pad + h / 2) / size, (w + h) / 2 / size))
    share = len(boxes) / len(rows)
    if share < MIN_FOUND:
        return None
    centre_x, centre_y, side = np.median(np.array(boxes), axis=0)
    return Framing(float(centre_x), float(centre_y), float(side)), share


def measure_all(images: np.ndarray, seed: int = 0) -> dict[str, dict[str, float]]:
    """The contract's `framing`: every detector this OpenCV can run, each with its measured framing."""
    framing = {}
    for name in DETECTORS:
        try:
            measured = measure(images, name, seed=seed)
        except UserError as exc:  # e.g. YuNet on an OpenCV older than 4.8: the model still works with Haar
            print(f"framing: {name} skipped ({exc})", file=sys.stderr)
            continue
        if measured is not None:
            framing[name] = measured[0].to_dict()
            found = f"found in {measured[1]:.0%} of the sample"
            print(f"framing: {name} box at {framing[name]} of the crop, {found}", file=sys.stderr)
    return framing
