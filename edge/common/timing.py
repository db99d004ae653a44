"""Per-stage wall-clock timing: mean, p50 and p95 milliseconds for the summary.

Only the newest `WINDOW` samples per stage are kept (count and mean cover the whole run), so a service or a
`--loop` demo that runs for weeks holds constant memory, and a mid-run summary (the web view) stays cheap.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

STAGES = ("capture", "detect", "preprocess", "infer", "output")
WINDOW = 10_000
TOTAL = "total"  # a whole frame, capture to outputs: in the histograms (/metrics), not in the summary's table
BUCKETS_MS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)  # histogram upper bounds; one more for beyond


def percentiles(samples: list[float], digits: int = 3) -> dict[str, float]:
    """p50 and p95 of millisecond samples: the one way every summary and benchmark states a spread."""
    return {f"p{q}_ms": round(float(np.percentile(samples, q)), digits) for q in (50, 95)}


class StageTimes:
    def __init__(self, window: int = WINDOW) -> None:
        self.samples: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=window))
        self.count: dict[str, int] = defaultdict(int)
        self.total_ms: dict[str, float] = defaultdict(float)
        # Whole-run histograms (Prometheus' /metrics): a count per bucket, cumulated only when asked for.
        self.buckets: dict[str, list[int]] = defaultdict(lambda: [0] * (len(BUCKETS_MS) + 1))
        self.histogram_ms: dict[str, float] = defaultdict(float)

    @contextmanager
    def time(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.observe(stage, (time.perf_counter() - started) * 1000)

    def observe(self, stage: str, ms: float, summarise: bool = True) -> None:
        """One timing; `summarise=False` puts it in the histograms only (the per-frame TOTAL)."""
        self.buckets[stage][bisect_left(BUCKETS_MS, ms)] += 1
        self.histogram_ms[stage] += ms
        if summarise:
            self.samples[stage].append(ms)
            self.count[stage] += 1
            self.total_ms[stage] += ms

    def histogram(self, stage: str) -> tuple[list[int], float]:
        """Cumulative counts for each of BUCKETS_MS and beyond (the last is the count), and the sum in ms."""
        counts, cumulative, running = list(self.buckets.get(stage, [0] * (len(BUCKETS_MS) + 1))), [], 0
        for count in counts:
            running += count
            cumulative.append(running)
        return cumulative, self.histogram_ms.get(stage, 0.0)

    def summary(self) -> dict[str, dict[str, float]]:
        """Safe to call from another thread while frames are being timed (list() copies a deque atomically)."""
        stages = list(self.samples)
        ordered = [s for s in STAGES if s in stages] + [s for s in stages if s not in STAGES]
        out = {}
        for stage in ordered:
            recent, count = list(self.samples[stage]), self.count[stage]
            if not recent or not count:
                continue
            out[stage] = {
                "mean_ms": round(self.total_ms[stage] / count, 3),
                **percentiles(recent),
                "count": count,
            }
        return out
