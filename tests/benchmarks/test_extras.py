"""The appliance extras' cost: the same frames through the pipeline with and without a scraped /metrics and
snapshots, a scraper process that reads /metrics as Prometheus would, and what --privacy costs a frame."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from benchmarks.clip import labelled_clip
from benchmarks.extras import EXTRAS, PLAIN, extras_cost, privacy_cost
from benchmarks.report import _privacy_lines, verdicts
from edge.model_folder import DEFAULT_MODEL_DIR
from edge.outputs.web import MetricsServer
from tests.conftest import ROOT


def test_extras_cost_runs_both_conditions_and_takes_snapshots() -> None:
    frames, _ = labelled_clip(8)
    cost = extras_cost(DEFAULT_MODEL_DIR, frames, rounds=2)
    assert set(cost["fps"]) == {PLAIN, EXTRAS} and all(len(r) == 2 for r in cost["fps_rounds"].values())
    assert cost["snapshots"] >= 3  # the clip's three faces appear in its first frame, in every round
    assert abs(cost["cost"] - (1 - cost["fps"][EXTRAS] / cost["fps"][PLAIN])) < 1e-3
    verdict = next(v for v in verdicts({"extras": cost}) if v["target"].startswith("/metrics and snapshots"))
    assert verdict["met"] == (cost["cost"] <= 0.02)


def test_the_scraper_reads_metrics_until_stopped() -> None:
    server = MetricsServer("127.0.0.1", 0, ["Happy", "Neutral"])
    server.start(lambda: {"frames": 0, "fps": 0.0})
    try:
        scraper = subprocess.Popen([sys.executable, "-m", "benchmarks.extras", server.url], stdout=subprocess.PIPE,
                                   text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
        deadline = time.monotonic() + 60
        while server.counters["requests"] < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        scraper.send_signal(signal.SIGTERM)
        assert json.loads(scraper.communicate(timeout=30)[0])["scrapes"] >= 2
    finally:
        server.close()


def test_privacy_cost_times_covering_against_the_pipeline_and_gives_a_verdict() -> None:
    frames, _ = labelled_clip(6)
    cost = privacy_cost(DEFAULT_MODEL_DIR, frames, rounds=2)
    assert cost["size"] == "640x480" and cost["mode"] == "blur" and len(cost["cover_ms_rounds"]) == 2
    assert cost["frames_covered"] >= 2 * 5  # the clip's faces are found on (nearly) every frame: covered
    assert cost["cover_ms"] > 0 and cost["pipeline_ms"] > 0  # covering includes its YuNet check: no bound here
    assert abs(cost["cost"] - cost["cover_ms"] / cost["pipeline_ms"]) < 1e-3
    verdict = next(v for v in verdicts({"privacy": cost}) if v["target"].startswith("--privacy blur"))
    assert verdict["met"] == (cost["cost"] < 0.10) and "640x480" in verdict["target"]
    assert "--privacy blur on the same clip at 640x480, int8: covering and checking" in "\n".join(
        _privacy_lines({"privacy": cost})
    )
