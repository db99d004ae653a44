"""Eye-level face crops (`--align-eyes`): each detected face's roll, measured by YuNet's eye landmarks on a view
of that face alone.

FER-2013's faces are upright, so a head tilted to one side reaches the model as something it never saw. YuNet's
landmarks on a whole detection frame follow a roll only when the face is large there (about 180 px or more):
for smaller faces they lean towards level eyes. So the roll is measured on a second pass over a square view of
each face, `VIEW_MARGIN` times its box, scaled to `VIEW_SIZE` so the face is about 200 px whatever its size in
the frame. It runs once per detected face; a followed face keeps its angle (`Track.angle`), and the crop is
turned by it (`edge.pipeline.crop.cut_rotated`). Any detector's boxes work; YuNet must be available.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.detectors.yunet import eye_angles, open_net

VIEW_SIZE = 320  # side of the face's view, in pixels
VIEW_MARGIN = 1.6  # the view's side in face-box sides: the whole head, so YuNet finds it at its usual scale
OPTION = "--align-eyes"


class EyeLevel:
    """Measures a face's roll (degrees, counter-clockwise as seen) from YuNet's eye landmarks on its own view."""

    def __init__(self) -> None:
        self.net = open_net(size=(VIEW_SIZE, VIEW_SIZE), needed_by=OPTION)

    def roll(self, frame: np.ndarray, box: np.ndarray) -> float | None:
        """The roll of the face in `box` (x, y, w, h in frame pixels); None when YuNet finds no face in its view."""
        x, y, w, h = (float(v) for v in box)
        side = max(w, h) * VIEW_MARGIN
        scale = VIEW_SIZE / side
        left, top = x + w / 2 - side / 2, y + h / 2 - side / 2
        matrix = np.array([[scale, 0.0, -left * scale], [0.0, scale, -top * scale]])
        view = cv2.warpAffine(frame, matrix, (VIEW_SIZE, VIEW_SIZE), borderMode=cv2.BORDER_REPLICATE)
        _, faces = self.net.detect(_bgr(view))
        if faces is None or len(faces) == 0:
            return None
        centres = faces[:, :2] + faces[:, 2:4] / 2
        nearest = int(np.argmin(np.linalg.norm(centres - VIEW_SIZE / 2, axis=1)))
        return float(eye_angles(faces[nearest : nearest + 1])[0])


def _bgr(view: np.ndarray) -> np.ndarray:
    """The view as BGR, the three channels YuNet takes (only the view is converted, never the whole frame)."""
    if view.ndim == 2:
        return cv2.cvtColor(view, cv2.COLOR_GRAY2BGR)
    return view if view.shape[2] == 3 else cv2.cvtColor(view, cv2.COLOR_BGRA2BGR)
