"""Detection on a worker thread, so a live camera gets a result for every frame at the camera's rate.

The main loop hands the worker the newest detection frame whenever it is free and, meanwhile, follows the
known faces and classifies them on every frame. When a detection lands, the main loop corrects its tracks
with it (`Tracker.correct`). OpenCV releases the GIL inside detection, so the worker runs on its own core.
Only the newest frame waits: a frame handed over while one is pending replaces it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from edge.common.timing import StageTimes
from edge.detectors.base import Detector

THREAD_NAME = "fer-edge-detector"
WORKER_STAGE = "detect (worker)"


@dataclass
class Job:
    small: np.ndarray  # the detection frame, as the detector takes it
    gray: np.ndarray  # the same in grayscale, for the tracker
    scale: float
    seen: dict[int, np.ndarray]  # each track's box on this frame, to match the detections with
    generation: int = 0  # the pipeline's count of resets when submitted: a later one makes the result stale
    frame: int = 0  # the pipeline's frame count when submitted: how late the detection lands, in frames


@dataclass
class Landed:
    boxes: np.ndarray  # full-resolution boxes found on `job.small`
    job: Job


class DetectionWorker:
    """One thread running `detector.detect_downscaled` on the newest submitted frame; `close` joins it."""

    def __init__(self, detector: Detector, timer: StageTimes) -> None:
        self.detector, self.timer = detector, timer
        self._wake = threading.Condition()
        self._job: Job | None = None
        self._landed: Landed | None = None
        self._busy = self._closed = False
        self._error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
        self.thread.start()

    def idle(self) -> bool:
        """Nothing pending or running: a new frame would be started at once."""
        with self._wake:
            return self._job is None and not self._busy

    def submit(self, job: Job) -> None:
        with self._wake:
            self._job = job
            self._wake.notify()

    def take(self) -> Landed | None:
        """The detection that landed since the last call, if any; a detector error is raised here, in the caller."""
        with self._wake:
            if self._error is not None:
                raise self._error
            landed, self._landed = self._landed, None
            return landed

    def _run(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._closed or self._job is not None)
                if self._closed:
                    return
                job, self._job, self._busy = self._job, None, True
            try:
                with self.timer.time(WORKER_STAGE):
                    boxes = self.detector.detect_downscaled(job.small, job.scale)
            except Exception as exc:  # handed to the main thread, which reports it
                with self._wake:
                    self._error, self._busy = exc, False
                return
            with self._wake:
                self._landed, self._busy = Landed(boxes, job), False

    def close(self) -> None:
        """Stop after the detection in progress (if any) and wait for the thread to end."""
        with self._wake:
            self._closed = True
            self._wake.notify_all()
        self.thread.join()
