"""Turn benchmark results into verdicts, a terminal table, results.md and plots."""

from __future__ import annotations

from pathlib import Path

import matplotlib

from benchmarks.container import container_markdown, container_verdicts
from benchmarks.detection_report import detection_markdown, detection_plot, detection_verdicts
from benchmarks.markdown import table, verdict_table
from benchmarks.real_faces import real_faces_markdown, real_faces_plot, real_faces_verdicts
from benchmarks.zoo import zoo_markdown, zoo_plot, zoo_verdicts
from edge.common.timing import STAGES
from train.plots import save_figure

matplotlib.use("Agg")
import matplotlib.pyplot as plt

TARGET_INT8_MS = 1.0
TARGET_FLOOR_SHARE = 0.90
TARGET_VS_REFERENCE = 10.0
TARGET_ACCURACY_DROP = 0.005
TARGET_AGREEMENT = 0.98
TARGET_VIEWER_COST = 0.10
TARGET_EXTRAS_COST = 0.02
TARGET_PRIVACY_COST = 0.10
TARGET_RECONNECT_S = 5.0


def verdicts(results: dict) -> list[dict]:
    """Each target with its measured value and whether it was met (None: not measured in this run)."""
    out = []
    latency = results.get("latency", {}).get("int8", {}).get("threads_1", {}).get("per_face")
    if latency:
        value = latency["p50_ms"]
        out.append({"target": f"int8 per-face latency, 1 thread <= {TARGET_INT8_MS} ms (p50)",
                    "value": f"{value:.3f} ms", "met": value <= TARGET_INT8_MS})  # fmt: skip
    for clip, pipelines in results.get("pipeline", {}).items():
        floor, int8 = pipelines.get("Haar alone"), pipelines.get("int8")
        if floor and int8:
            share = int8["fps"] / floor["fps"]
            out.append({"target": f"{clip}: int8 pipeline >= {TARGET_FLOOR_SHARE:.0%} of Haar-alone FPS",
                        "value": f"{share:.1%}", "met": share >= TARGET_FLOOR_SHARE})  # fmt: skip
        reference = next((v for k, v in pipelines.items() if k.startswith("reference")), None)
        for name in ("int8", "int8, --detect-every 3"):
            if reference and name in pipelines:
                ratio = pipelines[name]["fps"] / reference["fps"]
                out.append({"target": f"{clip}: {name} pipeline >= {TARGET_VS_REFERENCE:.0f}x the reference loop's FPS",
                            "value": f"{ratio:.1f}x", "met": ratio >= TARGET_VS_REFERENCE})  # fmt: skip
    viewers = results.get("viewers")
    if viewers:
        out.append({"target": f"web view: FPS with {viewers['viewers']} viewers at most {TARGET_VIEWER_COST:.0%} lower"
                              " than with none", "value": f"{viewers['ratio'] - 1:+.1%}",
                    "met": viewers["ratio"] >= 1 - TARGET_VIEWER_COST})  # fmt: skip
    extras = results.get("extras")
    if extras:
        out.append({"target": f"/metrics and snapshots: at most {TARGET_EXTRAS_COST:.0%} of frame time",
                    "value": f"{extras['cost']:+.1%}", "met": extras["cost"] <= TARGET_EXTRAS_COST})  # fmt: skip
    privacy = results.get("privacy")
    if privacy:
        out.append({"target": f"--privacy {privacy['mode']}: under {TARGET_PRIVACY_COST:.0%} of the pipeline's frame"
                              f" time at {privacy['size']}", "value": f"{privacy['cost']:.1%}",
                    "met": privacy["cost"] < TARGET_PRIVACY_COST})  # fmt: skip
    reconnect = results.get("reconnect")
    if reconnect:
        worst = reconnect["worst_s"]
        out.append({"target": f"network camera: streaming again <= {TARGET_RECONNECT_S:g} s after its RTSP server is"
                              f" back (slowest of {len(reconnect['rounds'])} outages)",
                    "value": f"{worst:.2f} s", "met": worst <= TARGET_RECONNECT_S})  # fmt: skip
    if results.get("detection"):
        out += detection_verdicts(results["detection"])
    if results.get("real_faces"):
        out += real_faces_verdicts(results["real_faces"])
    if results.get("zoo"):
        out += zoo_verdicts(results["zoo"])
    if results.get("container"):
        out += container_verdicts(results["container"])
    accuracy = results.get("accuracy")
    if accuracy:
        split = accuracy["validation_split"]
        entry = accuracy["splits"][split]
        drop = entry["float32"]["accuracy"] - entry["int8"]["accuracy"]
        out.append({"target": f"{split}: int8 accuracy within {TARGET_ACCURACY_DROP:.1%} of float32",
                    "value": f"{-drop:+.2%}", "met": drop <= TARGET_ACCURACY_DROP})  # fmt: skip
        agreement = entry["float32_vs_int8"]["top1_agreement"]
        out.append({"target": f"{split}: float32/int8 top-1 agreement >= {TARGET_AGREEMENT:.0%}",
                    "value": f"{agreement:.2%}", "met": agreement >= TARGET_AGREEMENT})  # fmt: skip
    return out


