"""One guard per job, and every entry point through it: the same hostile input given to every console script and
`python -m` entry point (train, convert, convert faceapi, edge, benchmarks) gets one line and exit 2.

The guards live in the modules that own their job: a secret in an error line is hidden by `run_cli` and `Parser`
(edge/common/errors.py, options.py: `redact_text`); a file read whole is read by `read_capped`, one read as a stream
is checked by `check_regular` (edge/common/files.py); a path a file names is contained by `inside` (files.py); an
image is decoded under the 50-megapixel cap, which every stage's package sets before cv2 loads (edge/common/images.py).
The hostile run of 2026-12-07 found two guards that held in one entry point only (E12: benchmarks decoded a 400 MP
image whole; E14: the importer read /dev/zero); these walks fail if any entry point goes round a guard again.
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
import tomllib

from tests.conftest import ROOT, error_lines, subprocess_env

SECRET = "S3CRETpw"
URL = f"rtsp://admin:{SECRET}@127.0.0.1:1/x"
PACKAGE = ROOT / "tests" / "fixtures" / "faceapi" / "package"
CAP = "OPENCV_IO_MAX_IMAGE_PIXELS"  # unset in the children: a user's fresh shell has no cap of its own
ENTRY_POINTS = ("train", "convert", "convert faceapi", "edge", "benchmarks")


# The entry point is started by a small launcher: Linux counts the RSS a process had before its exec into its peak,
# and a child forked straight from this (large, TensorFlow-holding) test process would report the test's own size.
LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, "-m", *sys.argv[2:]])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as peak:
    peak.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run(entry: str, *args: str, timeout: float = 300) -> tuple[subprocess.CompletedProcess, int]:
    """`python -m ENTRY ARGS` from the repo root in a fresh shell's environment; with its peak memory in MB (from
    wait4 in the launcher, so the output goes to files, not pipes)."""
    env = {k: v for k, v in subprocess_env().items() if k != CAP}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err, \
            tempfile.NamedTemporaryFile("r") as peak:  # fmt: skip
        process = subprocess.Popen([sys.executable, "-c", LAUNCHER, peak.name, *entry.split(), *args], cwd=ROOT,
                                   env=env, text=True, stdout=out, stderr=err, start_new_session=True)  # fmt: skip
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:  # a hang ends as a failure, not a stuck suite
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        out.seek(0)
        err.seek(0)
        result = subprocess.CompletedProcess(process.args, process.returncode, out.read(), err.read())
        kilobytes = int(peak.read() or 0)
    return result, kilobytes // 1024


def one_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr[-2000:]
    return lines[0]


def test_every_console_script_is_walked() -> None:
    """A new entry point in pyproject's [project.scripts] must join the walks below."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert {target.split(".")[0] for target in scripts.values()} == {entry.split()[0] for entry in ENTRY_POINTS}


# A secret in a URL, given where a file is expected, and echoed by an option error


def secret_where_a_path_goes(entry: str, tmp_path: Path) -> list[str]:
    return {
        "train": ["--data", URL, "--out", str(tmp_path / "run")],
        "convert": [URL, "--out", str(tmp_path / "out")],
        "convert faceapi": ["--package", URL, "--out", str(tmp_path / "out")],
        "edge": ["--source", "demo", "--model", URL],
        "benchmarks": ["--real-faces-only", "--readme", URL, "--out", str(tmp_path / "out")],
    }[entry]


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("where", ["a path", "an unknown option"])
def test_no_entry_point_prints_a_secret(tmp_path: Path, entry: str, where: str) -> None:
    args = secret_where_a_path_goes(entry, tmp_path)
    if where == "an unknown option":  # argparse echoes it: `unrecognized arguments: --no-such-option=rtsp://…`
        args = [*args, f"--no-such-option={URL}"]
    result, _ = run(entry, *args)
    line = one_line(result)
    assert SECRET not in result.stdout + result.stderr
    assert "admin:***@127.0.0.1:1/x" in line, line  # named, so the user sees which argument


# A file that never ends (a link to /dev/zero) where each entry point reads one


