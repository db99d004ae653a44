"""--align-eyes: YuNet's eye landmarks, measured on a view of each detected face, turn its crop so the eyes are
level; a followed face keeps its angle."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge import Pipeline
from edge.common.errors import UserError
from edge.detectors.yunet import check_opencv
from edge.pipeline.crop import cut, cut_rotated
from tests.conftest import error_lines, run_module

ASTRONAUT = Path(__file__).resolve().parents[2] / "edge" / "assets" / "astronaut.jpg"
ROLL = 20.0  # degrees, counter-clockwise as seen (OpenCV's convention)


def rotated_whole(image: np.ndarray, degrees: float) -> np.ndarray:
    """`image` turned counter-clockwise by `degrees` on a canvas large enough to keep all of it."""
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    size = (int(np.ceil(width * cos + height * sin)), int(np.ceil(width * sin + height * cos)))
    matrix[:, 2] += (size[0] - width) / 2, (size[1] - height) / 2
    return cv2.warpAffine(image, matrix, size, borderMode=cv2.BORDER_REPLICATE)


def face_crop(pipeline: Pipeline, image: np.ndarray) -> tuple[np.ndarray, float]:
    """The one face's crop as `process` feeds it to the model, and the roll its track keeps."""
    faces = pipeline.process(image)
    assert len(faces) == 1, faces
    track = pipeline.tracker.tracks[0]
    angles = [track.angle] if pipeline.eye_level else None
    return pipeline.crops(image, [track.box], angles)[0].astype(np.float64), track.angle


def test_aligned_crop_of_a_turned_face_is_closer_to_the_upright_one() -> None:
    upright = cv2.imread(str(ASTRONAUT))
    turned = rotated_whole(upright, ROLL)
    with Pipeline(detector="yunet", align_eyes=True) as aligned, Pipeline(detector="yunet") as plain:
        reference, upright_angle = face_crop(aligned, upright)
        aligned.reset()
        level, angle = face_crop(aligned, turned)
        unturned, _ = face_crop(plain, turned)
    assert abs(upright_angle) < 5
    assert 0 < angle <= ROLL + 5, angle  # positive: the face is rolled counter-clockwise as seen
    with_alignment, without = np.abs(level - reference).mean(), np.abs(unturned - reference).mean()
    assert with_alignment < without, (with_alignment, without)


@pytest.mark.parametrize("detector", ["yunet", "haar"])
def test_the_measured_roll_follows_the_turn_whatever_the_detector(detector: str) -> None:
    """The second look at each face (its own view, face about 200 px) makes YuNet's landmarks follow a roll they
    miss on a whole 320-wide detection frame; Haar's boxes get the same measurement."""
    upright = cv2.imread(str(ASTRONAUT))
    with Pipeline(detector=detector, align_eyes=True) as pipeline:
        _, level = face_crop(pipeline, upright)
        pipeline.reset()
        _, turned = face_crop(pipeline, rotated_whole(upright, ROLL))
    assert ROLL / 2 < turned - level < ROLL + 5, (level, turned)


def test_a_grayscale_frame_is_measured_like_its_colour_one() -> None:
    image = rotated_whole(cv2.imread(str(ASTRONAUT)), ROLL)
    with Pipeline(detector="yunet", align_eyes=True) as pipeline:
        _, colour = face_crop(pipeline, image)
        pipeline.reset()
        _, gray = face_crop(pipeline, cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    assert abs(colour - gray) < 5, (colour, gray)


def test_a_followed_face_keeps_its_angle_and_a_new_photo_forgets_it() -> None:
    turned = rotated_whole(cv2.imread(str(ASTRONAUT)), ROLL)
    with Pipeline(detector="yunet", align_eyes=True, detect_every=3) as pipeline:
        pipeline.process(turned)
        detected = pipeline.tracker.tracks[0]
        followed = pipeline.process(turned)[0]
        assert not followed.detected and pipeline.tracker.tracks[0] is detected
        assert detected.angle > 0
        pipeline.reset()
        assert pipeline.tracker.tracks == []


def test_angle_zero_is_the_plain_cut() -> None:
    image = cv2.imread(str(ASTRONAUT))
    for crop in ((100, 50, 200), (-30, -20, 150), (400, 300, 300)):
        assert np.array_equal(cut_rotated(image, crop, (48, 48), 0.0), cut(image, crop, (48, 48)))


def test_align_eyes_without_detection_is_refused() -> None:
    with pytest.raises(UserError, match="--no-detect"):
        Pipeline(detect=False, align_eyes=True)
    result = run_module("edge", "--align-eyes", "--no-detect", "--max-frames", "1", "--quiet", timeout=120)
    assert result.returncode == 2
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and "--align-eyes turns detected faces level by their eyes" in lines[0], result.stderr


def test_an_old_opencv_names_align_eyes_in_its_one_line() -> None:
    with pytest.raises(UserError, match=r"^--align-eyes needs OpenCV >= 4\.8 with FaceDetectorYN \(this is 4\.6\.0\)"):
        check_opencv("4.6.0", has_yunet=False, needed_by="--align-eyes")


def test_the_cli_turns_the_crop_with_align_eyes(tmp_path: Path) -> None:
    """The same turned photo gives other probabilities with --align-eyes: the model saw a turned crop (vgg_wide:
    the default, face-api's network, is sure enough of this smile that its rounded answer does not move)."""
    turned = tmp_path / "turned.jpg"
    cv2.imwrite(str(turned), rotated_whole(cv2.imread(str(ASTRONAUT)), ROLL))
    seen = []
    for extra in ([], ["--align-eyes"]):
        result = run_module("edge", "--source", str(turned), "--detector", "haar", "--jsonl", "-",
                            "--model", "vgg_wide", *extra, timeout=120)  # fmt: skip
        assert result.returncode == 0, result.stderr
        [record] = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
        [face] = record["faces"]
        seen.append(face["probabilities"])
    assert seen[0] != seen[1]
