"""`python -m benchmarks --zoo`: the shipped models plus a tiny converted one (`--zoo-model tiny=DIR`) side by side,
on synthetic data and copies of the bundled photo."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from benchmarks.machine import INT8_PATHS
from benchmarks.real_faces import TARGETS as REAL_FACE_TARGETS
from benchmarks.zoo import FER_PACKAGE, PLOT, REFERENCE, EvalSets, zoo_verdicts
from edge.model_folder import MODEL_NAMES
from tests.benchmarks.test_real_faces import photo_folder
from tests.conftest import error_lines, run_module
from tests.synthetic import write_csv


@pytest.mark.slow
def test_zoo_measures_each_model_on_publictest_and_real_faces(tmp_path: Path, converted: Path, synthetic_csv: Path):
    out, readme = tmp_path / "bench", tmp_path / "docs" / "performance.md"
    readme.parent.mkdir()
    readme.write_text("# x\n## Model zoo\n<!-- zoo:start -->\nold\n<!-- zoo:end -->\nafter\n")  # no other markers
    result = run_module("benchmarks", "--zoo", "--quick", "--zoo-model", f"tiny={converted}", "--data",
                        str(synthetic_csv), "--real-faces", str(photo_folder(tmp_path / "photos")), "--out", str(out),
                        "--photos", str(tmp_path / "absent"), "--readme", str(readme), check=True)  # fmt: skip
    results = json.loads((out / "results.json").read_text())
    assert {"latency", "detection", "real_faces"}.isdisjoint(results)  # only the zoo ran
    zoo = results["zoo"]
    shipped = [name for name, folder in MODEL_NAMES.items() if folder.is_dir()]
    assert list(zoo["models"]) == [*shipped, "tiny"] and zoo["detector"] == "auto"
    for row in (row for row in zoo["models"].values() if row["labels"] == 7):
        assert row["per_face_ms_fast"] > 0 and row["per_face"]["n"] == 40 and row["labels"] == 7
        assert row["fast_precision"] in ("int8", "float32") and row["per_face_ms_float32"] > 0
        assert row["fer2013"]["split"] == "PublicTest" and row["fer2013"]["rows"] == 112  # the CSV's PublicTest
        assert 0 <= row["fer2013"]["accuracy"] <= 1 and row["ferplus"] is None
        assert row["real_faces"]["images"] == 5 and set(row["real_faces"]["recall"]) == {"Happy", "Neutral"}
        assert row["size_kb"] > 0 and row["architecture"]
        crop = row["crop_scales"]["london"]  # the --real-faces folder, at each crop scale
        assert list(crop) == ["0.9", "1", "1.1", "1.2"] and row["crop_spread"] == round(
            max(crop.values()) - min(crop.values()), 4)  # fmt: skip
    reference = zoo["models"][REFERENCE]
    assert reference["vs_reference"] == 1.0 and reference["macs_vs_reference"] == 1.0
    for row in zoo["models"].values():  # counted from each graph, twice for a mirror-averaged model
        assert row["multiply_adds"] > 0 and row["macs_vs_reference"] > 0
    assert zoo["models"]["tiny"]["multiply_adds"] < 1e6 < zoo["models"]["default"]["multiply_adds"]
    assert results["machine"]["int8_path"] in (*INT8_PATHS, "none")
    assert zoo["models"]["tiny"]["architecture"] == "tiny" and zoo["fer_package"] == FER_PACKAGE
    assert (out / PLOT).stat().st_size > 0 and PLOT in results["plots"]
    assert {v["group"] for v in results["verdicts"]} == {"zoo"}
    assert any(v["target"].startswith("zoo default: FER-2013 PublicTest") for v in results["verdicts"])
    table = (out / "results.md").read_text()
    assert "| tiny | tiny | 7 |" in table and "| fer package (not run here) |" in table
    page = readme.read_text()
    assert "old" not in page and "| tiny | tiny |" in page and f"![{PLOT}]({PLOT})" in page
    assert (readme.parent / PLOT).is_file()
    assert "| tiny | tiny |" in result.stdout  # the terminal table


@pytest.mark.slow
def test_without_data_or_photos_the_columns_say_dash_and_why_once(tmp_path: Path, converted: Path) -> None:
    out = tmp_path / "bench"
    result = run_module("benchmarks", "--zoo", "--quick", "--zoo-model", f"tiny={converted}",
                        "--real-faces", str(tmp_path / "no-photos"), "--photos", str(tmp_path / "no-photos"), "--out",
                        str(out), check=True)  # fmt: skip
    zoo = json.loads((out / "results.json").read_text())["zoo"]
    assert all(row["fer2013"] is None and row["real_faces"] is None for row in zoo["models"].values())
    assert all(row["crop_scales"] == {} and row["photos_validation"] is None for row in zoo["models"].values())
    assert [line for line in result.stdout.splitlines() if line.startswith("zoo: accuracy")] == [
        "zoo: accuracy columns '-': no --data given (the FER-2013 CSV, with FER+'s votes beside it)"
    ]
    assert result.stdout.count("zoo: real faces not measured") == 1
    tiny = next(line for line in (out / "results.md").read_text().splitlines() if line.startswith("| tiny |"))
    assert tiny.endswith(" | - | - | - | - | - | - | - | - |")  # two test sets, real faces, two recalls, pairs, photos,
    # the crop-scale spread
    assert (out / PLOT).is_file()


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("tiny", "'tiny' is not NAME=DIR"),
        ("tiny={missing}", "is not a folder"),
        ("tiny={empty}", "is not a model folder (no .tflite model with its contract.json"),
    ],
)
def test_a_bad_zoo_model_is_one_line(tmp_path: Path, value: str, says: str) -> None:
    (tmp_path / "empty").mkdir()
    value = value.format(missing=tmp_path / "missing", empty=tmp_path / "empty")
    result = run_module("benchmarks", "--zoo", "--zoo-model", value, "--out", str(tmp_path / "b"))
    assert result.returncode == 2
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and "--zoo-model" in lines[0] and says in lines[0]


def test_zoo_with_another_only_run_is_refused(tmp_path: Path) -> None:
    result = run_module("benchmarks", "--zoo", "--detection-only", "--out", str(tmp_path / "b"))
    assert result.returncode == 2
    assert error_lines(result.stderr) == ["benchmarks: error: --detection-only and --zoo: choose one"]


def test_a_ferplus_model_without_the_votes_file_is_not_measured_and_says_where(tmp_path: Path, capsys) -> None:
    data = write_csv(tmp_path / "fer.csv", {"Training": 7, "PublicTest": 7})
    args = argparse.Namespace(data=data, skip_bad_rows=False, ferplus_csv=None)
    sets = EvalSets(args)
    assert sets.get("ferplus") is None and sets.get("ferplus") is None
    assert sets.get("fer2013") is not None
    printed = capsys.readouterr().out.splitlines()
    assert printed == [f"zoo: accuracy columns '-': {tmp_path / 'fer2013new.csv'} not found (the FER+ votes,"
                       " fer2013new.csv beside --data)"]  # fmt: skip


def _row(**values) -> dict:
    return {"vs_reference": None, "macs_vs_reference": None, "fer2013": None, "ferplus": None, "real_faces": None,
            "photos_vs_faceapi": None, "crop_spread": None, "fast_vs_faceapi_float32": None, **values}  # fmt: skip


def test_verdicts_follow_the_one_targets_table() -> None:
    real = {"accuracy": 0.86, "recall": {"Happy": 0.64, "Neutral": 0.95}}
    section = {"models": {
        "default": _row(fer2013={"accuracy": 0.632}, real_faces=real, photos_vs_faceapi=0.061, crop_spread=0.04,
                        fast_vs_faceapi_float32=0.98),
        "faceapi": _row(vs_reference=0.5, real_faces={"accuracy": 0.78, "recall": {}}),
        "mine": _row(vs_reference=0.5, fer2013={"accuracy": 0.9}),
    }}  # fmt: skip
    verdicts = {v["target"]: (v["value"], v["met"]) for v in zoo_verdicts(section)}
    assert verdicts == {
        "zoo default: FER-2013 PublicTest accuracy >= 62.0%": ("63.2%", True),
        "zoo default: real faces accuracy >= 82%": ("86.0%", True),
        "zoo default: real faces Happy recall >= 66%": ("64.0%", False),
        "zoo default: real faces Neutral recall >= 94%": ("95.0%", True),
        "zoo default: photos' validation accuracy >= faceapi's + 5 points": ("+6.1 points", True),
        "zoo default: accuracy range across crop scales 0.9-1.2 <= 3 points": ("4.0 points", False),
        "zoo default: per-face ms at the faster precision vs faceapi's float32 <= 1.00x": ("0.98x", True),
        "zoo faceapi: real faces accuracy >= 77%": ("78.0%", True),
    }
    assert len(REAL_FACE_TARGETS) == 3  # default's real-face verdicts are real_faces.py's targets
