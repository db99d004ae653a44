"""The better detector by default: `--detector auto` is YuNet where OpenCV runs it, else Haar
with a one-line note; the summary names the detector used; on the benchmark clip the default finds no more
false faces than Haar at no less recall."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.clip import labelled_clip
from benchmarks.scoring import DetectionScore
from edge import Pipeline
from edge.cli import build_parser
from edge.detectors.yunet import YuNetDetector
from tests.conftest import ROOT, error_lines, run_module


def summary_of(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[dict, str]:
    out = tmp_path / "summary.json"
    result = run_module("edge", "--source", "demo", "--max-frames", "3", "--quiet", "--summary-json", str(out), *args,
                        env=env, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text()), result.stderr


def test_auto_is_the_default_and_the_summary_names_yunet(tmp_path: Path) -> None:
    assert build_parser().parse_args([]).detector == "auto"
    summary, stderr = summary_of(tmp_path)
    assert summary["detector"] == "yunet" and summary["faces"] == 3
    assert error_lines(stderr) == []


def test_haar_stays_available_by_name(tmp_path: Path) -> None:
    summary, _ = summary_of(tmp_path, "--detector", "haar")
    assert summary["detector"] == "haar"


def test_auto_falls_back_to_haar_with_one_note_on_an_old_opencv(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import cv2\ncv2.__version__ = '4.6.0'\n")  # apt's OpenCV on a Pi

    summary, stderr = summary_of(tmp_path, env={"PYTHONPATH": f"{site}:{ROOT}"})
    assert summary["detector"] == "haar"
    lines = error_lines(stderr)
    assert len(lines) == 1 and lines[0].startswith("note: --detector auto uses haar"), stderr
    assert "4.6.0" in lines[0]


def test_pipeline_defaults_to_auto(converted: Path) -> None:
    with Pipeline(converted) as pipeline:
        assert pipeline.detector_name == "yunet" and isinstance(pipeline.detector, YuNetDetector)
    with Pipeline(converted, detect=False) as pipeline:
        assert pipeline.detector_name == "none"


@pytest.mark.slow
def test_default_has_no_more_false_faces_than_haar_on_the_benchmark_clip(converted: Path) -> None:
    frames, truth = labelled_clip(30)
    scores = {}
    for detector in ("haar", "auto"):
        score = DetectionScore()
        with Pipeline(converted, detector=detector) as pipeline:
            for frame, boxes in zip(frames, truth, strict=True):
                score.add(np.array([f.box for f in pipeline.process(frame)]).reshape(-1, 4), boxes)
        scores[detector] = score.summary()
    false = {name: s["found"] - s["hits"] for name, s in scores.items()}
    assert false["auto"] <= false["haar"], scores
    assert scores["auto"]["recall"] >= scores["haar"]["recall"], scores
