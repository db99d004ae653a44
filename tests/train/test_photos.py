"""Training from labelled photos: folders read in both layouts, faces found by the edge's own detector (or the
given box) and cut by the contract's framing, subject-disjoint validation, the cache, bad rows, and a real fit
that mixes a photo folder with a CSV."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.contract import Contract, Framing
from edge.pipeline.crop import cut
from tests.conftest import error_lines, run_module
from train.augment import AugmentConfig, augment_batch
from train.data import centre_crops
from train.photos import CONTEXT, context_side, load_photos, photo_rows

ASTRONAUT = Path(__file__).resolve().parents[2] / "edge" / "assets" / "astronaut.jpg"
LABELS_CYCLE = ("Happy", "Neutral", "Sad")


def _variant(image: np.ndarray, i: int) -> np.ndarray:
    """A different photo of the same real face: mirrored, lit and scaled differently."""
    out = cv2.flip(image, 1) if i % 2 else image
    out = np.clip(out.astype(np.int16) + (i * 7) % 40 - 20, 0, 255).astype(np.uint8)
    side = 512 - 16 * (i % 5)
    return cv2.resize(out, (side, side))


def photo_folder(root: Path, count: int = 12, extra: str = "") -> Path:
    """`count` photos of the astronaut, one subject each, labels.csv without a box; `extra` appended to it."""
    image = cv2.imread(str(ASTRONAUT))
    (root / "images").mkdir(parents=True)
    lines = ["file,label,subject"]
    for i in range(count):
        cv2.imwrite(str(root / "images" / f"p{i:02d}.jpg"), _variant(image, i))
        lines.append(f"images/p{i:02d}.jpg,{LABELS_CYCLE[i % 3]},person{i}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n" + extra)
    return root


def test_faces_are_found_by_the_detector_and_cut_by_the_contracts_framing(tmp_path: Path) -> None:
    folder = photo_folder(tmp_path / "photos", count=4)
    contract = Contract("tiny", framing={"yunet": Framing(0.5, 0.55, 0.8).to_dict()})
    photos = load_photos(folder, contract, "yunet", cache_dir=tmp_path / "cache")
    side = context_side(48)
    assert photos.images.shape == (4, side, side)
    image = cv2.imread(str(folder / "images" / "p00.jpg"))
    x, y, crop = Framing(0.5, 0.55, 0.8).crop_of(np.array([174, 69, 101, 101]))
    grow = crop * (CONTEXT - 1) / 2
    expected = cut(image, (x - grow, y - grow, crop + 2 * grow), (side, side))
    # YuNet's box on a re-encoded JPEG may move by a pixel or two: compare the crops, not the bytes.
    assert np.abs(photos.images[0].astype(int) - expected.astype(int)).mean() < 12
    assert photos.labels.tolist() == [3, 6, 4, 3]  # Happy, Neutral, Sad, Happy in the contract's order


def test_a_given_box_is_used_instead_of_the_detector(tmp_path: Path) -> None:
    folder = photo_folder(tmp_path / "photos", count=2)
    rows = (folder / "labels.csv").read_text().splitlines()
    boxed = ["file,label,subject,box"] + [row + ",0 0 100 100" for row in rows[1:]]
    (folder / "labels.csv").write_text("\n".join(boxed) + "\n")
    photos = load_photos(folder, Contract("tiny"), cache_dir=tmp_path / "cache")
    image = cv2.imread(str(folder / "images" / "p00.jpg"))
    side = context_side(48)
    assert np.array_equal(photos.images[0], cut(image, (-25, -25, 150), (side, side)))


def test_validation_holds_out_whole_subjects_and_the_cache_is_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = photo_folder(tmp_path / "photos", count=4)
    lines = (folder / "labels.csv").read_text().splitlines()
    for i in range(20):  # twenty more photos of ten people, two each
        name = f"images/q{i:02d}.jpg"
        cv2.imwrite(str(folder / name), cv2.imread(str(folder / "images" / f"p{i % 4:02d}.jpg")))
        lines.append(f"{name},Happy,person{i % 10}")
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    cache = tmp_path / "cache"
    first = load_photos(folder, Contract("tiny"), cache_dir=cache)
    subjects = {row.line: row.subject for row in photo_rows(folder)}
    sides: dict[str, set[str]] = {}
    for line, usage in zip(first.lines, first.usage, strict=True):
        sides.setdefault(subjects[int(line)], set()).add(str(usage))
    assert all(len(side) == 1 for side in sides.values())
    assert {"Training", "Validation"} <= {str(u) for u in first.usage}

    def no_decoding(*_: object) -> None:
        raise AssertionError("a cached folder was decoded again")

    monkeypatch.setattr("train.photos.read_image", no_decoding)
    again = load_photos(folder, Contract("tiny"), cache_dir=cache)
    assert np.array_equal(again.images, first.images) and np.array_equal(again.usage, first.usage)
    # A photo that changes is a new folder: the crops are cut again.
    cv2.imwrite(str(folder / "images" / "p00.jpg"), cv2.imread(str(ASTRONAUT))[::-1])
    with pytest.raises(AssertionError, match="decoded again"):
        load_photos(folder, Contract("tiny"), cache_dir=cache)


def test_one_subfolder_per_label_is_a_photo_folder_too(tmp_path: Path) -> None:
    image = cv2.imread(str(ASTRONAUT))
    for label in ("Happy", "Neutral"):
        (tmp_path / "faces" / label).mkdir(parents=True)
        for i in range(2):
            cv2.imwrite(str(tmp_path / "faces" / label / f"{i}.png"), _variant(image, i))
    photos = load_photos(tmp_path / "faces", Contract("tiny"), cache_dir=tmp_path / "cache")
    assert sorted(photos.labels.tolist()) == [3, 3, 6, 6]


def test_a_context_crop_unaugmented_is_the_models_crop() -> None:
    stored = np.random.default_rng(0).integers(0, 256, size=(3, context_side(48), context_side(48)), dtype=np.uint8)
    out = augment_batch(stored, AugmentConfig.off(), np.random.default_rng(0), Contract("tiny"), CONTEXT)
    assert np.array_equal(out, centre_crops(stored, CONTEXT))


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("images/p00.jpg,Contempt,x\n", "label 'Contempt' is not one of the model's"),
        ("images/p00.jpg,Happy,x\n", "images/p00.jpg is listed twice"),
        ("../outside.jpg,Happy,x\n", "must lie inside"),
    ],
)
def test_a_bad_photo_row_is_one_line_naming_its_line(
    tmp_path: Path, synthetic_csv: Path, extra: str, expected: str
) -> None:
    folder = photo_folder(tmp_path / "photos", count=3)
    if "Contempt" in extra:  # a row of its own photo, so only the label is wrong
        cv2.imwrite(str(folder / "images" / "c.jpg"), cv2.imread(str(ASTRONAUT)))
        extra = extra.replace("p00.jpg", "c.jpg")
    (folder / "labels.csv").write_text((folder / "labels.csv").read_text() + extra)
    result = run_module(
        "train", "fit", "--arch", "tiny", "--data", str(folder), str(synthetic_csv), "--out", str(tmp_path / "run")
    )
    assert result.returncode == 2, result.stderr
    last = error_lines(result.stderr)[-1]
    assert last.startswith(f"train: error: {folder / 'labels.csv'} line 5:") and expected in last
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()


def test_a_photo_without_a_face_is_skipped_by_name_when_asked(tmp_path: Path) -> None:
    folder = photo_folder(tmp_path / "photos", count=3)
    cv2.imwrite(str(folder / "images" / "wall.jpg"), np.full((200, 200, 3), 128, np.uint8))
    (folder / "labels.csv").write_text((folder / "labels.csv").read_text() + "images/wall.jpg,Happy,w\n")
    with pytest.raises(Exception, match=r"line 5: images/wall.jpg: no face found by yunet"):
        load_photos(folder, Contract("tiny"), "yunet", cache_dir=tmp_path / "cache")
    photos = load_photos(folder, Contract("tiny"), "yunet", skip_bad_rows=True, cache_dir=tmp_path / "cache")
    assert len(photos.labels) == 3


@pytest.mark.slow
def test_fit_mixes_a_photo_folder_with_a_csv_and_reports_each_validation_part(
    tmp_path: Path, synthetic_csv: Path
) -> None:
    folder = photo_folder(tmp_path / "photos", count=40)
    out = tmp_path / "run"
    result = run_module(
        "train", "fit", "--arch", "tiny", "--epochs", "1", "--batch-size", "16", "--data", str(folder),
        str(synthetic_csv), "--mix", "2", "0.25", "--out", str(out),
        env={"XDG_CACHE_HOME": str(tmp_path / "cache")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    photos_training = sum(1 for u in load_photos(folder, Contract("tiny"), cache_dir=tmp_path / "cache" / "fer-edge" /
                                                  "photos").usage if u == "Training")  # fmt: skip
    assert metrics["splits"]["Training"]["n"] == photos_training + 448
    assert {"PublicTest", "Validation"} <= set(metrics["splits"])
    assert len((out / "history.csv").read_text().splitlines()) == 2  # one epoch


@pytest.mark.slow
def test_teach_per_source_gives_each_source_its_own_teacher_in_fits_row_order(
    tmp_path: Path, synthetic_csv: Path, converted: Path, trained_run: Path
) -> None:
    folder = photo_folder(tmp_path / "photos", count=12)
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    both = tmp_path / "both.npy"
    result = run_module("train", "teach", "--data", str(folder), str(synthetic_csv), "--model", str(converted),
                        str(trained_run / "model.keras"), "--per-source", "--out", str(both), env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    alone = tmp_path / "photos.npy"
    run_module("train", "teach", "--data", str(folder), "--model", str(converted), "--out", str(alone), env=env,
               check=True)  # fmt: skip
    soft, photos_only = np.load(both), np.load(alone)
    assert len(soft) == len(photos_only) + 448  # the photos' Training rows, then the CSV's, as fit orders them
    assert np.array_equal(soft[: len(photos_only)], photos_only)
    mismatched = run_module("train", "teach", "--data", str(folder), str(synthetic_csv), "--model", str(converted),
                            "--per-source", "--out", str(tmp_path / "x.npy"), env=env)  # fmt: skip
    assert mismatched.returncode == 2
    assert error_lines(mismatched.stderr)[-1] == (
        "train: error: --per-source: 1 --model for 2 --data sources; give one each"
    )
