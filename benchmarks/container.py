"""The container image (Containerfile, docs/container.md): its figures as verdicts, and the podman plumbing that
these figures and the container tests share.

Figures: the image's size, the seconds from `podman run` to the first frame of the demo, and the pipeline's FPS
inside the container against the same run in this Python (same options, same demo, alternating rounds).

podman runs with container/containers.conf (runc, podman's default ulimits off: what hosts with hybrid cgroups
need) unless CONTAINERS_CONF names another. The image is built as a user builds it, by `make image`, which builds
the local Debian base first where it is missing (container/base.sh, as root).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.markdown import table, verdict_table
from benchmarks.rtsp_server import free_port
from edge.common.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
CONTAINERS_CONF = ROOT / "container" / "containers.conf"
ENTRYPOINT = ROOT / "container" / "entrypoint.sh"
IMAGE = "localhost/fer-edge:latest"
DATA = "/data"  # the image's volume: its JSONL and summary land here
SBIN = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
TARGET_SIZE_MB = 450.0
TARGET_FIRST_FRAME_S = 5.0
TARGET_FPS_GAP = 0.05  # FPS inside the container within 5% of the same run outside it
CONTAINER_FRAMES = 300  # frames of the looping demo per FPS run (about 10 s here)
GROUP = "container"


def podman_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": os.environ.get("CONTAINERS_CONF") or str(CONTAINERS_CONF)}


def podman(*args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    """`podman ARGS` with this project's settings; a failure (when `check`) raises with podman's last line."""
    result = subprocess.run(["podman", *args], env=podman_env(), capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args[:2])}: exit {result.returncode}: {last_line(result.stderr)}")
    return result


def last_line(text: str) -> str:
    """The last line of podman's stderr that is not its complaint about systemd timers for health checks (a host
    without systemd running, as in a CI container, says it on every run)."""
    lines = [line for line in text.strip().splitlines() if "unable to get systemd connection" not in line]
    return lines[-1] if lines else ""


def make_variable(name: str) -> str:
    """A variable of the Makefile (its one definition), such as BASE, the image `make image` builds upon."""
    rule = f"print-variable: ; @echo $({name})"
    result = subprocess.run(["make", "-s", "--no-print-directory", "--eval", rule, "print-variable"], cwd=ROOT,
                            capture_output=True, text=True, check=True)  # fmt: skip
    return result.stdout.strip()


def cannot_run() -> str | None:
    """Why podman cannot run the smallest container there is, or None: the host's `true` and the libraries it
    links as the root file system (no image needed, so this is asked before minutes of building a base)."""
    true = shutil.which("true")
    if true is None:
        return "no `true` command on this host"
    libraries = subprocess.run(["ldd", true], capture_output=True, text=True).stdout
    with tempfile.TemporaryDirectory(prefix="fer-edge-probe-") as root:
        for path in [true, *re.findall(r"(/\S+)", libraries)]:
            copy = Path(root, path.lstrip("/"))
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, copy)
        probe = podman("run", "--rm", "--network=none", "--rootfs", root, true, check=False, timeout=120)
    return f"podman cannot run a container here: {last_line(probe.stderr)}" if probe.returncode else None


def podman_missing() -> str | None:
    """Why the image cannot be built and run here, or None once it can: the tools, a container that runs, and
    root for the local base (which this builds where it is missing)."""
    for tool in ("podman", "runc", "make"):
        if shutil.which(tool, path=SBIN) is None:
            return f"{tool} is not installed (apt-get install podman debootstrap runc make)"
    reason = cannot_run()
    if reason:
        return reason
    base = make_variable("BASE")
    if base.startswith("localhost/") and podman("image", "exists", base, check=False).returncode != 0:
        if os.geteuid() != 0:
            return f"the base image {base} is missing and container/base.sh (debootstrap) needs root"
        if shutil.which("debootstrap", path=SBIN) is None:
            return "debootstrap is not installed (apt-get install debootstrap), for the base image"
        result = subprocess.run(["container/base.sh", base], cwd=ROOT, env=podman_env(), capture_output=True,
                                text=True, timeout=1200)  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"container/base.sh: {last_line(result.stderr)}")
    return None


def build_image(image: str = IMAGE) -> None:
    """`make image` for `image` (layers cached by podman: a rebuild after no change takes seconds)."""
    result = subprocess.run(["make", "image", f"IMAGE={image}"], cwd=ROOT, env=podman_env(), capture_output=True,
                            text=True, timeout=1800)  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"make image: {last_line(result.stderr) or last_line(result.stdout)}")


def entrypoint_options() -> list[str]:
    """The options the image's entry point gives `python -m edge` before $FER_EDGE_ARGS, read from the script (its
    one definition)."""
    words = " ".join(ENTRYPOINT.read_text().replace("\\\n", " ").split()).split(" ")
    start = words.index("edge", words.index("python")) + 1
    return words[start : words.index("${FER_EDGE_ARGS:-}")]


def image_size_mb(image: str) -> float:
    return int(podman("image", "inspect", image, "--format", "{{.Size}}").stdout) / 1e6


def first_frame_seconds(image: str) -> float:
    """From starting `podman run` on the demo to the first frame's JSON line on its standard output."""
    started = time.monotonic()
    jsonl = ["--jsonl", "-", "--jsonl-max-mb", "0"]  # each frame's line on stdout, not rotated in /data
    command = ["podman", "run", "--rm", "--network=none", image, *jsonl, "--max-frames", "5"]
    with subprocess.Popen(command, env=podman_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True) as process:  # fmt: skip
        for line in process.stdout:
            if line.startswith("{"):
                seconds = time.monotonic() - started
                break
        else:
            raise RuntimeError(f"podman run {image}: no frame (exit {process.wait()})")
        process.wait(timeout=120)
    return seconds


