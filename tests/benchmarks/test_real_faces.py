"""`python -m benchmarks --real-faces DIR`: a labels.csv folder scored per model and detector, built here from the
bundled photo (../shared/real-faces is not needed, except by the one real-data test)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmarks.real_faces import NO_FACE, REAL_FACES, largest, paired_score
from edge import DetectorConfig, Pipeline
from edge.detectors.registry import NAMES as DETECTORS
from tests.conftest import ROOT, error_lines, run_module
from train.photos import Row

ASTRONAUT = ROOT / "edge" / "assets" / "astronaut.jpg"
ROWS = [  # file, label, subject: one subject photographed smiling and not, a grey photo with no face
    ("images/smile.jpg", "Happy", "s1"),
    ("images/calm.jpg", "Neutral", "s1"),
    ("images/small.png", "Happy", ""),
    ("images/crop.jpg", "Happy", ""),
    ("images/grey.png", "Neutral", ""),
]


def photo_folder(folder: Path, rows: list[tuple[str, ...]] = ROWS, header: str = "file,label,subject") -> Path:
    """Copies of the bundled photo (a mirror image, smaller, cropped, darker) and a blank grey image."""
    image = cv2.imread(str(ASTRONAUT))
    photos = {
        "smile.jpg": image,
        "calm.jpg": (image[:, ::-1] * 0.6).astype(np.uint8),
        "small.png": cv2.resize(image, (256, 256), interpolation=cv2.INTER_AREA),
        "crop.jpg": image[0:300, 100:400],
        "grey.png": np.full((300, 300, 3), 128, np.uint8),
    }
    (folder / "images").mkdir(parents=True)
    for name, photo in photos.items():
        cv2.imwrite(str(folder / "images" / name), photo)
    (folder / "labels.csv").write_text("\n".join([header, *(",".join(row) for row in rows)]) + "\n")
    return folder


def happy_probability(path: Path, detector: str) -> float:
    with Pipeline(detector=detector) as pipeline:
        return largest(pipeline.process(cv2.imread(str(path)))).probabilities["Happy"]


@pytest.mark.slow
def test_real_faces_scores_every_detector_counts_misses_and_fills_its_readme_block(tmp_path: Path) -> None:
    folder = photo_folder(tmp_path / "mine")
    (folder / "README.md").write_text("# My photos\n\n- Credit: astronaut copies (NASA, public domain)\n")
    out, readme = tmp_path / "bench", tmp_path / "README.md"
    readme.write_text("# x\n<!-- real-faces:start -->\nold\n<!-- real-faces:end -->\nafter\n")
    result = run_module("benchmarks", "--real-faces-only", "--real-faces", str(folder), "--out", str(out),
                        "--readme", str(readme), check=True)  # fmt: skip
    results = json.loads((out / "results.json").read_text())
    assert "latency" not in results and "detection" not in results  # only this part ran
    section = results["real_faces"]
    assert section["images"] == 5 and section["labels"] == {"Happy": 3, "Neutral": 2} and section["subjects"] == 1
    assert section["credit"] == "astronaut copies (NASA, public domain)"
    (model,) = section["scores"]
    assert model == "edge/model" and set(section["scores"][model]) == set(DETECTORS)
    for detector, s in section["scores"][model].items():
        confusion = s["confusion"]
        assert set(confusion) == {"Happy", "Neutral"} and list(confusion["Happy"])[-1] == NO_FACE
        assert sum(sum(row.values()) for row in confusion.values()) == 5
        assert confusion["Neutral"][NO_FACE] == 1 == s["no_face"]  # the grey image, counted wrong
        assert ["images/grey.png", NO_FACE] in s["wrong"]
        assert s["correct"] == confusion["Happy"]["Happy"] + confusion["Neutral"]["Neutral"] <= 4
        assert s["accuracy"] == s["correct"] / 5
        assert s["recall"]["Neutral"] == confusion["Neutral"]["Neutral"] / 2 <= 0.5
        smile, calm = (happy_probability(folder / "images" / name, detector) for name in ("smile.jpg", "calm.jpg"))
        assert s["pairs"] == {"right": int(smile > calm), "pairs": 1}
    verdicts = [v for v in results["verdicts"] if v["group"] == "real_faces"]
    assert len(verdicts) == 3 and all(f", {DetectorConfig().name})" in v["target"] for v in verdicts)
    assert (out / "real_faces.png").stat().st_size > 0 and results["plots"] == ["real_faces.png"]
    markdown = (out / "results.md").read_text()
    assert "astronaut copies (NASA, public domain)" in markdown and "| model | detector | accuracy |" in markdown
    assert "| edge/model | haar | Neutral |" in markdown
    assert "astronaut copies" in result.stdout
    text = readme.read_text()
    assert "old" not in text and text.endswith("<!-- real-faces:end -->\nafter\n")
    assert "![real_faces.png](docs/real_faces.png)" in text and (tmp_path / "docs" / "real_faces.png").is_file()


def test_paired_score_compares_each_expressive_photo_with_its_subjects_neutral_ones() -> None:
    rows = [Row(i + 2, f"{i}.jpg", label, subject) for i, (label, subject) in enumerate([
        ("Happy", "a"), ("Neutral", "a"),  # right: 0.9 > 0.2
        ("Happy", "b"), ("Neutral", "b"),  # wrong: 0.3 < 0.5
        ("Surprise", "c"), ("Neutral", "c"),  # compared on Surprise: right although Happy says otherwise
        ("Happy", "d"), ("Neutral", "d"),  # the expressive photo's face was missed: wrong
        ("Happy", "e"),  # no neutral photo: no pair
        ("Happy", ""), ("Neutral", ""),  # no subject: no pair
    ])]  # fmt: skip
    p = [
        {"Happy": 0.9}, {"Happy": 0.2},
        {"Happy": 0.3}, {"Happy": 0.5},
        {"Surprise": 0.6, "Happy": 0.0}, {"Surprise": 0.1, "Happy": 0.9},
        None, {"Happy": 0.0},
        {"Happy": 1.0},
        {"Happy": 1.0}, {"Happy": 0.0},
    ]  # fmt: skip
    assert paired_score(rows, p) == {"right": 2, "pairs": 4}


BAD = {  # labels.csv lines after a good first row -> the line and the message the error names
    "unknown label": (["images/calm.jpg,Joy"], 3, "label 'Joy' is not one of model edge/model's labels (Angry,"),
    "missing file": (["images/nope.jpg,Happy"], 3, "images/nope.jpg: no such file in"),
    "unreadable image": (["images/broken.jpg,Happy"], 3, "images/broken.jpg: not a readable image"),
    "extra field": (["images/calm.jpg,Neutral,x"], 3, "3 fields, the header has 2"),
    "listed twice": (["images/smile.jpg,Happy"], 3, "images/smile.jpg is listed twice (first on line 2)"),
}


@pytest.mark.parametrize("case", BAD)
def test_a_bad_labels_csv_is_one_line_naming_its_line(tmp_path: Path, case: str) -> None:
    lines, number, message = BAD[case]
    folder = photo_folder(tmp_path / "mine", rows=[("images/smile.jpg", "Happy")], header="file,label")
    (folder / "images" / "broken.jpg").write_bytes(b"not a JPEG")
    with (folder / "labels.csv").open("a") as f:
        f.write("\n".join(lines) + "\n")
    result = run_module("benchmarks", "--real-faces-only", "--real-faces", str(folder), "--out", str(tmp_path / "b"))
    assert result.returncode == 2
    (line,) = error_lines(result.stderr)
    assert line.startswith(f"benchmarks: error: {folder / 'labels.csv'} line {number}: {message}")
    assert not (tmp_path / "b").exists()


def test_a_labels_csv_without_a_label_column_is_one_line(tmp_path: Path) -> None:
    folder = photo_folder(tmp_path / "mine", header="path,emotion,subject")
    result = run_module("benchmarks", "--real-faces-only", "--real-faces", str(folder), "--out", str(tmp_path / "b"))
    assert result.returncode == 2
    assert error_lines(result.stderr) == [
        f"benchmarks: error: {folder / 'labels.csv'} line 1: expected a header naming the columns"
        " file,label[,subject][,box]; no file or label column in path,emotion,subject"
    ]


def test_an_absent_folder_is_skipped_with_its_reason(tmp_path: Path) -> None:
    missing = tmp_path / "no-photos"
    result = run_module("benchmarks", "--real-faces-only", "--real-faces", str(missing), "--out", str(tmp_path / "b"),
                        check=True)  # fmt: skip
    assert f"real faces: skipped ({missing} not found)" in result.stdout.splitlines()
    results = json.loads((tmp_path / "b" / "results.json").read_text())
    assert results["real_faces"] is None and results["verdicts"] == [] and results["plots"] == []


@pytest.mark.slow
@pytest.mark.real_data
@pytest.mark.skipif(not REAL_FACES.is_dir(), reason=f"{REAL_FACES} not present")
def test_the_london_set_is_scored_whole(tmp_path: Path) -> None:
    run_module("benchmarks", "--real-faces-only", "--out", str(tmp_path / "b"), check=True)  # the default folder
    section = json.loads((tmp_path / "b" / "results.json").read_text())["real_faces"]
    assert section["images"] == 100 and section["subjects"] == 50
    assert section["credit"] == "Face Research Lab London Set (DeBruine & Jones 2017, CC BY 4.0)"
    for s in next(iter(section["scores"].values())).values():
        assert sum(sum(row.values()) for row in s["confusion"].values()) == 100
        assert s["pairs"]["pairs"] == 50


def outside_photo(folder: Path) -> str:
    shutil.copy(ASTRONAUT, folder.parent / "other.jpg")
    return "../other.jpg,Happy"


def linked_to_dev_zero(folder: Path) -> str:
    (folder / "images" / "zero.jpg").symlink_to("/dev/zero")
    return "images/zero.jpg,Happy"


def a_fifo(folder: Path) -> str:
    os.mkfifo(folder / "images" / "pipe.jpg")  # reading it would block for ever
    return "images/pipe.jpg,Happy"


HOSTILE = {  # E27 (hostile run 2026-12-07): a row's line, and what the one error line says
    "dot slash twice": (lambda folder: "./images/smile.jpg,Happy", "./images/smile.jpg is listed twice (first on"),
    "outside the folder": (outside_photo, "other.jpg: the photo must lie inside"),
    "a link to /dev/zero": (linked_to_dev_zero, "images/zero.jpg: the photo is a link to a file outside"),
    "a FIFO": (a_fifo, "images/pipe.jpg: not a regular file (a folder, device or FIFO)"),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_a_row_naming_the_same_photo_or_one_outside_is_one_line(tmp_path: Path, case: str) -> None:
    make, message = HOSTILE[case]
    folder = photo_folder(tmp_path / "mine", rows=[("images/smile.jpg", "Happy")], header="file,label")
    with (folder / "labels.csv").open("a") as f:
        f.write(make(folder) + "\n")
    result = run_module("benchmarks", "--real-faces-only", "--real-faces", str(folder), "--out", str(tmp_path / "b"))
    assert result.returncode == 2, result.stderr
    (line,) = error_lines(result.stderr)
    assert line.startswith(f"benchmarks: error: {folder / 'labels.csv'} line 3: ") and message in line, line


def test_a_labels_csv_that_is_a_folder_is_named_so(tmp_path: Path) -> None:
    (tmp_path / "mine" / "labels.csv").mkdir(parents=True)
    result = run_module("benchmarks", "--real-faces-only", "--real-faces", str(tmp_path / "mine"), "--out",
                        str(tmp_path / "b"))  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert error_lines(result.stderr) == [f"benchmarks: error: {tmp_path / 'mine' / 'labels.csv'}: is a folder, not a"
                                          " labels.csv"]  # fmt: skip
