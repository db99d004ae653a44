"""What a run writes: annotated frames, JSON Lines per frame, saved video or images."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import IO

import cv2
import numpy as np

from edge.atomic import atomic_path
from edge.pipeline import Face
from edge.sources import IMAGE_SUFFIXES, Frame

VIDEO_SUFFIXES = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "mp4v"}
BOX_COLOUR = (60, 200, 60)


def annotate(image: np.ndarray, faces: list[Face], fps: float | None = None) -> np.ndarray:
    """A copy of the frame with a box, label and confidence per face, and the FPS in the corner."""
    out = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image.copy()
    for face in faces:
        x, y, w, h = face.box
        cv2.rectangle(out, (x, y), (x + w, y + h), BOX_COLOUR, 2)
        text = f"{face.label} {face.confidence:.0%}"
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.6, 2)
        top = max(th + 6, y)
        cv2.rectangle(out, (x, top - th - 6), (x + tw + 6, top), BOX_COLOUR, -1)
        cv2.putText(out, text, (x + 3, top - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 2, cv2.LINE_AA)
    if fps is not None:
        cv2.putText(out, f"{fps:.1f} FPS", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2, cv2.LINE_AA)
    return out


def frame_record(frame: Frame, faces: list[Face]) -> dict:
    return {
        "source": frame.name,
        "frame": frame.index,
        "time": round(frame.time, 4),
        "faces": [face.to_dict() for face in faces],
    }


class JsonlWriter:
    """One JSON object per frame, flushed per line so a stopped run leaves a valid file; `-` is stdout."""

    def __init__(self, target: str) -> None:
        self.stream: IO[str] = sys.stdout if target == "-" else open(target, "w", encoding="utf-8")  # noqa: SIM115

    def write(self, record: dict) -> None:
        self.stream.write(json.dumps(record) + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.stream is not sys.stdout:
            self.stream.close()


class FrameSaver:
    """Annotated output: a video file (.mp4/.avi/.mkv), written whole then renamed, or a folder of images."""

    def __init__(self, target: str | os.PathLike, fps: float = 15.0) -> None:
        self.target = Path(target)
        self.fps = fps
        self.video = self.target.suffix.lower() in VIDEO_SUFFIXES
        self.writer: cv2.VideoWriter | None = None
        self._tmp = None
        if not self.video:
            self.target.mkdir(parents=True, exist_ok=True)

    def write(self, frame: Frame, image: np.ndarray) -> None:
        if not self.video:
            name = Path(frame.name)
            stem = name.stem if name.suffix.lower() in IMAGE_SUFFIXES else f"{name.stem}_{frame.index:06d}"
            with atomic_path(self.target / f"{stem}.jpg") as tmp:
                cv2.imwrite(str(tmp), image)
            return
        if self.writer is None:
            self._tmp = atomic_path(self.target)
            tmp = self._tmp.__enter__()
            fourcc = cv2.VideoWriter_fourcc(*VIDEO_SUFFIXES[self.target.suffix.lower()])
            self.writer = cv2.VideoWriter(str(tmp), fourcc, self.fps, (image.shape[1], image.shape[0]))
        self.writer.write(image)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self._tmp.__exit__(None, None, None)
            self.writer = None
