"""A colour model (face-api's 112x112 RGB) beside the 48x48 grayscale ones: the contract says which, the edge cuts
its crops in colour, a gray source (the Pi camera's lores plane) still feeds it, and data of the other kind is
fitted to it for calibration, evaluation and teaching."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.common.errors import UserError
from edge.contract import Contract
from edge.model_folder import MODEL_NAMES
from edge.pipeline.pipeline import Pipeline

ASTRONAUT = Path(__file__).resolve().parents[2] / "edge" / "assets" / "astronaut.jpg"


def contract_of(**fields) -> dict:
    return {"architecture": "x", "labels": ["a", "b"], "input_shape": [112, 112, 3], "pixel_scale": 1 / 255,
            "pixel_offset": 0.0, "color": "rgb", **fields}  # fmt: skip


def test_the_contract_carries_colour_and_channels() -> None:
    assert Contract.from_dict(contract_of()).channels == 3
    assert Contract.from_dict(contract_of(color="grayscale", input_shape=[48, 48, 1])).channels == 1


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"input_shape": [112, 112, 1]}, "3 channel(s) deep for rgb input"),
        ({"color": "grayscale"}, "1 channel(s) deep for grayscale input"),
        ({"color": "bgr"}, 'color must be "grayscale" or "rgb"'),
        ({"color": ["rgb"]}, 'color must be "grayscale" or "rgb"'),  # not a string: no TypeError either
    ],
)
def test_colour_and_shape_that_disagree_are_one_line(fields: dict, says: str) -> None:
    with pytest.raises(UserError, match="contract") as caught:
        Contract.from_dict(contract_of(**fields))
    assert says in str(caught.value) and "\n" not in str(caught.value)


def test_gray_rows_are_fitted_to_a_colour_model_and_back() -> None:
    colour = Contract.from_dict(contract_of())
    gray = Contract.from_dict(contract_of(color="grayscale", input_shape=[48, 48, 1]))
    ramp = np.add.outer(np.arange(48), np.arange(48)) * 255 // 94  # a smooth face-sized image survives resizing
    rows = np.stack([ramp, ramp.T, 255 - ramp]).astype(np.uint8)
    fitted = colour.fit_images(rows)
    assert fitted.shape == (3, 112, 112, 3) and fitted.dtype == np.uint8
    assert (fitted[..., 0] == fitted[..., 2]).all()  # gray in every channel
    back = gray.fit_images(fitted)
    assert back.shape == (3, 48, 48)
    assert np.abs(back.astype(int) - rows).mean() < 3  # up and down again: close to the rows
    assert gray.fit_images(rows) is rows  # already the model's kind: untouched, no copy


def test_the_edge_cuts_colour_crops_for_a_colour_model() -> None:
    photo = cv2.imread(str(ASTRONAUT), cv2.IMREAD_COLOR)
    with Pipeline(MODEL_NAMES["faceapi"]) as pipeline:
        faces = pipeline.process(photo)
        assert len(faces) == 1
        crops = pipeline.crops(photo, [np.array(faces[0].box)])
    assert crops.shape == (1, 112, 112, 3)
    red, blue = crops[0, ..., 0].astype(int), crops[0, ..., 2].astype(int)
    assert np.abs(red - blue).mean() > 5  # colour, not gray repeated
    # RGB order: the skin is redder than it is blue (BGR order would swap them).
    assert red.mean() > blue.mean()


def test_a_colour_model_runs_on_a_gray_frame() -> None:
    photo = cv2.imread(str(ASTRONAUT), cv2.IMREAD_GRAYSCALE)
    with Pipeline(MODEL_NAMES["faceapi"]) as pipeline:
        faces = pipeline.process(photo)
        crops = pipeline.crops(photo, [np.array(faces[0].box)])
    assert len(faces) == 1 and abs(sum(faces[0].probabilities.values()) - 1) < 0.05
    assert (crops[..., 0] == crops[..., 1]).all()  # gray repeated in each channel