def zero(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to("/dev/zero")
    return path


def endless_file(entry: str, tmp_path: Path) -> list[str]:
    model = tmp_path / "m.keras"
    model.write_bytes(b"x")
    if entry == "convert faceapi":
        shutil.copytree(PACKAGE, tmp_path / "package")
        (tmp_path / "package" / "package.json").unlink()
        zero(tmp_path / "package" / "package.json")
        return ["--package", str(tmp_path / "package"), "--out", str(tmp_path / "out")]
    if entry == "edge":
        shutil.copytree(ROOT / "edge" / "model", tmp_path / "model")
        (tmp_path / "model" / "contract.json").unlink()
        zero(tmp_path / "model" / "contract.json")
        return ["--source", "demo", "--model", str(tmp_path / "model")]
    csv = str(zero(tmp_path / "data" / "labels.csv"))
    return {
        "train": ["--data", csv, "--out", str(tmp_path / "run")],
        "convert": [str(model), "--data", csv, "--out", str(tmp_path / "out")],
        "benchmarks": ["--real-faces-only", "--real-faces", str(tmp_path / "data"), "--out", str(tmp_path / "out")],
    }[entry]


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_no_entry_point_reads_a_file_that_never_ends(tmp_path: Path, entry: str) -> None:
    result, peak = run(entry, *endless_file(entry, tmp_path), timeout=120)
    line = one_line(result)
    assert "not a regular file" in line or "no contract.json" in line, line
    print(f"{entry}: {peak} MB peak")


# An image over the 50-megapixel cap, where an entry point reads images (train and the importer read none)


def huge_png(path: Path, side: int) -> Path:
    """A gray PNG of side x side zero pixels, a few hundred KB on disk, written row by row (no big array here):
    decoded whole, in colour, it takes 3 * side**2 bytes."""
    compress, body = zlib.compressobj(9), []
    row = b"\0" * (side + 1)  # filter byte 0, then the row
    body = [compress.compress(row) for _ in range(side)] + [compress.flush()]

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)  # 8-bit gray
    path.parent.mkdir(parents=True, exist_ok=True)
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(body)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunks)
    return path


SIDE = 20_000  # 400 megapixels: 1.2 GB decoded in colour, 400 MB in gray
IMAGE_READERS: dict[str, Callable[[Path], list[str]]] = {
    "edge": lambda tmp: ["--source", str(huge_png(tmp / "big.png", SIDE))],
    "benchmarks": lambda tmp: [
        "--real-faces-only", "--real-faces", str(labelled(huge_png(tmp / "rf" / "big.png", SIDE))), "--out",
        str(tmp / "out"),
    ],
    "convert": lambda tmp: [
        str(dummy_model(tmp)), "--calibration", str(huge_png(tmp / "cal" / "big.png", SIDE).parent), "--out",
        str(tmp / "out"),
    ],
}  # fmt: skip


def labelled(image: Path) -> Path:
    (image.parent / "labels.csv").write_text(f"file,label\n{image.name},Happy\n")
    return image.parent


def dummy_model(tmp_path: Path) -> Path:
    (tmp_path / "m.keras").write_bytes(b"x")  # enough for the checks that run before the model is loaded
    return tmp_path / "m.keras"


@pytest.mark.slow
@pytest.mark.parametrize("entry", sorted(IMAGE_READERS))
def test_no_entry_point_decodes_an_image_over_the_cap(tmp_path: Path, entry: str) -> None:
    result, peak = run(entry, *IMAGE_READERS[entry](tmp_path))
    line = one_line(result)
    assert "over the 50-megapixel limit" in line or "no readable images" in line, line
    print(f"{entry}: {peak} MB peak")
    assert peak < 350, f"{entry} decoded the {SIDE}x{SIDE} image: {peak} MB"  # gray alone would be 400 MB


# A path that leaves its folder, where an entry point opens names a file gives (the importer's manifest,
# benchmarks' labels.csv; train, convert and edge open no path named inside a file)


def escaping_path(entry: str, tmp_path: Path) -> list[str]:
    shutil.copy(ROOT / "edge" / "assets" / "astronaut.jpg", tmp_path / "outside.bin")
    if entry == "convert faceapi":
        package = tmp_path / "pkg" / "package"
        shutil.copytree(PACKAGE, package)
        manifest = package / "model" / "face_expression_model-weights_manifest.json"
        manifest.write_text(manifest.read_text().replace('"face_expression_model.bin"', '"../../../outside.bin"'))
        return ["--package", str(package), "--out", str(tmp_path / "out")]
    (tmp_path / "rf").mkdir()
    (tmp_path / "rf" / "labels.csv").write_text("file,label\n../outside.bin,Happy\n")
    return ["--real-faces-only", "--real-faces", str(tmp_path / "rf"), "--out", str(tmp_path / "out")]


@pytest.mark.parametrize("entry", ["convert faceapi", "benchmarks"])
def test_no_entry_point_opens_a_path_outside_its_folder(tmp_path: Path, entry: str) -> None:
    result, _ = run(entry, *escaping_path(entry, tmp_path))
    assert "must lie inside" in one_line(result)
