"""fer-edge runtime: Haar face detection + TFLite expression classification, numpy and OpenCV only."""

from edge.contract import LABELS, Contract
from edge.detector import DetectorConfig
from edge.pipeline import Face, Pipeline

__all__ = ["LABELS", "Contract", "DetectorConfig", "Face", "Pipeline"]
