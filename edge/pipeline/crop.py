"""Cut a detected face out of a frame, framed the way the model's training data framed its faces.

FER-2013's 48x48 faces carry a margin of hair, forehead and chin, and each detector's box sits differently on a
face. Training measures where each detector's box falls inside its training crops (`train/framing.py`) and the
contract carries it (`Contract.framing`); the pipeline turns a box into the matching crop with
`Framing.crop_of`, and this cuts it. A contract without framing (older models) crops the box as it is.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.detectors.base import to_gray


def in_color(image: np.ndarray, color: str) -> np.ndarray:
    """A BGR, BGRA or grayscale image as the model's colour: grayscale, or RGB (a gray source, such as the Pi
    camera's lores plane, repeated in each channel: a colour model still runs on it, seeing gray faces)."""
    if color == "grayscale":
        return to_gray(image)
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB if image.shape[2] == 4 else cv2.COLOR_BGR2RGB)


def cut(
    frame: np.ndarray, crop: tuple[float, float, float], size: tuple[int, int], color: str = "grayscale"
) -> np.ndarray:
    """The square `crop` (x, y, side) of an image, made the model's colour (only that part) and resized to `size`
    (h, w); parts outside the image repeat its edge pixels, as FER-2013's crops of faces near an image border do."""
    x, y, side = (round(v) for v in crop)
    side = max(side, 1)
    height, width = frame.shape[:2]
    left, top = max(0, -x), max(0, -y)
    right, bottom = max(0, x + side - width), max(0, y + side - height)
    inside = in_color(frame[max(0, y) : min(height, y + side), max(0, x) : min(width, x + side)], color)
    if inside.size == 0:
        return np.zeros((*size, *inside.shape[2:]), dtype=np.uint8)
    if left or top or right or bottom:
        inside = cv2.copyMakeBorder(inside, top, bottom, left, right, cv2.BORDER_REPLICATE)
    return cv2.resize(inside, (size[1], size[0]), interpolation=cv2.INTER_AREA)


def cut_rotated(
    frame: np.ndarray, crop: tuple[float, float, float], size: tuple[int, int], angle: float, color: str = "grayscale"
) -> np.ndarray:
    """`cut`, then turned about the crop's centre by -`angle` degrees, so a face rolled by `angle`
    (counter-clockwise as seen) comes out level (`--align-eyes`); `angle` 0 is `cut` itself. The crop is cut
    with a margin wide enough for the turned square's corners (grayscale, area-averaged to the output's scale,
    edges repeated, as `cut` does: only that region is converted), and one affine warp turns it and takes the
    output from its middle, in the model's colour. The model's input is square; a `size` that is not gets the
    width's margin."""
    if not angle:
        return cut(frame, crop, size, color)
    x, y, side = crop
    out_h, out_w = size
    turn = np.radians(angle)
    margin = int(np.ceil(max(out_h, out_w) * (abs(np.cos(turn)) + abs(np.sin(turn)) - 1) / 2)) + 1
    pixel = side / out_w  # one output pixel, in frame pixels
    wide = cut(
        frame,
        (x - margin * pixel, y - margin * pixel, side + 2 * margin * pixel),
        (out_h + 2 * margin, out_w + 2 * margin),
        color,
    )
    centre = ((out_w - 1) / 2 + margin, (out_h - 1) / 2 + margin)
    matrix = cv2.getRotationMatrix2D(centre, -angle, 1.0)
    matrix[:, 2] -= margin  # the output is the middle of the turned wide crop
    return cv2.warpAffine(wide, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