def markdown(results: dict) -> str:
    """The whole results.md: the model and pipeline part, the detection part, the real-faces part, the model zoo
    (each may be absent)."""
    parts = [general_markdown(results)] if "latency" in results else []
    if results.get("detection"):
        parts.append(detection_markdown(results))
    if results.get("real_faces"):
        parts.append(real_faces_markdown(results))
    if results.get("zoo"):
        parts.append(zoo_markdown(results))
    if results.get("container"):
        parts.append(container_markdown(results))
    return "\n".join(parts)


def general_markdown(results: dict) -> str:
    facts = results["machine"]
    lines = [
        f"Measured on {facts['cpu']} ({facts['cores']} cores, {facts['machine']}, int8 path"
        f" {facts.get('int8_path', 'not recorded')}), Python {facts['python']},"
        f" {facts['date'][:10]}; `{results['command']}`.",
        "",
    ]
    rows = []
    for name, entry in results["latency"].items():
        memory = results["memory"][name]["interpreter_mb"]
        for threads, t in entry.items():
            face, invoke = t["per_face"], t["invoke"]
            rows.append([
                name, f"{results['sizes'][name] / 1e6:.2f} MB", threads.replace("threads_", ""),
                f"{face['p50_ms']:.3f}", f"{face['p95_ms']:.3f}", f"{invoke['p50_ms']:.3f}", f"{memory:.1f}",
            ])  # fmt: skip
    header = ["model", "size", "threads", "per face p50 ms", "per face p95 ms", "one invoke p50 ms", "interpreter MB"]
    lines += table(header, rows)
    if results.get("flip_average"):
        lines += [
            "",
            "Per face = preprocessing and the face plus its mirror image (the contract asks for mirror averaging).",
        ]
    if results.get("accuracy"):
        lines.append("")
        rows = []
        for split, entry in results["accuracy"]["splits"].items():
            for name in results["latency"]:
                rows.append([split, str(entry["rows"]), name, f"{entry[name]['accuracy']:.2%}",
                             f"{entry[name]['macro_f1']:.3f}"])  # fmt: skip
        lines += table(["split", "rows", "model", "accuracy", "macro-F1"], rows)
    for clip, pipelines in results["pipeline"].items():
        decode = results.get("decode_ms_per_frame", {}).get(clip)
        decoded = f"; capture/decode {decode:.2f} ms per frame, outside the FPS" if decode is not None else ""
        lines += ["", f"Pipeline on {clip} (median of {results['rounds']} alternating rounds{decoded}):", ""]
        rows = []
        for name, p in pipelines.items():
            stages = p["stages"]
            rows.append([name, f"{p['fps']:.1f}"] + [
                f"{stages[s]['mean_ms']:.2f}" if s in stages else "-" for s in ("detect", "preprocess", "infer")
            ])  # fmt: skip
        lines += table(["pipeline", "FPS", "detect ms", "preprocess ms", "infer ms"], rows)
    if results.get("viewers"):
        v = results["viewers"]
        lines += ["", f"Web view (`--serve`) on the demo clip at 640x480, int8: median of {results['rounds']}"
                  f" alternating rounds of {v['frames_per_round']} frames; each viewer is a separate process reading"
                  " /stream.mjpg and /events over HTTP:", ""]  # fmt: skip
        rows = [
            [name, f"{fps:.1f}", ", ".join(f"{x:.1f}" for x in v["fps_rounds"][name])] for name, fps in v["fps"].items()
        ]
        lines += table(["viewers", "FPS", "rounds"], rows)
        share = v["encode_ms_mean"] * v["encode_fps_cap"] / 1000
        lines += [
            "",
            f"Annotating and encoding one frame for the viewers: {v['encode_ms_mean']:.2f} ms (mean), done once for"
            f" all viewers at most {v['encode_fps_cap']:g} times a second: {share:.1%} of one core.",
        ]
    lines += _extras_lines(results)
    lines += _privacy_lines(results)
    lines += _reconnect_lines(results)
    lines += ["", *verdict_table([v for v in results["verdicts"] if not v.get("group")])]
    return "\n".join(lines) + "\n"


