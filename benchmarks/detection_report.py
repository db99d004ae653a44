"""Detection benchmark results as verdicts, a Markdown section and an FPS-against-recall plot."""

from __future__ import annotations

from pathlib import Path

import matplotlib

from benchmarks.markdown import table, verdict_table
from train.plots import save_figure

matplotlib.use("Agg")
import matplotlib.pyplot as plt

TARGET_SPEEDUP = 3.0
TARGET_YUNET_TIME_SHARE = 1 / 3
TARGET_FAST_RECALL_GAP = 0.05  # asynchronous detection's recall on a fast face, at most this below every frame's
BASELINE = "haar, every frame"
DETECT_SIZE = "320x240"  # the default --detect-width on 640x480 frames
PLOT = "detection_fps_vs_recall.png"


def _verdict(target: str, value: str, met: bool) -> dict:
    return {"target": target, "value": value, "met": met, "group": "detection"}


def detection_verdicts(detection: dict) -> list[dict]:
    modes, out = detection["modes"], []
    base = modes[BASELINE]
    fair = {name: m for name, m in modes.items() if m["recall"] >= base["recall"]}
    best = max(fair, key=lambda name: fair[name]["fps"])
    ratio = fair[best]["fps"] / base["fps"]
    out.append(_verdict(
        f"clip: fastest mode >= {TARGET_SPEEDUP:.0f}x the FPS of Haar on every frame, at no lower recall",
        f"{ratio:.1f}x ({best}: recall {fair[best]['recall']:.3f} vs {base['recall']:.3f})",
        ratio >= TARGET_SPEEDUP,
    ))  # fmt: skip
    haar, yunet = modes["haar, every frame"]["recall"], modes["yunet, every frame"]["recall"]
    out.append(_verdict("clip: yunet recall >= Haar's (every frame)", f"{yunet:.3f} vs {haar:.3f}", yunet >= haar))
    photos = detection.get("photos")
    if photos:
        haar, yunet = (photos["scores"][d]["320"]["recall"] for d in ("haar", "yunet"))
        out.append(_verdict(f"detect-faces photos ({photos['faces']} faces): yunet recall >= Haar's at 320 px wide",
                            f"{yunet:.3f} vs {haar:.3f}", yunet >= haar))  # fmt: skip
    for step, recall in detection.get("fast_faces", {}).items():
        gap = recall["every frame"] - recall["async"]
        out.append(_verdict(
            f"face moving {step} px a frame: yunet async recall within {TARGET_FAST_RECALL_GAP * 100:.0f} points of"
            " every frame's (--async-detect off)",
            f"{recall['async']:.3f} vs {recall['every frame']:.3f}", gap <= TARGET_FAST_RECALL_GAP,
        ))  # fmt: skip
    times = detection["detector_ms"].get(DETECT_SIZE)
    if times:
        share = times["yunet"] / times["haar"]
        out.append(_verdict(
            f"clip: yunet detection time <= 1/3 of Haar's at {DETECT_SIZE}",
            f"{share:.2f} ({times['yunet']:.2f} vs {times['haar']:.2f} ms p50)",
            share <= TARGET_YUNET_TIME_SHARE,
        ))  # fmt: skip
    return out


def detection_markdown(results: dict) -> str:
    detection, facts = results["detection"], results["machine"]
    lines = [
        f"Detection on {detection['clip']} (median of {detection['rounds']} alternating rounds after a warm-up);"
        f" {facts['cpu']} ({facts['cores']} cores), {facts['date'][:10]}; `{results['command']}`."
        " FPS counts only the time inside the pipeline; asynchronous modes get frames at a camera's"
        f" {detection['camera_fps']:.0f} FPS. Compare rows within this table: absolute figures vary between"
        " machines and runs.",
        "",
    ]
    rows = [
        [f"`{m['options']}`", f"{m['fps']:.1f}", f"{m['detect_stage_p50_ms']:.2f}",
         f"{m['worker_p50_ms']:.2f}" if m["worker_p50_ms"] is not None else "-",
         f"{m['recall']:.3f}", f"{m['precision']:.3f}"]
        for m in detection["modes"].values()
    ]  # fmt: skip
    lines += table(["options", "FPS", "detect ms p50 (per frame)", "worker ms p50", "recall", "precision"], rows)
    lines += ["", "One full detection, p50 ms, on the clip's frames:", ""]
    sizes = detection["detector_ms"]
    lines += table(["detection size", *next(iter(sizes.values()))], [
        [size, *(f"{ms:.2f}" for ms in times.values())] for size, times in sizes.items()
    ])  # fmt: skip
    photos = detection.get("photos")
    if photos:
        lines += ["", f"Labelled real photos (../shared/detect-faces: {photos['photos']} photos, {photos['faces']}"
                  f" faces, --min-face {photos['min_face']}; width 0 = full size):", ""]  # fmt: skip
        rows = [
            [name, width, f"{s['recall']:.3f}", f"{s['precision']:.3f}"]
            for name, widths in photos["scores"].items()
            for width, s in widths.items()
        ]
        lines += table(["detector", "detect width", "recall", "precision"], rows)
    fast = detection.get("fast_faces")
    if fast:
        intro = (
            "A face moving fast (benchmarks/clip.py's `fast_clip`: 90 frames of 640x480, the face turning back at"
            " each side), YuNet, recall at IoU >= 0.4, asynchronous detection at a camera's pace:"
        )
        lines += ["", intro, ""]
        rows = [[step, f"{r['every frame']:.3f}", f"{r['async']:.3f}"] for step, r in fast.items()]
        lines += table(["px a frame", "every frame (`--async-detect off`)", "async"], rows)
    lines += ["", *verdict_table([v for v in results["verdicts"] if v.get("group") == "detection"])]
    return "\n".join(lines) + "\n"


def detection_plot(detection: dict, out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for detector, marker in (("haar", "o"), ("yunet", "s")):
        points = [(name, m) for name, m in detection["modes"].items() if m["detector"] == detector]
        ax.scatter([m["fps"] for _, m in points], [m["recall"] for _, m in points], marker=marker, label=detector)
        for i, (_, m) in enumerate(points):  # labels alternate above and below, so neighbours stay readable
            offset = (4, 4) if i % 2 == 0 else (4, -10)
            ax.annotate(m["mode"], (m["fps"], m["recall"]), fontsize=7, xytext=offset, textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("frames per second (median, log scale)")
    ax.set_ylabel("recall at IoU >= 0.4")
    ax.set_title(f"Detectors and modes on {detection['clip']}")
    ax.legend()
    path = out / PLOT
    fig.tight_layout()
    save_figure(fig, path)
    return path
