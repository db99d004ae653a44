"""YuNet, OpenCV's small CNN face detector (`cv2.FaceDetectorYN`), behind the same interface as the Haar cascade.

The model ships in edge/assets/yunet/ (MIT, see its README and LICENSE). It needs OpenCV >= 4.8: the DNN importer of
older releases (Debian 12's and Raspberry Pi OS bookworm's apt 4.6 included) cannot load it, so the version is
checked first and an old OpenCV gets one line that says how to get a newer one.
"""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from edge.common.errors import UserError
from edge.common.files import file_sha256
from edge.detectors.base import NO_BOXES, Detector, DetectorConfig

MODEL = Path(__file__).resolve().parents[1] / "assets" / "yunet" / "face_detection_yunet_2026may.onnx"
MODEL_SHA256 = "ebafce4e3c118d6554634be5c27ab333b4c047a9a8c3faf1d7cf93101c22f0f0"
MIN_OPENCV = (4, 8)
SCORE_THRESHOLD = 0.6  # opencv_zoo's demo uses 0.9; lower keeps small and turned faces (measured in benchmarks)
NMS_THRESHOLD = 0.3
MIN_DETECT_WIDTH = 64  # --detect-width below this (except 0, full size): FaceDetectorYN asserts on tiny inputs
UPGRADE = (
    "pip install opencv-python-headless==4.10.0.84 in the venv (it keeps numpy 1.x for apt's picamera2),"
    " e.g. with edge/deploy/install-pi.sh --yunet"
)


def opencv_version(text: str) -> tuple[int, int]:
    """(major, minor) of a version string such as '4.6.0' or '4.10.0-dev'."""
    found = re.match(r"(\d+)\.(\d+)", text)
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


def check_opencv(
    version: str | None = None, has_yunet: bool | None = None, needed_by: str = "--detector yunet"
) -> None:
    """Raise the one-line error, naming the option `needed_by`, when this OpenCV cannot run YuNet (`version` and
    `has_yunet`: for tests, default this cv2)."""
    version = cv2.__version__ if version is None else version
    has_yunet = hasattr(cv2, "FaceDetectorYN") if has_yunet is None else has_yunet
    wanted = ".".join(map(str, MIN_OPENCV))
    if opencv_version(version) < MIN_OPENCV:
        raise UserError(f"{needed_by} needs OpenCV >= {wanted} with FaceDetectorYN (this is {version}): {UPGRADE}")
    if not has_yunet:  # new enough, built without it: pinning the 4.10 wheel would be a downgrade
        raise UserError(
            f"{needed_by} needs OpenCV's FaceDetectorYN, which this OpenCV {version} lacks (a build without its dnn"
            f" module): pip install opencv-python-headless (>= {wanted}) in the venv, or use --detector haar"
        )


def check_model(path: Path = MODEL) -> None:
    """The shipped model is the published file: a truncated or swapped copy would detect nonsense, not fail."""
    if not path.is_file():
        raise UserError(f"{path}: the YuNet model is missing from this copy of edge/")
    digest = file_sha256(path)
    if digest != MODEL_SHA256:
        raise UserError(f"{path}: sha256 {digest} is not the published {MODEL_SHA256}")


def open_net(
    model: Path = MODEL, size: tuple[int, int] = (320, 320), needed_by: str = "--detector yunet"
) -> cv2.FaceDetectorYN:
    """YuNet for images of `size` (width, height), after checking this OpenCV can run it and the model is intact."""
    check_opencv(needed_by=needed_by)
    check_model(model)
    return cv2.FaceDetectorYN.create(str(model), "", size, SCORE_THRESHOLD, NMS_THRESHOLD, 5000)


def eye_angles(faces: np.ndarray) -> np.ndarray:
    """Each face's roll in degrees from YuNet's eye landmarks (columns 4-7: the right eye's x, y, then the left's;
    the person's right eye is on the image's left): counter-clockwise as seen is positive, OpenCV's convention,
    so `cv2.getRotationMatrix2D(centre, -angle, 1)` levels the eyes."""
    right_x, right_y, left_x, left_y = faces[:, 4:8].astype(np.float64).T
    return -np.degrees(np.arctan2(left_y - right_y, left_x - right_x))


def square(boxes: np.ndarray) -> np.ndarray:
    """YuNet's boxes are taller than wide; the classifier was trained on Haar's square crops, so square them
    around the same centre with the mean side."""
    x, y, w, h = boxes.T
    side = (w + h) / 2
    return np.stack([x + (w - side) / 2, y + (h - side) / 2, side, side], axis=1)


class YuNetDetector(Detector):
    """Faces from YuNet on the colour detection frame; a grayscale one (picamera2's lores Y plane) is given to
    the network as three equal channels, which finds fewer small faces."""

    color = True

    def __init__(self, config: DetectorConfig | None = None, model: Path = MODEL) -> None:
        self.config = config or DetectorConfig(name="yunet")
        self.size = (320, 320)
        self.net = open_net(model, self.size)

    def find(self, small: np.ndarray, min_side: int, max_side: int = 0) -> np.ndarray:
        image = cv2.cvtColor(small, cv2.COLOR_GRAY2BGR) if small.ndim == 2 else small[..., :3]
        size = (image.shape[1], image.shape[0])
        if size != self.size:
            self.net.setInputSize(size)
            self.size = size
        _, faces = self.net.detect(image)
        if faces is None or len(faces) == 0:
            return NO_BOXES
        boxes = faces[:, :4].astype(np.float64)
        boxes = square(boxes[np.isfinite(boxes).all(axis=1)])  # YuNet has returned infinite and NaN boxes
        boxes = boxes[(boxes[:, 2] >= min_side) & ((boxes[:, 2] <= max_side) | (max_side == 0))]
        return np.round(boxes).astype(np.int32).reshape(-1, 4)
