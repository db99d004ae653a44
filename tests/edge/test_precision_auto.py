"""`--precision auto`, the default: the faster of a folder's int8 and float32 models on this CPU, timed at load."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from edge import Pipeline
from edge.classifier import Classifier, delegate_partitions, fastest, open_model
from edge.contract import Contract
from edge.model_folder import FLOAT32_FILE, INT8_FILE, write_folder
from tests.conftest import run_module


class Slowed(Classifier):
    """A real classifier whose every invoke also waits 5 ms: a model that is slower on this CPU."""

    def invoke(self, tensor: np.ndarray) -> np.ndarray:
        time.sleep(0.005)
        return super().invoke(tensor)


def test_the_faster_model_is_chosen_whichever_precision_it_is(converted: Path) -> None:
    contract = Contract.load(converted)
    for slow in ("int8", "float32"):
        classifiers = {
            name: (Slowed if name == slow else Classifier)(converted / file, contract, threads=1)
            for name, file in (("int8", INT8_FILE), ("float32", FLOAT32_FILE))
        }
        chosen, timings = fastest(classifiers)
        assert chosen != slow and set(timings) == {"int8", "float32"}
        assert timings[slow] >= 5 > timings[chosen]


def test_the_pipeline_runs_what_auto_chose_and_says_how_long_each_took(converted: Path) -> None:
    with Pipeline(converted, detect=False) as pipeline:
        assert set(pipeline.precision_ms) == {"int8", "float32"}
        faster = min(pipeline.precision_ms, key=pipeline.precision_ms.__getitem__)
        assert pipeline.model_path.name == {"int8": INT8_FILE, "float32": FLOAT32_FILE}[faster]
        with Pipeline(converted, detect=False) as again:  # timed once a process: one program runs one model
            assert again.model_path == pipeline.model_path and again.precision_ms == pipeline.precision_ms
    with Pipeline(converted, precision="int8", detect=False) as pipeline:
        assert pipeline.model_path.name == INT8_FILE and pipeline.precision_ms == {}


def test_a_folder_with_one_model_runs_it_without_timing(tmp_path: Path, converted: Path) -> None:
    float_only = tmp_path / "float32"
    write_folder(float_only, {FLOAT32_FILE: (converted / FLOAT32_FILE).read_bytes()}, Contract.load(converted))
    classifier, timings = open_model(float_only)
    assert classifier.path.name == FLOAT32_FILE and timings == {}


def test_the_cli_summary_names_the_choice_in_text_and_json(tmp_path: Path, converted: Path) -> None:
    summary = tmp_path / "summary.json"
    result = run_module("edge", "--model", str(converted), "--source", "demo", "--max-frames", "3", "--summary-json",
                        str(summary), "--quiet")  # fmt: skip
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("precision auto:"))
    assert "int8" in line and "float32" in line
    data = json.loads(summary.read_text())
    timed, ran = data["precision_ms"], "int8" if data["model"].endswith(INT8_FILE) else "float32"
    assert set(timed) == {"int8", "float32"} and timed[ran] == min(timed.values())  # the faster (or a tie) ran


def test_delegate_partitions_name_the_ops_xnnpack_leaves_out(converted: Path) -> None:
    float32 = delegate_partitions(converted / FLOAT32_FILE)
    assert float32 == {"partitions": 1, "outside": {}}  # the tiny CNN's float graph runs whole in XNNPACK
    assert delegate_partitions(converted / INT8_FILE)["partitions"] >= 1
