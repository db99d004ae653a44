"""The embeddable pipeline: frame in, faces with labels and probabilities out.

from edge import Pipeline
pipeline = Pipeline()                 # the shipped int8 model
for face in pipeline.process(frame):  # a uint8 BGR, BGRA or grayscale numpy image
    print(face.box, face.label, face.confidence)
"""

from __future__ import annotations

import os
from dataclasses import replace

import cv2
import numpy as np

from edge.classifier import AUTO, open_model
from edge.common.errors import UserError
from edge.common.timing import StageTimes
from edge.contract import IDENTITY
from edge.detectors.base import DetectorConfig, check_image, to_gray
from edge.detectors.registry import make_detector, resolve
from edge.detectors.worker import DetectionWorker, Job
from edge.frames import Face
from edge.pipeline.align import EyeLevel
from edge.pipeline.crop import cut_rotated
from edge.pipeline.redetect import recover, redetect
from edge.pipeline.tracker import Track, Tracker

ALIGN_NO_DETECT = "--align-eyes turns detected faces level by their eyes; --no-detect detects none (give one of them)"


class Pipeline:
    """Face detection + TFLite classification of every face.

    `detector`: "auto" (default: YuNet where OpenCV >= 4.8 runs it, else Haar), "yunet" or "haar", or a
    DetectorConfig; `detector_name` is the one used ("none" with `detect=False`). A full detection runs every
    `detect_every` frames; in between, faces are followed by template matching or, with `roi_detect`,
    re-detected in a window around each. With `async_detect` the detector runs on a worker thread (for live
    sources): call `close()` (or use the pipeline as a context manager) to stop it. With `align_eyes` each
    face crop is turned so the eyes are level, by the roll YuNet's eye landmarks give when the face is detected
    (`edge.pipeline.align`; a followed face keeps it).
    """

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        precision: str = AUTO,
        threads: int | None = None,
        detector: str | DetectorConfig | None = None,
        detect_every: int = 1,
        smooth: float = 0.0,
        detect: bool = True,
        timer: StageTimes | None = None,
        roi_detect: bool = False,
        async_detect: bool = False,
        align_eyes: bool = False,
    ) -> None:
        if detect_every < 1:
            raise UserError("--detect-every must be at least 1")
        if not 0.0 <= smooth < 1.0:
            raise UserError("--smooth must be in [0, 1): the weight of a face's history")
        if threads:
            cv2.setNumThreads(threads)  # OpenCV's detection and resizing, beside the interpreter's threads
        config = DetectorConfig(name=detector) if isinstance(detector, str) else detector or DetectorConfig()
        if align_eyes and not detect:
            raise UserError(ALIGN_NO_DETECT)
        if detect:
            config = replace(config, name=resolve(config.name))  # auto, once: the ROI detector is the same kind
        self.detector_name = config.name if detect else "none"
        self.detector = make_detector(config) if detect else None  # first: its errors say more than the model's
        self.eye_level = EyeLevel() if align_eyes else None
        # `auto`: the faster of the folder's models on this CPU, timed here once (`precision_ms` says how long each
        # took; empty when there was no choice).
        self.classifier, self.precision_ms = open_model(model, precision, threads)
        self.model_path, self.contract = self.classifier.path, self.classifier.contract
        # --no-detect: the whole image is the face, as the model's training crops were.
        self.framing = self.contract.framing_for(config.name) if detect else IDENTITY
        self.timer = timer or StageTimes()
        self.worker = DetectionWorker(self.detector, self.timer) if async_detect and self.detector else None
        # Its own detector: the worker may be using self.detector, and YuNet stays fast at one input size.
        self.roi_detector = make_detector(config) if roi_detect and detect else None
        self.tracker = Tracker(smooth)
        self.detect_every = detect_every
        self.frames = 0
        self._submitted = -detect_every
        self._generation = 0

    def close(self) -> None:
        """Stop the detection worker, if any (idempotent)."""
        if self.worker is not None:
            self.worker.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _between_scans(self, small: np.ndarray, gray: np.ndarray, scale: float) -> tuple[list[Track], list[bool]]:
        if self.roi_detector is not None:
            return redetect(self.roi_detector, self.tracker, small, gray, scale)
        tracks = self.tracker.follow(gray, scale)
        return tracks, [False] * len(tracks)

    def _async_boxes(self, small: np.ndarray, gray: np.ndarray, scale: float) -> tuple[list[Track], list[bool]]:
        """Correct the tracks with a detection that landed, else follow them; hand the worker this frame when
        it is free (at most every `detect_every` frames)."""
        landed = self.worker.take()
        if landed is not None and landed.job.generation == self._generation and landed.job.gray.shape == gray.shape:
            job, before = landed.job, list(self.tracker.tracks)
            elapsed = max(1, self.frames - job.frame)
            tracks = self.tracker.correct(landed.boxes, job.gray, job.seen, gray, scale, elapsed)
            found = [True] * len(tracks) + self._recover(before, small, gray, scale)
        else:
            tracks, found = self._between_scans(small, gray, scale)
        if self.frames - self._submitted >= self.detect_every and self.worker.idle():
            seen = {t.id: t.box.copy() for t in tracks}
            self.worker.submit(Job(small, gray, scale, seen, self._generation, self.frames))
            self._submitted = self.frames
        return tracks, found

    def _boxes(self, frame: np.ndarray, small: np.ndarray | None) -> tuple[list[Track], list[bool]]:
        if self.detector is None:
            height, width = frame.shape[:2]
            track = self.tracker.update(np.array([[0, 0, width, height]]), None, 1.0)[0]
            return [track], [True]
        if small is None:
            small, scale = self.detector.downscale(frame)
        else:
            scale = small.shape[1] / frame.shape[1]
        gray = to_gray(small)  # the tracker's frame: the detector's own when it detects in grayscale
        if self.worker is not None:
            return self._async_boxes(small, gray, scale)
        if self.frames % self.detect_every == 0:
            before = list(self.tracker.tracks)
            tracks = self.tracker.update(self.detector.detect_downscaled(small, scale), gray, scale)
            return tracks, [True] * len(tracks) + self._recover(before, small, gray, scale)
        return self._between_scans(small, gray, scale)

    def _recover(self, before: list[Track], small: np.ndarray, gray: np.ndarray, scale: float) -> list[bool]:
        """With window re-detection on, faces a full detection missed are looked for in their windows."""
        if self.roi_detector is None:
            return []
        return recover(self.roi_detector, self.tracker, before, small, gray, scale)

    def crops(self, frame: np.ndarray, boxes: list[np.ndarray], angles: list[float] | None = None) -> np.ndarray:
        """Each box cut from the frame framed as the model's training faces were (the contract's framing for this
        detector), in the model's colour (only the face is converted, not the whole frame) and resized to its
        input size; with `angles` (degrees, counter-clockwise as seen), each crop turned about its centre to undo
        its roll."""
        size, color = self.contract.image_size, self.contract.color
        out = np.empty((len(boxes), *size, *(() if color == "grayscale" else (3,))), dtype=np.uint8)
        for i, box in enumerate(boxes):
            angle = angles[i] if angles is not None else 0.0
            out[i] = cut_rotated(frame, self.framing.crop_of(box), size, angle, color)
        return out

    def _angles(self, frame: np.ndarray, tracks: list[Track], detected: list[bool]) -> list[float]:
        """Each face's roll: measured again for a face detected on this frame, kept for a followed one."""
        for track, found in zip(tracks, detected, strict=True):
            measured = self.eye_level.roll(frame, track.box) if found else None
            if measured is not None:
                track.angle = measured
        return [track.angle for track in tracks]

    def reset(self) -> None:
        """Forget every face: the next frame is unrelated to the last (another photo), so nothing is followed
        or smoothed across, and detection runs on it whatever `detect_every` says."""
        self.tracker.reset()
        self.frames = 0
        self._submitted = -self.detect_every
        self._generation += 1  # a detection still running on the previous image is ignored when it lands

    def process(self, frame: np.ndarray, small: np.ndarray | None = None) -> list[Face]:
        """Faces in a uint8 (H, W), (H, W, 1), BGR or BGRA image; ValueError for anything else. `small`: the
        grayscale detection frame when the source already has one (picamera2's lores Y plane), so the full
        frame is never converted or resized for detection."""
        check_image(frame)
        with self.timer.time("detect"):
            tracks, detected = self._boxes(frame, small)
        with self.timer.time("preprocess"):
            angles = self._angles(frame, tracks, detected) if self.eye_level else None
            crops = self.crops(frame, [t.box for t in tracks], angles)
        with self.timer.time("infer"):
            probabilities = self.classifier.predict(crops)
        self.frames += 1
        faces = []
        labels = self.contract.labels
        for track, found, p in zip(tracks, detected, probabilities, strict=True):
            p = self.tracker.smoothed(track, p)
            best = int(np.argmax(p))
            faces.append(
                Face(
                    box=tuple(int(v) for v in track.box),
                    label=labels[best],
                    confidence=float(p[best]),
                    probabilities={label: float(v) for label, v in zip(labels, p, strict=True)},
                    track=track.id,
                    detected=found,
                )
            )
        return faces