def venv_options(folder: Path) -> list[str]:
    """The entry point's options with its files in `folder` and the web view on a free port of loopback."""
    options = [option.replace(f"{DATA}/", f"{folder}/") for option in entrypoint_options()]
    return [option if option != "0.0.0.0:8000" else f"127.0.0.1:{free_port()}" for option in options]


def run_fps(image: str | None, frames: int) -> float:
    """The pipeline's FPS on `frames` frames of the looping demo: in a container of `image`, or in this Python
    with the same options (`image` None)."""
    demo = ["--loop", "--max-frames", str(frames)]
    with tempfile.TemporaryDirectory(prefix="fer-edge-bench-") as folder:
        if image is None:
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            subprocess.run([sys.executable, "-m", "edge", *venv_options(Path(folder)), *demo], cwd=ROOT, env=env,
                           check=True, capture_output=True, timeout=600)  # fmt: skip
        else:
            podman("run", "--rm", "--network=none", "-v", f"{folder}:{DATA}:U", image, *demo)
        return json.loads((Path(folder) / "last-summary.json").read_text())["fps"]


def container_benchmark(image: str, frames: int, rounds: int, progress=None) -> dict:
    """Size, time to first frame and FPS in and out of the container, in `rounds` alternating rounds (medians)."""
    first, inside, outside = [], [], []
    try:
        reason = podman_missing()
        if reason:
            return {"skipped": reason}
        build_image(image)
        for _ in range(rounds):
            first.append(first_frame_seconds(image))
            inside.append(run_fps(image, frames))
            outside.append(run_fps(None, frames))
            if progress is not None:
                progress.update(1)
    except (RuntimeError, subprocess.CalledProcessError) as exc:  # a build or run that failed: podman's own line
        raise UserError(f"--container: {exc}") from None
    return {
        "image": image,
        "base": make_variable("BASE"),
        "size_mb": round(image_size_mb(image), 1),
        "first_frame_s": [round(s, 3) for s in first],
        "fps_inside": [round(f, 2) for f in inside],
        "fps_outside": [round(f, 2) for f in outside],
        "frames": frames,
        "options": entrypoint_options(),
    }


def fps_gap(section: dict) -> float:
    """inside / outside - 1, the median over rounds of each round's pair: the two runs of a round follow each other,
    so a machine that is busier in one round than in another (other work, its own clock) weighs on both alike."""
    return statistics.median(a / b for a, b in zip(section["fps_inside"], section["fps_outside"], strict=True)) - 1


def container_verdicts(section: dict) -> list[dict]:
    if "skipped" in section:
        return []
    first = statistics.median(section["first_frame_s"])
    inside, outside = statistics.median(section["fps_inside"]), statistics.median(section["fps_outside"])
    gap = fps_gap(section)
    return [
        {"target": f"image size <= {TARGET_SIZE_MB:g} MB (uncompressed)", "value": f"{section['size_mb']:.0f} MB",
         "met": section["size_mb"] <= TARGET_SIZE_MB, "group": GROUP},
        {"target": f"`podman run` to the demo's first frame <= {TARGET_FIRST_FRAME_S:g} s (median)",
         "value": f"{first:.2f} s", "met": first <= TARGET_FIRST_FRAME_S, "group": GROUP},
        {"target": f"FPS inside the container within {TARGET_FPS_GAP:.0%} of the same run outside (median of the"
                   " rounds' ratios)",
         "value": f"{gap:+.1%} ({inside:.1f} vs {outside:.1f} FPS, medians)", "met": abs(gap) <= TARGET_FPS_GAP,
         "group": GROUP},
    ]  # fmt: skip


def container_markdown(results: dict) -> str:
    section, facts = results["container"], results["machine"]
    if "skipped" in section:
        return f"Container: not measured ({section['skipped']})."
    rounds = list(zip(section["first_frame_s"], section["fps_inside"], section["fps_outside"], strict=True))
    lines = [
        f"Container `{section['image']}` (base `{section['base']}`), measured on {facts['cpu']} ({facts['cores']}"
        f" cores), {facts['date'][:10]}; `{results['command']}`. The demo, {section['frames']} frames with the image's"
        f" own options (`{' '.join(section['options'])}`), in the container and in this Python,"
        f" {len(rounds)} alternating rounds:",
        "",
        *table(
            ["round", "podman run to first frame", "FPS inside", "FPS outside", "inside / outside"],
            [
                [str(i), f"{s:.2f} s", f"{a:.1f}", f"{b:.1f}", f"{a / b - 1:+.1%}"]
                for i, (s, a, b) in enumerate(rounds, 1)
            ],
        ),
        "",
        *verdict_table([v for v in results["verdicts"] if v.get("group") == GROUP]),
    ]
    return "\n".join(lines)
