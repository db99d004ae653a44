"""Drive a pipeline over a source into the sinks, and the end-of-run summary."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import cv2

from edge.common.timing import TOTAL
from edge.frames import Face
from edge.outputs.base import Result, Sink
from edge.outputs.jsonl import KEEP, JsonlWriter
from edge.outputs.mood import WINDOW, RoomMood
from edge.outputs.privacy import DEFAULT_MODE, FaceCover
from edge.outputs.snapshots import DEVICE as SNAPSHOTS_DEVICE
from edge.outputs.snapshots import KEEP as SNAPSHOTS_KEEP
from edge.outputs.snapshots import SnapshotWriter
from edge.outputs.terminal import Lines, Terminal
from edge.outputs.video import FrameSaver
from edge.outputs.window import Window
from edge.pipeline.pipeline import Pipeline
from edge.sources.base import WAITING, Source


@dataclass
class RunOptions:
    show: bool = False
    save: str | None = None
    jsonl: str | None = None
    jsonl_max_bytes: int = 0
    jsonl_keep: int = KEEP
    quiet: bool = False
    max_frames: int = 0  # 0: until the source ends
    snapshots: str | None = None  # a folder for each event's face (edge/outputs/snapshots.py)
    snapshots_keep: int = SNAPSHOTS_KEEP
    device: str = SNAPSHOTS_DEVICE  # names this device's snapshot files
    sinks: list[Sink] = field(default_factory=list)  # made before the run (the web view, MQTT): named in the summary
    privacy: str = DEFAULT_MODE  # --privacy: faces covered on every picture the sinks get (edge/outputs/privacy.py)
    mood_window: float = WINDOW  # --mood-window: seconds the room's mood is taken over (edge/outputs/mood.py)


class RunStats:
    """What the run has seen so far, so a summary can be taken mid-run (the web view's /api/summary) or at the end."""

    def __init__(self, source: Source, pipeline: Pipeline, sinks: list[Sink], privacy: str = DEFAULT_MODE,
                 mood_window: float = WINDOW) -> None:  # fmt: skip
        self.source, self.pipeline, self.sinks, self.privacy = source, pipeline, sinks, privacy
        self.cover: FaceCover | None = None  # the run's covering, once made: what its check did
        self.mood = RoomMood(pipeline.contract.labels, mood_window)
        self.counts: Counter[str] = Counter()
        self.frames = self.faces = self.frames_with_faces = 0
        self.stopped = "running"
        self.started = time.perf_counter()

    def add(self, faces: list[Face], time: float) -> None:
        self.mood.add(time, faces)
        self.frames += 1
        self.faces += len(faces)
        self.frames_with_faces += bool(faces)
        self.counts.update(face.label for face in faces)

    def fps(self) -> float:
        return self.frames / max(time.perf_counter() - self.started, 1e-9)

    def summary(self) -> dict:
        seconds = time.perf_counter() - self.started
        summary = {
            "source": self.source.name,
            "model": str(self.pipeline.model_path),
            "runtime": self.pipeline.classifier.runtime,
            "detector": self.pipeline.detector_name,
            "input_dtype": self.pipeline.classifier.input_dtype.name,
            "precision_ms": {name: round(ms, 3) for name, ms in self.pipeline.precision_ms.items()},
            "stopped": self.stopped,
            "frames": self.frames,
            "faces": self.faces,
            "frames_with_faces": self.frames_with_faces,
            "labels": dict(self.counts.most_common()),
            "seconds": round(seconds, 3),
            "fps": round(self.frames / seconds, 2) if seconds > 0 else 0.0,
            "stages": self.pipeline.timer.summary(),
            "skipped": list(self.source.skipped),
            "bad_frames": self.source.bad_frames,
            "reconnects": self.source.reconnects,
            "lost_seconds": round(self.source.lost_seconds, 2),
            "privacy": self.privacy,
            "mood": self.mood.snapshot(),
        }
        if self.cover is not None and self.cover.on:
            summary["privacy_check"] = self.cover.stats()
        if self.sinks:
            summary["outputs"] = {sink.name: sink.stats() for sink in self.sinks}
        return summary


class StopRequest:
    """SIGINT, SIGTERM and SIGHUP (an SSH session that closes) set a flag that the loop checks between frames,
    so a stop never lands half-way through writing a frame's output. A second Ctrl-C stops the loop at once
    (for a camera that hangs), but never while `finishing`: from then on signals are only recorded, so the
    video is still released and renamed, the JSONL closed and the summary written, however many times Ctrl-C
    is pressed.

    `finishing=True` is for a command's last steps after the loop (printing and writing the summary): every
    signal is only recorded, and on exit the signals stay ignored, because the process has nothing left to do
    but exit 0; a late Ctrl-C must not turn a finished run into a KeyboardInterrupt.
    """

    SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))

    def __init__(self, finishing: bool = False) -> None:
        self.requested = False
        self.finishing = self.final = finishing
        self.previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: object) -> None:
        if self.requested and signum == signal.SIGINT and not self.finishing:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            self.previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, signal.SIG_IGN if self.final else handler)


