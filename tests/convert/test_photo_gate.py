"""int8 ships only where it agrees with float32 on real photos' faces (`python -m convert --photos`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from convert.conversion import Options, _check_on_photos
from convert.tflite import load_variant
from edge.contract import Contract
from edge.model_folder import FLOAT32_FILE, INT8_FILE
from tests.conftest import run_module
from tests.train.test_photos import photo_folder


def _variants(converted: Path) -> tuple[dict, dict]:
    contract = Contract.load(converted)
    files = {name: (converted / name).read_bytes() for name in (INT8_FILE, FLOAT32_FILE)}
    classifiers = {
        "int8": load_variant(files[INT8_FILE], contract),
        "float32": load_variant(files[FLOAT32_FILE], contract),
    }
    return files, classifiers


@pytest.mark.parametrize("floor", [0.0, 1.01])
def test_int8_is_left_out_below_the_floor_and_kept_at_or_above_it(converted: Path, floor: float) -> None:
    files, classifiers = _variants(converted)
    faces = np.random.default_rng(0).integers(0, 256, size=(50, 48, 48), dtype=np.uint8)
    report: dict = {}
    options = Options(model=converted / "model.keras", out=converted, photos=Path("photos"), min_photo_agreement=floor)
    _check_on_photos(report, files, classifiers, faces, options)
    assert report["photo_agreement"]["photos"] == 50
    assert (INT8_FILE in files) == (floor == 0.0) and ("int8" in classifiers) == (floor == 0.0)
    assert ("int8_left_out" in report) == (floor > 1)


@pytest.mark.slow
def test_convert_measures_int8_on_the_photos_faces(tmp_path: Path, trained_run: Path, synthetic_csv: Path) -> None:
    photos = photo_folder(tmp_path / "photos", count=6)
    out = tmp_path / "model"
    result = run_module("convert", str(trained_run / "model.keras"), "--data", str(synthetic_csv), "--out", str(out),
                        "--calibration-size", "100", "--min-agreement", "0", "--photos", str(photos),
                        "--min-photo-agreement", "0")  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "conversion_report.json").read_text())
    assert report["photo_agreement"]["photos"] == 6 and (out / INT8_FILE).is_file()
    assert report["variants"]["float32"]["xnnpack"] == {"partitions": 1, "outside": {}}
