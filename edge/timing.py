"""Per-stage wall-clock timing: mean, p50 and p95 milliseconds for the summary."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

STAGES = ("capture", "detect", "preprocess", "infer", "output")


class StageTimes:
    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = defaultdict(list)

    @contextmanager
    def time(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.samples[stage].append((time.perf_counter() - started) * 1000)

    def summary(self) -> dict[str, dict[str, float]]:
        ordered = [s for s in STAGES if s in self.samples] + [s for s in self.samples if s not in STAGES]
        return {
            stage: {
                "mean_ms": round(float(np.mean(self.samples[stage])), 3),
                "p50_ms": round(float(np.percentile(self.samples[stage], 50)), 3),
                "p95_ms": round(float(np.percentile(self.samples[stage], 95)), 3),
                "count": len(self.samples[stage]),
            }
            for stage in ordered
        }
