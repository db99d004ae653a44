"""What watching costs: pipeline FPS with live viewers on `--serve` against none, in one run.

Each viewer is a separate process (as a browser on another machine would be) that reads `/stream.mjpg` and
`/events` over real HTTP, so the figure includes the server's threads, the encoder and the socket writes, but
not the viewers' own reading. Rounds alternate (no viewer, viewers, no viewer, ...) over the same frames, and
the median of each is compared. `python -m benchmarks.viewers URL` is the viewer process.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge.common.errors import described
from edge.frames import Frame
from edge.outputs.base import Result
from edge.outputs.web import BOUNDARY, WebView
from edge.pipeline.pipeline import Pipeline

NONE, WATCHED = "no viewer", "{} viewers"
ROOT = Path(__file__).resolve().parents[1]
SETTLE_SECONDS = 30  # at most, for viewers to connect or to be noticed gone (bounds a broken run only)


def _frames_through(pipeline: Pipeline, view: WebView, frames: list[np.ndarray]) -> float:
    """The runner's per-frame work with a web view attached (no JSONL, no printing); returns FPS."""
    started = time.perf_counter()
    for index, image in enumerate(frames):
        faces = pipeline.process(image)
        frame = Frame(image, index, "demo", time.perf_counter() - started)
        view.frame(Result(frame, faces, lambda: 0.0))
    return len(frames) / (time.perf_counter() - started)


def _settle(pipeline: Pipeline, view: WebView, frames: list[np.ndarray], wanted: int) -> None:
    """Feed untimed frames until `wanted` viewers are connected to both routes (a gone viewer is only noticed
    when a write to it fails, so this also flushes viewers that left)."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while (view.viewers, len(view.event_queues)) != (wanted, wanted):
        if time.monotonic() > deadline:
            raise RuntimeError(f"viewers: {view.viewers} watching, wanted {wanted}")
        _frames_through(pipeline, view, frames[:1])
        time.sleep(0.05)


def viewer_cost(model: Path, frames: list[np.ndarray], rounds: int, viewers: int = 2, progress=None) -> dict:
    pipeline = Pipeline(model)
    view = WebView("127.0.0.1", 0, pipeline.contract.labels)
    view.start(lambda: {"fps": 0.0, "stages": pipeline.timer.summary()})
    watched = WATCHED.format(viewers)
    fps: dict[str, list[float]] = {NONE: [], watched: []}
    received = []
    try:
        for _ in range(rounds):
            _settle(pipeline, view, frames, 0)
            fps[NONE].append(_frames_through(pipeline, view, frames))
            clients = [subprocess.Popen([sys.executable, "-m", "benchmarks.viewers", view.url], stdout=subprocess.PIPE,
                                        text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
                       for _ in range(viewers)]  # fmt: skip
            try:
                _settle(pipeline, view, frames, viewers)
                fps[watched].append(_frames_through(pipeline, view, frames))
            finally:
                for client in clients:
                    client.send_signal(signal.SIGTERM)
                received += [json.loads(client.communicate(timeout=30)[0] or "{}") for client in clients]
            if progress is not None:
                progress.update(2)
    finally:
        view.close()
    none, seen = float(np.median(fps[NONE])), float(np.median(fps[watched]))
    return {
        "viewers": viewers,
        "frames_per_round": len(frames),
        "fps": {NONE: round(none, 2), watched: round(seen, 2)},
        "fps_rounds": {name: [round(x, 2) for x in values] for name, values in fps.items()},
        "ratio": round(seen / none, 4),
        "received_per_viewer": received,
        "frames_encoded": view.counters["frames_encoded"],
        "encode_ms_mean": view.stats()["encode_ms_mean"],
        "encode_fps_cap": view.max_fps,
    }


def watch(url: str) -> None:
    """One viewer: read the video and the events until SIGTERM, then print what arrived as JSON."""
    counts = {"jpegs": 0, "events": 0}

    def video() -> None:
        with urllib.request.urlopen(url + "stream.mjpg") as response:
            while chunk := response.read1(65536):
                counts["jpegs"] += chunk.count(f"--{BOUNDARY}".encode())

    def events() -> None:
        with urllib.request.urlopen(url + "events") as response:
            for line in response:
                counts["events"] += line.startswith(b'data: {"source"')

    def report(*_: object) -> None:
        print(json.dumps(counts), flush=True)
        os._exit(0)

    def reading(target: Callable[[], None], route: str) -> None:
        """A route that cannot be reached or breaks (loopback down, the server gone) ends this viewer with one
        line and exit 2, never a thread's traceback; the benchmark notices the viewer missing."""
        try:
            target()
        except (OSError, http.client.HTTPException) as exc:
            print(f"benchmarks.viewers: error: {url}{route}: {described(exc)}", file=sys.stderr, flush=True)
            os._exit(2)

    signal.signal(signal.SIGTERM, report)
    for target, route in ((video, "stream.mjpg"), (events, "events")):
        threading.Thread(target=reading, args=(target, route), daemon=True).start()
    while True:
        time.sleep(1)


if __name__ == "__main__":
    watch(sys.argv[1])
