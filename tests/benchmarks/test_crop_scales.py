"""Crop-scale robustness and the framing chosen from it (`python -m benchmarks --set-framing`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from benchmarks.crop_scales import CHOICE_SCALES, choose, spread
from edge.contract import Contract, Framing
from edge.model_folder import check_folder
from tests.conftest import run_module
from tests.train.test_photos import photo_folder


def test_a_scaled_framing_crops_wider_about_the_same_point() -> None:
    box = np.array([100, 80, 60, 80])
    x, y, side = Framing(0.5, 0.55, 0.8).crop_of(box)
    wide_x, wide_y, wide_side = Framing(0.5, 0.55, 0.8).wider(1.2).crop_of(box)
    assert wide_side == pytest.approx(side * 1.2)
    assert (wide_x + 0.5 * wide_side, wide_y + 0.55 * wide_side) == pytest.approx((x + 0.5 * side, y + 0.55 * side))


def test_the_chosen_scale_is_best_on_both_sets_together_not_on_one() -> None:
    scores = {
        "london": {"0.9": 0.80, "1": 0.79, "1.1": 0.70},
        "photos_validation": {"0.9": 0.60, "1": 0.72, "1.1": 0.75},
    }
    assert choose(scores) == 1.0  # 0.9 wins London and 1.1 the photos; 1 has the best mean
    assert choose({"a": {"0.9": 0.5, "1": 0.5, "1.1": 0.5}}) == 1.0  # a tie goes to the scale nearer 1
    assert spread(scores, (0.9, 1.0, 1.1)) == pytest.approx(0.15)


@pytest.mark.slow
def test_set_framing_writes_the_best_scale_into_a_sealed_contract(tmp_path: Path, converted: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(converted, model)
    before = Contract.load(model).framing_for("yunet")
    photos = photo_folder(tmp_path / "photos", count=6)
    out = tmp_path / "bench"
    result = run_module("benchmarks", "--model", str(model), "--set-framing", "--real-faces", str(photos),
                        "--photos", str(tmp_path / "absent"), "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    section = json.loads((out / "results.json").read_text())["framing"]
    assert list(section["scores"]) == ["london"] and len(section["scores"]["london"]) == len(CHOICE_SCALES)
    best = choose(section["scores"])
    assert section["scale"] == best
    assert check_folder(model).framing["yunet"] == before.wider(best).to_dict()  # re-sealed: it still loads
    assert f"(scale {best:g}) into {model}" in result.stdout
