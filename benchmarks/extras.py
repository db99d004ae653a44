"""What a camera appliance's extras cost: pipeline FPS with `/metrics` scraped and snapshots written, against
neither, in one run; and what `--privacy` costs a frame (`privacy_cost`).

The clip is the detection benchmark's labelled one (three faces moving, appearing and changing label), so
snapshots are really taken; a separate process scrapes `/metrics` as Prometheus would, only far more often
(`SCRAPES_PER_SECOND`). Rounds alternate and start from a reset pipeline, so each round's faces appear anew;
the median of each condition is compared. `python -m benchmarks.extras URL` is the scraper process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

from edge.frames import Frame
from edge.outputs.base import Result, Sink
from edge.outputs.privacy import FaceCover
from edge.outputs.snapshots import SnapshotWriter
from edge.outputs.web import MetricsServer
from edge.pipeline.pipeline import Pipeline

PLAIN, EXTRAS = "plain", "/metrics + snapshots"
SCRAPES_PER_SECOND = 2.0  # Prometheus scrapes every 15 s by default: this is 30 times as often
ROOT = Path(__file__).resolve().parents[1]


def _frames_through(pipeline: Pipeline, sinks: list[Sink], frames: list[np.ndarray]) -> float:
    """The runner's per-frame work with `sinks` attached, from a reset pipeline; returns FPS."""
    pipeline.reset()
    started = time.perf_counter()
    for index, image in enumerate(frames):
        faces = pipeline.process(image)
        result = Result(Frame(image, index, "clip", time.perf_counter() - started), faces, lambda: 0.0)
        for sink in sinks:
            sink.frame(result)
    return len(frames) / (time.perf_counter() - started)


def extras_cost(model: Path, frames: list[np.ndarray], rounds: int, progress=None) -> dict:
    pipeline = Pipeline(model)
    server = MetricsServer("127.0.0.1", 0, pipeline.contract.labels, timer=pipeline.timer)
    server.start(lambda: {"frames": 0, "fps": 0.0, "stages": pipeline.timer.summary()})
    fps: dict[str, list[float]] = {PLAIN: [], EXTRAS: []}
    scraper = subprocess.Popen([sys.executable, "-m", "benchmarks.extras", server.url], stdout=subprocess.PIPE,
                               text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    try:
        with tempfile.TemporaryDirectory(prefix="fer-edge-snapshots-") as folder:
            snapshots = SnapshotWriter(folder)
            try:
                for _ in range(rounds):
                    fps[PLAIN].append(_frames_through(pipeline, [], frames))
                    fps[EXTRAS].append(_frames_through(pipeline, [server, snapshots], frames))
                    if progress is not None:
                        progress.update(2)
            finally:
                snapshots.close()
    finally:
        scraper.send_signal(signal.SIGTERM)
        scrapes = json.loads(scraper.communicate(timeout=30)[0] or "{}").get("scrapes", 0)
        server.close()
    plain, extras = float(np.median(fps[PLAIN])), float(np.median(fps[EXTRAS]))
    return {
        "frames_per_round": len(frames),
        "fps": {PLAIN: round(plain, 2), EXTRAS: round(extras, 2)},
        "fps_rounds": {name: [round(x, 2) for x in values] for name, values in fps.items()},
        "cost": round(1 - extras / plain, 4),  # the share of frame time the extras add
        "snapshots": snapshots.counters["written"],
        "scrapes": scrapes,
        "scrapes_per_second": SCRAPES_PER_SECOND,
    }


def privacy_cost(model: Path, frames: list[np.ndarray], rounds: int, mode: str = "blur", progress=None) -> dict:
    """The covering's time per frame against the pipeline's, both timed on the same frames in the same loop (as the
    run loop does them: process, then cover), so the machine's load weighs on both alike; the median of `rounds`
    rounds from a reset pipeline. The clip's faces move, appear and grow, as a room's do. Covering includes its
    check (edge/outputs/privacy.py: YuNet on each covered picture at its full size), as every run with an output
    that takes pictures does it."""
    pipeline = Pipeline(model)
    pipeline_ms: list[float] = []
    cover_ms: list[float] = []
    covered = 0
    for _ in range(rounds):
        pipeline.reset()
        cover = FaceCover(mode)
        spent = {"pipeline": 0.0, "cover": 0.0}
        for index, image in enumerate(frames):
            began = time.perf_counter()
            faces = pipeline.process(image)
            processed = time.perf_counter()
            out = cover.cover(Frame(image, index, "clip", index / 15), faces)  # a 15 FPS camera's clock
            spent["cover"] += time.perf_counter() - processed
            spent["pipeline"] += processed - began
            covered += out.image is not image
        pipeline_ms.append(1000 * spent["pipeline"] / len(frames))
        cover_ms.append(1000 * spent["cover"] / len(frames))
        if progress is not None:
            progress.update(1)
    height, width = frames[0].shape[:2]
    pipeline_median, cover_median = float(np.median(pipeline_ms)), float(np.median(cover_ms))
    return {
        "mode": mode,
        "size": f"{width}x{height}",
        "frames_per_round": len(frames),
        "frames_covered": covered,
        "pipeline_ms": round(pipeline_median, 3),
        "cover_ms": round(cover_median, 3),
        "cover_ms_rounds": [round(x, 3) for x in cover_ms],
        "cost": round(cover_median / pipeline_median, 4),  # the share of the pipeline's frame time covering adds
    }


def scrape(url: str) -> None:
    """Read `url` SCRAPES_PER_SECOND times a second until SIGTERM, then print how many scrapes succeeded."""
    count = {"scrapes": 0}

    def report(*_: object) -> None:
        print(json.dumps(count), flush=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, report)
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                count["scrapes"] += response.read().startswith(b"# HELP")
        except OSError as exc:
            print(f"benchmarks.extras: error: {url}: {exc}", file=sys.stderr, flush=True)
            os._exit(2)
        time.sleep(1 / SCRAPES_PER_SECOND)


if __name__ == "__main__":
    scrape(sys.argv[1])
