"""Training for real cameras: framing measured and applied, camera augmentation, FER+ vote targets, fine-tuning
and teaching from converted folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge import Pipeline
from edge.contract import Contract, Framing
from edge.detectors.base import DetectorConfig
from edge.detectors.registry import make_detector
from edge.model_folder import model_location, write_folder
from edge.pipeline.crop import cut
from tests.conftest import ROOT, error_lines, run_module
from tests.synthetic import write_ferplus
from train.augment import AugmentConfig, augment_batch, camera_degrade
from train.data import FERPLUS_TO_FER, attach_votes, load_fer_csv
from train.fit import training_targets
from train.framing import measure
from train.run import TrainConfig

ASTRONAUT = ROOT / "edge" / "assets" / "astronaut.jpg"


def _astronaut_face() -> tuple[np.ndarray, np.ndarray]:
    image = cv2.imread(str(ASTRONAUT))
    boxes = make_detector(DetectorConfig(detect_width=0)).detect(image)
    return image, boxes[np.argmax(boxes[:, 2])]


def test_framing_puts_the_box_where_the_training_crops_had_it() -> None:
    framing = Framing(centre_x=0.5, centre_y=0.4, side=0.5)
    x, y, side = framing.crop_of(np.array([100, 100, 50, 50]))
    assert side == 100
    assert (x + 0.5 * side, y + 0.4 * side) == (125, 125)  # the box centre lands at (0.5, 0.4) of the crop


def test_cut_repeats_the_edge_outside_the_image() -> None:
    image = np.full((20, 20), 7, dtype=np.uint8)
    image[:, 0] = 200
    crop = cut(image, (-10, 0, 20), (10, 10))
    assert crop.shape == (10, 10) and crop[:, :4].min() > 150  # the left edge column repeated leftwards


def test_measure_finds_the_margin_the_training_faces_were_cut_with() -> None:
    image, (x, y, w, h) = _astronaut_face()
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    margin = w // 4  # the box is 2/3 of each crop
    faces = np.stack(
        [
            cv2.resize(gray[y - margin + d : y + h + margin + d, x - margin : x + w + margin], (48, 48))
            for d in (-2, 0, 2)
        ]
    )
    framing, share = measure(faces, "haar", sample=3)
    assert share == 1.0
    assert framing.side == pytest.approx(w / (w + 2 * margin), abs=0.1)


def test_the_pipeline_crops_with_the_contract_framing(converted: Path, tmp_path: Path) -> None:
    image, _ = _astronaut_face()
    plain = Pipeline(model=converted, precision="float32", detector="haar")
    contract = Contract.load(converted)
    contract.framing = {"haar": Framing(0.5, 0.5, 0.5).to_dict()}
    framed_folder = tmp_path / "framed"
    write_folder(framed_folder, {p.name: p.read_bytes() for p in converted.glob("*.tflite")}, contract)
    framed = Pipeline(model=framed_folder, precision="float32", detector="haar")
    box = plain.process(image)[0].box
    wide, tight = framed.crops(image, [np.array(box)]), plain.crops(image, [np.array(box)])
    assert not np.array_equal(wide, tight)
    # Twice the side: the tight crop, halved, is the middle of the wide one.
    middle = cv2.resize(tight[0], (24, 24), interpolation=cv2.INTER_AREA).astype(int)
    assert np.abs(wide[0, 12:36, 12:36].astype(int) - middle).mean() < 12
    whole = Pipeline(model=framed_folder, precision="float32", detect=False)
    assert whole.framing == Framing()  # --no-detect: the image is the face, as training crops were


def test_camera_augmentation_degrades_reproducibly() -> None:
    faces = np.random.default_rng(1).integers(0, 256, size=(16, 48, 48), dtype=np.uint8)
    config = AugmentConfig.for_camera()
    first = augment_batch(faces, config, np.random.default_rng(3), Contract("tiny"))
    assert np.array_equal(first, augment_batch(faces, config, np.random.default_rng(3), Contract("tiny")))
    degraded = [camera_degrade(faces[0], np.random.default_rng(seed)) for seed in range(12)]
    assert all(d.dtype == np.uint8 and d.shape == (48, 48) for d in degraded)
    assert sum(not np.array_equal(d, faces[0]) for d in degraded) >= 6


def test_vote_targets_blend_fer_plus_votes_into_the_seven_labels(tmp_path: Path) -> None:
    csv, votes = write_ferplus(tmp_path, {"Training": 40, "PublicTest": 10})
    data = load_fer_csv(csv)
    attach_votes(data, votes)
    assert data.votes.shape == (50, 7) and np.allclose(data.votes.sum(axis=1), 1)
    targets = training_targets(data, TrainConfig(vote_weight=0.5), 7)
    one_hot = np.eye(7)[data.labels[:40]]
    assert np.allclose(targets, 0.5 * one_hot + 0.5 * data.votes[:40])
    assert set(FERPLUS_TO_FER.values()) == set(range(7))


def test_vote_weight_without_votes_is_one_line(synthetic_csv: Path, tmp_path: Path) -> None:
    result = run_module("train", "--data", str(synthetic_csv), "--vote-weight", "0.5", "--out", str(tmp_path / "r"))
    assert result.returncode == 2
    assert len(error_lines(result.stderr)) == 1 and "fer2013new.csv: FER+ label file not found" in result.stderr


@pytest.mark.slow
def test_fine_tune_and_teach_from_a_converted_folder(converted: Path, synthetic_csv: Path, tmp_path: Path) -> None:
    soft = tmp_path / "soft.npy"
    run_module(
        "train", "teach", "--data", str(synthetic_csv), "--model", str(converted), "--out", str(soft), check=True
    )
    assert np.load(soft).shape == (448, 7)
    out = tmp_path / "tuned"
    run_module(
        "train", "--data", str(synthetic_csv), "--init-from", str(converted), "--soft-labels", str(soft),
        "--epochs", "1", "--batch-size", "32", "--lr", "0.0001", "--camera-augment", "--out", str(out), check=True,
    )  # fmt: skip
    contract = json.loads((out / "contract.json").read_text())
    assert contract["architecture"] == Contract.load(converted).architecture
    assert contract["extra"]["fine_tuned_from"] == str(converted)
    # The fine-tuned model starts from the converted one (not from scratch): one epoch at a small rate keeps most
    # of its accuracy.
    before = json.loads((converted / "conversion_report.json").read_text())["accuracy"]["PublicTest"]["float32"]
    after = json.loads((out / "metrics.json").read_text())["splits"]["PublicTest"]["accuracy"]
    assert after >= before - 0.15


@pytest.mark.slow
def test_framing_is_written_into_a_converted_folder_which_stays_sealed(
    converted: Path, synthetic_csv: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(converted, folder)
    image, (x, y, w, h) = _astronaut_face()
    faces_csv = tmp_path / "faces.csv"
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    face = cv2.resize(gray[y : y + h, x : x + w], (48, 48))
    rows = [f"3,{' '.join(map(str, face.ravel()))},{usage}" for usage in ["Training"] * 40 + ["PublicTest"] * 8]
    faces_csv.write_text("emotion,pixels,Usage\n" + "\n".join(rows) + "\n")
    result = run_module("train", "framing", "--data", str(faces_csv), "--into", str(folder), "--json", check=True)
    assert json.loads(result.stdout) == Contract.load(folder).framing and "haar" in Contract.load(folder).framing
    assert Pipeline(model=folder).framing.side == pytest.approx(1.0, abs=0.15)  # the crops were the boxes


def test_a_zoo_name_means_the_shipped_folder_and_a_path_stays_a_path() -> None:
    assert model_location("faceapi") == ROOT / "edge" / "models" / "faceapi"
    assert model_location("default") == ROOT / "edge" / "model"
    assert model_location("./faceapi") == Path("faceapi")
    assert model_location(None) == ROOT / "edge" / "model"
