"""Drive a pipeline over a source: per-frame output, optional display, and the end-of-run summary."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import cv2

from edge.common.errors import UserError
from edge.frames import Face, Frame, frame_record
from edge.outputs.base import annotate
from edge.outputs.jsonl import JsonlWriter
from edge.outputs.terminal import Terminal
from edge.outputs.video import FrameSaver
from edge.pipeline.pipeline import Pipeline
from edge.sources.base import Source

WINDOW = "fer-edge"


@dataclass
class RunOptions:
    show: bool = False
    save: str | None = None
    jsonl: str | None = None
    jsonl_max_bytes: int = 0
    jsonl_keep: int = 3
    quiet: bool = False
    max_frames: int = 0  # 0: until the source ends
    observers: list[Observer] = field(default_factory=list)


class Observer(Protocol):
    """An output that watches the run from the side (the web view, MQTT): `frame` is called on the frame loop
    and must return at once, leaving slow work (encoding, network) to the observer's own threads."""

    name: str

    def start(self, summary: Callable[[], dict]) -> None:
        """The run begins; `summary()` returns the run summary so far, from any thread."""

    def frame(self, frame: Frame, faces: list[Face], record: dict) -> None:
        """One processed frame and its JSONL record."""

    def stats(self) -> dict:
        """What the observer wants in the run summary (clients served, messages dropped...)."""

    def close(self) -> None:
        """The run ended: finish sending, then release sockets and threads."""


class Tally:
    """What the run has seen so far, so a summary can be taken mid-run (the web view's /api/summary) or at the end."""

    def __init__(self, source: Source, pipeline: Pipeline, observers: list[Observer]) -> None:
        self.source, self.pipeline, self.observers = source, pipeline, observers
        self.counts: Counter[str] = Counter()
        self.frames = self.faces = self.frames_with_faces = 0
        self.stopped = "running"
        self.started = time.perf_counter()

    def add(self, faces: list[Face]) -> None:
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
            "input_dtype": self.pipeline.classifier.input_dtype.name,
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
        }
        if self.observers:
            summary["outputs"] = {observer.name: observer.stats() for observer in self.observers}
        return summary


def describe(frame: Frame, faces: list[Face]) -> str:
    found = "; ".join(f"{f.label} {f.confidence:.2f} at {list(f.box)}" for f in faces) or "no face"
    return f"frame {frame.index:>5} {frame.name}: {found}"


def _check_display() -> None:
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise UserError("--show needs a display (DISPLAY is not set); use --save or --jsonl instead")
    try:
        cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
    except cv2.error:
        raise UserError("--show: this OpenCV has no GUI support (headless build); use --save or --jsonl") from None


class StopRequest:
    """SIGINT/SIGTERM set a flag that the loop checks between frames, so a stop never lands half-way through
    writing a frame's output. A second Ctrl-C stops the loop at once (for a camera that hangs), but never
    while `finishing`: from then on signals are only recorded, so the video is still released and renamed,
    the JSONL closed and the summary written, however many times Ctrl-C is pressed.

    `finishing=True` is for a command's last steps after the loop (printing and writing the summary): every
    signal is only recorded, and on exit the signals stay ignored, because the process has nothing left to do
    but exit 0; a late Ctrl-C must not turn a finished run into a KeyboardInterrupt.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

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


def human_output(options: RunOptions) -> Terminal:
    """Where per-frame lines and the summary go: stderr when stdout carries the JSONL."""
    return Terminal(sys.stderr if options.jsonl == "-" else sys.stdout)


def run(source: Source, pipeline: Pipeline, options: RunOptions, human: Terminal | None = None) -> dict:
    """Process every frame until the source ends, `max_frames`, `q` in the window, Ctrl-C, SIGTERM or a closed
    output stream. Whatever stops it, the outputs written so far are closed whole."""
    timer = pipeline.timer
    human = human or human_output(options)
    saver: FrameSaver | None = None
    jsonl: JsonlWriter | None = None
    window = False
    tally = Tally(source, pipeline, options.observers)
    iterator = iter(source)
    with StopRequest() as stop:
        try:  # set-up inside: a refused output still closes the source and the observers already listening
            saver = FrameSaver(options.save) if options.save else None  # checks its target first: truncates nothing
            jsonl = JsonlWriter(options.jsonl, options.jsonl_max_bytes, options.jsonl_keep) if options.jsonl else None
            if options.show:
                _check_display()
                window = True
            for observer in options.observers:
                observer.start(tally.summary)
            while True:
                if stop.requested:
                    tally.stopped = "interrupted"
                    break
                with timer.time("capture"):
                    frame = next(iterator, None)
                if frame is None:
                    tally.stopped = "end of source"
                    break
                if not source.continuous:
                    pipeline.reset()
                faces = pipeline.process(frame.image, frame.lores)
                tally.add(faces)
                with timer.time("output"):
                    # Only for the outputs that take it: a terminal, --save or --show alone needs no record.
                    record = frame_record(frame, faces) if jsonl or options.observers else None
                    if jsonl:
                        jsonl.write(record)
                    for observer in options.observers:
                        observer.frame(frame, faces, record)
                    if not options.quiet:
                        human.line(describe(frame, faces))
                    if saver or options.show:
                        image = annotate(frame.image, faces, tally.fps())
                        if saver:
                            saver.write(frame, image)
                        if options.show:
                            cv2.imshow(WINDOW, image)
                            if cv2.waitKey(1) & 0xFF == ord("q"):
                                tally.stopped = "q pressed"
                                break
                failed = human.error or (jsonl and jsonl.stdout.error)
                if failed:  # `| head -2` has read enough, or a full device: stop, still finishing every output
                    tally.stopped = "output closed" if isinstance(failed, BrokenPipeError) else "output failed"
                    break
                if options.max_frames and tally.frames >= options.max_frames:
                    tally.stopped = "--max-frames reached"
                    break
        except KeyboardInterrupt:  # a second Ctrl-C: stop now, still closing the outputs
            tally.stopped = "interrupted"
        finally:
            stop.finishing = True
            source.close()
            if jsonl:
                jsonl.close()
            if saver:
                saver.close()
            if window:
                cv2.destroyAllWindows()
            for observer in options.observers:
                observer.close()
    return tally.summary()


def format_summary(summary: dict) -> str:
    lines = [
        f"{summary['frames']} frames, {summary['faces']} faces ({summary['frames_with_faces']} frames with a face)"
        f" in {summary['seconds']:.2f} s: {summary['fps']:.1f} FPS [{summary['stopped']}]",
        f"model {summary['model']} ({summary['input_dtype']}, {summary['runtime']})",
    ]
    width = max([len("stage"), *map(len, summary["stages"])]) + 2
    lines.append(f"{'stage':<{width}}{'mean ms':>9}{'p50 ms':>9}{'p95 ms':>9}")
    for stage, s in summary["stages"].items():
        lines.append(f"{stage:<{width}}{s['mean_ms']:>9.2f}{s['p50_ms']:>9.2f}{s['p95_ms']:>9.2f}")
    if summary["labels"]:
        lines.append("labels: " + ", ".join(f"{k} {v}" for k, v in summary["labels"].items()))
    if summary["bad_frames"]:
        lines.append(f"undecodable video frames skipped: {summary['bad_frames']}")
    for name, stats in summary.get("outputs", {}).items():
        lines.append(f"{name}: " + ", ".join(f"{k} {v}" for k, v in stats.items()))
    if summary["skipped"]:
        lines.append(f"skipped {len(summary['skipped'])} unreadable: {', '.join(summary['skipped'])}")
    return "\n".join(lines)
