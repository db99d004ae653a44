"""fer-edge runtime: face detection (YuNet or Haar) + TFLite expression classification, numpy and OpenCV only."""

from edge.common.limits import cap_image_decoding

cap_image_decoding()  # before anything below imports cv2: OpenCV reads its decode cap once, when it loads

from edge.contract import LABELS, Contract  # noqa: E402
from edge.detectors.base import DetectorConfig  # noqa: E402
from edge.frames import Face  # noqa: E402
from edge.pipeline.pipeline import Pipeline  # noqa: E402

__all__ = ["LABELS", "Contract", "DetectorConfig", "Face", "Pipeline"]
