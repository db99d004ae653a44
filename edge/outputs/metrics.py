"""Prometheus metrics of a run, in the text exposition format (version 0.0.4), for `/metrics`.

Written by hand rather than with prometheus-client: the format is a few lines of text, and the device installs
nothing beyond numpy, OpenCV and a TFLite interpreter. Everything is computed when a scraper asks, from the run
summary and the stage timer's histograms, so a frame costs nothing more than the timer's bucket count.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from edge.common.text import is_control
from edge.common.timing import BUCKETS_MS, TOTAL, StageTimes

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "fer_edge_"
HISTOGRAM_STAGES = ("detect", "preprocess", "infer", TOTAL)  # always there (zeros before the first frame)


def escape_label(value: str) -> str:
    """A label value as the format quotes it: backslash, double quote and line feed escaped; any other control
    character (a CR ends the sample for a parser, and the format has no escape for it) as U+FFFD."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return escaped if escaped.isprintable() else "".join("\ufffd" if is_control(c) else c for c in escaped)


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if isinstance(value, float) else str(int(value))


def _family(name: str, kind: str, help_text: str, samples: list[tuple[str, dict[str, str], float]]) -> Iterator[str]:
    yield f"# HELP {PREFIX}{name} {help_text}"
    yield f"# TYPE {PREFIX}{name} {kind}"
    for suffix, labels, value in samples:
        inside = ",".join(f'{key}="{escape_label(text)}"' for key, text in labels.items())
        yield f"{PREFIX}{name}{suffix}{'{' + inside + '}' if inside else ''} {_number(value)}"


def _histogram(timer: StageTimes, stage: str) -> list[tuple[str, dict[str, str], float]]:
    cumulative, sum_ms = timer.histogram(stage)
    bounds = [f"{bound / 1000:g}" for bound in BUCKETS_MS] + ["+Inf"]
    samples = [("_bucket", {"stage": stage, "le": le}, count) for le, count in zip(bounds, cumulative, strict=True)]
    return [*samples, ("_sum", {"stage": stage}, sum_ms / 1000), ("_count", {"stage": stage}, cumulative[-1])]


def render(summary: dict, labels: list[str], timer: StageTimes | None = None, viewers: int = 0) -> str:
    """The metrics page for a run summary so far; `labels` (the contract's) each get a count, zero or not."""
    counts = summary.get("labels", {})
    by_label = [("", {"label": label}, counts.get(label, 0)) for label in labels]
    by_label += [("", {"label": label}, n) for label, n in counts.items() if label not in labels]
    mqtt = summary.get("outputs", {}).get("mqtt", {})
    lines = [
        *_family("frames_total", "counter", "Frames processed.", [("", {}, summary.get("frames", 0))]),
        *_family("faces_total", "counter", "Faces classified.", [("", {}, summary.get("faces", 0))]),
        *_family("label_faces_total", "counter", "Faces classified, by the model's label.", by_label),
        *_family("fps", "gauge", "Frames a second over the run so far.", [("", {}, float(summary.get("fps", 0.0)))]),
        *_family("uptime_seconds", "gauge", "Seconds since the run began.",
                 [("", {}, float(summary.get("seconds", 0.0)))]),
        *_family("bad_frames_total", "counter", "Undecodable video frames skipped.",
                 [("", {}, summary.get("bad_frames", 0))]),
        *_family("source_reconnects_total", "counter", "Times a lost live source was opened again.",
                 [("", {}, summary.get("reconnects", 0))]),
        *_family("source_lost_seconds_total", "counter", "Seconds a live source was lost.",
                 [("", {}, float(summary.get("lost_seconds", 0.0)))]),
        *_family("mqtt_dropped_total", "counter", "MQTT messages dropped (queue full or refused).",
                 [("", {}, mqtt.get("dropped", 0))]),
        *_family("viewers", "gauge", "Web view clients now watching (/stream.mjpg and /events).",
                 [("", {}, viewers)]),
    ]  # fmt: skip
    lines += _mood(summary.get("mood"), labels)
    if timer is not None:
        stages = list(HISTOGRAM_STAGES) + [s for s in timer.buckets if s not in HISTOGRAM_STAGES]
        samples = [sample for stage in stages for sample in _histogram(timer, stage)]
        lines += _family("stage_seconds", "histogram", "Time per stage and per whole frame (stage=total).", samples)
    return "\n".join(lines) + "\n"


def _mood(mood: dict | None, labels: list[str]) -> list[str]:
    """The room's mood (edge/outputs/mood.py) as gauges: a share per label (0 to 1), the dominant mood as 1 on its
    label (0 on the others, all 0 with no face in the window), faces now and people in the window."""
    if not mood:
        return []
    shares = mood["shares"]
    names = list(labels) + [label for label in shares if label not in labels]
    return [
        *_family("mood_share_ratio", "gauge", f"Share of face-seconds per label over the last {mood['window_s']:g} s.",
                 [("", {"label": label}, shares.get(label, 0.0) / 100) for label in names]),
        *_family("mood_dominant", "gauge", "1 for the room's dominant mood over the window, 0 for the others.",
                 [("", {"label": label}, int(label == mood["dominant"])) for label in names]),
        *_family("mood_faces", "gauge", "Faces on the latest frame.", [("", {}, mood["faces_now"])]),
        *_family("mood_people", "gauge", "People (face tracks) seen over the window.", [("", {}, mood["people"])]),
    ]  # fmt: skip