def quiet_libraries() -> None:
    """Keep OpenCV's own log lines (FFmpeg's failed writes, an odd image's decoder warnings) off stderr: edge
    says what went wrong in one line of its own. A user who sets OPENCV_LOG_LEVEL keeps their level."""
    if "OPENCV_LOG_LEVEL" not in os.environ:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


def human_output(options: RunOptions) -> Terminal:
    """Where per-frame lines and the summary go: stderr when stdout carries the JSONL."""
    return Terminal(sys.stderr if options.jsonl == "-" else sys.stdout)


def open_sinks(options: RunOptions, human: Terminal, stack: contextlib.ExitStack) -> list[Sink]:
    """Every sink the options ask for, in the order each frame reaches them; each closes with `stack`. A sink
    checks its target when made, so a refused one costs no work and truncates nothing."""

    def opened(sink: Sink) -> Sink:
        stack.callback(sink.close)
        return sink

    video = opened(FrameSaver(options.save)) if options.save else None
    jsonl = opened(JsonlWriter(options.jsonl, options.jsonl_max_bytes, options.jsonl_keep)) if options.jsonl else None
    window = opened(Window()) if options.show else None
    snapshots = None
    if options.snapshots:
        snapshots = opened(SnapshotWriter(options.snapshots, options.snapshots_keep, options.device))
    lines = None if options.quiet else Lines(human)
    return [sink for sink in (jsonl, *options.sinks, lines, video, snapshots, window) if sink is not None]


def run(source: Source, pipeline: Pipeline, options: RunOptions, human: Terminal | None = None) -> dict:
    """Process every frame until the source ends, `max_frames`, a sink's stop reason (q in the window, a closed
    output stream), Ctrl-C or SIGTERM. Whatever stops it, the source and every sink are closed whole."""
    stats = RunStats(source, pipeline, options.sinks, options.privacy, options.mood_window)
    sinks = list(options.sinks)
    with StopRequest() as stop, contextlib.ExitStack() as stack:
        for sink in options.sinks:  # already listening: closed even when the run is refused
            stack.callback(sink.close)
        stack.callback(source.close)
        try:
            sinks = open_sinks(options, human or human_output(options), stack)
            stats.sinks = [sink for sink in sinks if sink.name]  # the summary's outputs, --snapshots among them
            # Pictures are covered and checked only when an output takes them: no picture, nothing to cover.
            cover = stats.cover = FaceCover(options.privacy, check=any(sink.pictures for sink in sinks))
            if cover.check is not None and cover.check.limit:
                print(f"note: {cover.check.limit}", file=sys.stderr)
            for sink in sinks:
                sink.start(stats.summary)
            stats.stopped = _frames(source, pipeline, sinks, stats, stop, options.max_frames, cover)
        except KeyboardInterrupt:  # a second Ctrl-C: stop now, still closing the sinks
            stats.stopped = "interrupted"
        finally:
            stop.finishing = True
    summary = stats.summary()
    errors = [sink.error for sink in sinks if sink.error]  # after closing: a video is checked when released
    if errors:
        summary["errors"] = errors
    return summary


