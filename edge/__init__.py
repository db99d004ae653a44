"""fer-edge runtime: Haar face detection + TFLite expression classification, numpy and OpenCV only."""

from edge.contract import LABELS, Contract
from edge.detectors.base import DetectorConfig
from edge.frames import Face
from edge.pipeline.pipeline import Pipeline

__all__ = ["LABELS", "Contract", "DetectorConfig", "Face", "Pipeline"]
