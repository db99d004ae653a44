"""The benchmark runs end to end in quick mode on a real tiny model; nothing here asserts a speed."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_module


def test_quick_benchmark_writes_every_field(tmp_path: Path, converted: Path, trained_run: Path, synthetic_csv: Path):
    out = tmp_path / "bench"
    result = run_module("benchmarks", "--model", str(converted), "--data", str(synthetic_csv), "--quick",
                        "--keras", str(trained_run / "model.keras"), "--out", str(out), check=True)  # fmt: skip
    results = json.loads((out / "results.json").read_text())
    assert {"command", "machine", "latency", "memory", "sizes", "accuracy", "pipeline", "verdicts"} <= set(results)
    assert {"cpu", "cores", "os", "python", "packages", "date"} <= set(results["machine"])
    for model in ("float32", "int8"):
        for timing in results["latency"][model]["threads_1"].values():
            assert {"p50_ms", "p95_ms", "mean_ms", "n"} <= set(timing) and timing["n"] == 40
        assert results["memory"][model]["peak_rss_mb"] > 0
        assert 0 <= results["accuracy"]["splits"]["PublicTest"][model]["accuracy"] <= 1
    assert "float32_vs_int8" in results["accuracy"]["splits"]["PublicTest"]
    pipelines = results["pipeline"]["demo 640x480"]
    assert set(pipelines) == {"Haar alone", "float32", "int8", "int8, --detect-every 3",
                              "reference (Keras, full-res Haar)"}  # fmt: skip
    assert all(len(p["fps_rounds"]) == 2 and p["fps"] > 0 for p in pipelines.values())
    assert pipelines["Haar alone"]["faces_per_round"] == pipelines["int8"]["faces_per_round"] >= 10
    assert {v["target"].split(":")[0] for v in results["verdicts"]} >= {"demo 640x480", "PublicTest", "web view"}
    viewers = results["viewers"]
    assert all(len(rounds) == 2 for rounds in viewers["fps_rounds"].values()) and viewers["ratio"] > 0
    assert all(seen["events"] > 0 for seen in viewers["received_per_viewer"])  # real clients got real data
    assert sorted(p.name for p in out.iterdir()) == [
        "float_vs_int8.png", "pipeline_demo_640x480.png", "results.json", "results.md",
    ]  # fmt: skip
    assert "| target | measured | met |" in (out / "results.md").read_text()
    assert "Haar alone" in result.stdout


def test_missing_model_folder_is_one_line(tmp_path: Path) -> None:
    result = run_module("benchmarks", "--model", str(tmp_path / "none"), "--quick")
    assert result.returncode == 2
    assert (
        result.stderr.strip().splitlines()[-1] == f"benchmarks: error: {tmp_path / 'none'}: not a model folder"
        " (expected the output of `python -m convert`)"
    )