def _frames(source: Source, pipeline: Pipeline, sinks: list[Sink], stats: RunStats, stop: StopRequest,
            max_frames: int, cover: FaceCover) -> str:  # fmt: skip
    """The frame loop; returns why it stopped. The one place frames go out: each is covered (--privacy) before
    any sink gets it."""
    timer = pipeline.timer
    frames = iter(source)
    while not stop.requested:
        began = time.perf_counter()
        with timer.time("capture"):
            frame = next(frames, None)
            while frame is WAITING and not stop.requested:  # a network camera reconnecting: stoppable meanwhile
                frame = next(frames, None)
        if frame is WAITING:
            break
        if frame is None:
            return "end of source"
        if not source.continuous:
            pipeline.reset()
            cover.reset()
        faces = pipeline.process(frame.image, frame.lores)
        stats.add(faces, frame.time)
        if cover.on:
            with timer.time("privacy"):
                frame = cover.cover(frame, faces)
        with timer.time("output"):
            result = Result(frame, faces, stats.fps)
            for sink in sinks:
                sink.frame(result)
        timer.observe(TOTAL, (time.perf_counter() - began) * 1000, summarise=False)  # /metrics' per-frame total
        reason = next(filter(None, (sink.stop_reason() for sink in sinks)), None)
        if reason:  # `| head -2` has read enough, q in the window, a full device: stop, still closing every sink
            return reason
        if max_frames and stats.frames >= max_frames:
            return "--max-frames reached"
    return "interrupted"


def privacy_line(mode: str, check: dict) -> str:
    """What covering did, claiming no more than the check found: "every picture" only where YuNet checked it."""
    if not check["checked"]:
        return f"privacy: {mode}; no picture was sent or saved"
    caught = f"{check['faces_found']} faces the pipeline's boxes had missed were covered by the check"
    if check["covered_whole"]:
        caught += f", {check['covered_whole']} pictures covered whole"
    if check["detector"] == "yunet":
        return (f"privacy: faces covered ({mode}) on every picture sent or saved: YuNet finds no face in any of the"
                f" {check['checked']} pictures ({caught})")  # fmt: skip
    return (f"privacy: faces Haar finds covered ({mode}) on the {check['checked']} pictures sent or saved; Haar misses"
            f" turned, rolled, dark and cut faces ({caught})")  # fmt: skip


def format_summary(summary: dict) -> str:
    lines = [
        f"{summary['frames']} frames, {summary['faces']} faces ({summary['frames_with_faces']} frames with a face)"
        f" in {summary['seconds']:.2f} s: {summary['fps']:.1f} FPS [{summary['stopped']}]",
        f"model {summary['model']} ({summary['input_dtype']}, {summary['runtime']}), detector {summary['detector']}",
    ]
    if summary["precision_ms"]:
        timed = ", ".join(f"{name} {ms:.2f} ms" for name, ms in summary["precision_ms"].items())
        lines.append(f"precision auto: the faster on this CPU at load ({timed} a face)")
    width = max([len("stage"), *map(len, summary["stages"])]) + 2
    lines.append(f"{'stage':<{width}}{'mean ms':>9}{'p50 ms':>9}{'p95 ms':>9}")
    for stage, s in summary["stages"].items():
        lines.append(f"{stage:<{width}}{s['mean_ms']:>9.2f}{s['p50_ms']:>9.2f}{s['p95_ms']:>9.2f}")
    if summary["labels"]:
        lines.append("labels: " + ", ".join(f"{k} {v}" for k, v in summary["labels"].items()))
    mood = summary["mood"]
    if mood["dominant"] != "none":
        shares = ", ".join(f"{label} {share:g}%" for label, share in mood["shares"].items() if share)
        people = f"{mood['people']} {'person' if mood['people'] == 1 else 'people'}"
        lines.append(f"room mood (last {mood['window_s']:g} s): {mood['dominant']}; {shares}; {people} seen")
    if summary["privacy"] != "off":
        lines.append(privacy_line(summary["privacy"], summary.get("privacy_check", {"checked": 0})))
    if summary["bad_frames"]:
        lines.append(f"undecodable video frames skipped: {summary['bad_frames']}")
    if summary["reconnects"] or summary["lost_seconds"]:
        lines.append(f"network: {summary['reconnects']} reconnects, {summary['lost_seconds']:.1f} s without frames")
    for name, stats in summary.get("outputs", {}).items():
        lines.append(f"{name}: " + ", ".join(f"{k} {v}" for k, v in stats.items()))
    if summary["skipped"]:
        lines.append(f"skipped {len(summary['skipped'])} unreadable: {', '.join(summary['skipped'])}")
    return "\n".join(lines)
