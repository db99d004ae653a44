"""What every output of a run shares: the annotated frame that the window, the saved video and the web view show."""

from __future__ import annotations

import cv2
import numpy as np

from edge.frames import Face

BOX_COLOUR = (60, 200, 60)


def annotate(image: np.ndarray, faces: list[Face], fps: float | None = None) -> np.ndarray:
    """A copy of the frame with a box, label and confidence per face, and the FPS in the corner."""
    out = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image.copy()
    for face in faces:
        x, y, w, h = face.box
        cv2.rectangle(out, (x, y), (x + w, y + h), BOX_COLOUR, 2)
        text = f"{face.label} {face.confidence:.0%}"
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.6, 2)
        top = max(th + 6, y)
        cv2.rectangle(out, (x, top - th - 6), (x + tw + 6, top), BOX_COLOUR, -1)
        cv2.putText(out, text, (x + 3, top - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 2, cv2.LINE_AA)
    if fps is not None:
        cv2.putText(out, f"{fps:.1f} FPS", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2, cv2.LINE_AA)
    return out
