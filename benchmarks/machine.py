"""Facts about the machine a benchmark ran on, stored beside every figure."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
from pathlib import Path

PACKAGES = ("numpy", "opencv-python-headless", "ai-edge-litert", "tflite-runtime", "tensorflow", "keras")


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith(("model name", "Model", "Hardware")):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


# The instructions an int8 TFLite model's convolutions run on, fastest first (as /proc/cpuinfo names them): VNNI's
# 8-bit dot products made int8 about 10x faster on one x86 machine than AVX2 alone on another, and a Pi 4's
# Cortex-A72 has no dot-product instruction (asimddp) either, so its figures are closer to the AVX2 machine's.
INT8_PATHS = ("avx512_vnni", "avx_vnni", "avx2", "asimddp", "asimd", "neon")


def cpu_flags() -> set[str]:
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return set()
    for line in cpuinfo.read_text().splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


def int8_path(flags: set[str] | None = None) -> str:
    """The fastest int8 instruction set this CPU has, of `INT8_PATHS` ("none" when it has none of them)."""
    flags = cpu_flags() if flags is None else flags
    return next((name for name in INT8_PATHS if name in flags), "none")


def machine_facts() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "int8_path": int8_path(),
        "machine": platform.machine(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": versions,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