def _extras_lines(results: dict) -> list[str]:
    e = results.get("extras")
    if not e:
        return []
    lines = ["", f"Camera-appliance extras on the labelled detection clip, int8: median of {results['rounds']}"
             f" alternating rounds of {e['frames_per_round']} frames from a reset pipeline; a separate process"
             f" scraped /metrics {e['scrapes_per_second']:g} times a second ({e['scrapes']} scrapes) and"
             f" {e['snapshots']} snapshots were written:", ""]  # fmt: skip
    rows = [
        [name, f"{fps:.1f}", ", ".join(f"{x:.1f}" for x in e["fps_rounds"][name])] for name, fps in e["fps"].items()
    ]
    return lines + table(["outputs", "FPS", "rounds"], rows)


def _privacy_lines(results: dict) -> list[str]:
    p = results.get("privacy")
    if not p:
        return []
    return ["", f"--privacy {p['mode']} on the same clip at {p['size']}, int8: covering and checking a frame took"
            f" {p['cover_ms']:.2f} ms against the pipeline's {p['pipeline_ms']:.2f} ms ({p['cost']:.1%}; median of"
            f" {len(p['cover_ms_rounds'])} rounds of {p['frames_per_round']} frames, {p['frames_covered']} frames"
            " covered)."]  # fmt: skip


def _reconnect_lines(results: dict) -> list[str]:
    r = results.get("reconnect")
    if not r:
        return []
    lines = ["", "Network camera reconnect: a real RTSP server (GStreamer's) on loopback streaming the demo clip is"
             " killed, kept away, and started again; the time from it listening again to the next frame the edge's"
             f" network source delivers (it retries at most every {r['reconnect_max_s']:g} s):", ""]  # fmt: skip
    rows = [[f"{round_['away_s']:g} s", f"{round_['resumed_s']:.2f} s"] for round_ in r["rounds"]]
    return lines + table(["server away", "streaming again after"], rows)


def terminal(results: dict) -> str:
    """results.md without the Markdown separator rows."""
    return "\n".join(line for line in markdown(results).splitlines() if not line.startswith("|---"))


def _save(fig: plt.Figure, path: Path) -> None:
    fig.tight_layout()
    save_figure(fig, path)


def plots(results: dict, out: Path) -> list[Path]:
    written = [detection_plot(results["detection"], out)] if results.get("detection") else []
    if results.get("real_faces"):
        written.append(real_faces_plot(results["real_faces"], out))
    if results.get("zoo"):
        written.append(zoo_plot(results["zoo"], out))
    if "latency" not in results:
        return written
    for clip, pipelines in results["pipeline"].items():
        slug = clip.replace(" ", "_")
        names = list(pipelines)
        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
        bottom = [0.0] * len(names)
        for stage in STAGES:
            values = [pipelines[n]["stages"].get(stage, {}).get("mean_ms", 0.0) for n in names]
            if any(values):
                left.barh(names, values, left=bottom, label=stage)
                bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        left.set_xlabel("ms per frame (mean)")
        left.set_title(f"Where a frame's time goes ({clip})")
        left.legend()
        right.barh(names, [pipelines[n]["fps"] for n in names], color="tab:green")
        right.set_xlabel("frames per second (median)")
        right.set_title("FPS per pipeline")
        path = out / f"pipeline_{slug}.png"
        _save(fig, path)
        written.append(path)
    models = list(results["latency"])
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    axes[0].bar(models, [results["latency"][m]["threads_1"]["per_face"]["p50_ms"] for m in models])
    axes[0].set_title("per-face latency, 1 thread (ms)")
    axes[1].bar(models, [results["sizes"][m] / 1e6 for m in models])
    axes[1].set_title("file size (MB)")
    if results.get("accuracy"):
        split = results["accuracy"]["validation_split"]
        axes[2].bar(models, [results["accuracy"]["splits"][split][m]["accuracy"] * 100 for m in models])
        axes[2].set_title(f"{split} accuracy (%)")
        axes[2].set_ylim(0, 100)
    path = out / "float_vs_int8.png"
    _save(fig, path)
    written.append(path)
    return written
