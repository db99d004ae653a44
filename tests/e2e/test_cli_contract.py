"""The README's promise for train, convert and benchmarks: bad input is one line on stderr and exit 2, found
before any work (and before TensorFlow prints anything); the commands share one grammar."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_module
from tests.synthetic import write_csv
from train.data import CHUNK_ROWS

# What TensorFlow's C++ start-up and its converter print; none of it may reach the terminal.
TF_NOISE = ("WARNING: All log messages", "I0000", "W0000", "E0000", "oneDNN", "cpu_feature_guard", "Saved artifact",
            "TensorSpec", "absl::")  # fmt: skip


def assert_one_line(result, message: str) -> None:
    """Exactly one line on stderr (nothing from TensorFlow or argparse around it), and exit 2."""
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [message]


def assert_no_tf_noise(stderr: str) -> None:
    assert not [line for line in stderr.splitlines() if any(noise in line for noise in TF_NOISE)], stderr


@pytest.mark.parametrize("command", [["train"], ["train", "evaluate"], ["convert"], ["convert", "card"]])
def test_help_prints_no_tensorflow_lines(command: list[str]) -> None:
    """--help never imports TensorFlow: exit 0, usage on stdout, nothing on stderr."""
    result = run_module(*command, "--help")
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith("usage: python -m")


@pytest.mark.parametrize("command", [["train"], ["convert"], ["convert", "card"], ["benchmarks"]])
def test_version(command: list[str]) -> None:
    """Every command answers --version with its name and the package."""
    result = run_module(*command, "--version")
    assert result.returncode == 0
    assert result.stdout.startswith(f"python -m {' '.join(command)} (fer-edge) ")


def argparse_error(result) -> str:
    """argparse's error as the only line, ending with a pointer to --help, and nothing from TensorFlow."""
    assert result.returncode == 2
    assert_no_tf_noise(result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].endswith(" (see --help)"), result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--data", "x.csv", "--epochs", "0"], "argument --epochs: '0' is not a positive integer"),
        (["train", "--data", "x.csv", "--lr", "-1"], "argument --lr: '-1' is not a positive number"),
        (["train", "--data", "x.csv", "--label-smoothing", "2"], "argument --label-smoothing: '2' is not a number in"),
        (["train", "--data", "x.csv", "--workers", "0"], "argument --workers: '0' is not a positive integer"),
        (["convert", "m.keras", "--min-agreement", "10000"], "argument --min-agreement: '10000' is not a number in"),
        (["convert", "m.keras", "--calibration-size", "0"], "argument --calibration-size: '0' is not a positive"),
        (["convert", "m.keras", "--max-eval-rows", "-5"], "argument --max-eval-rows: '-5' is not an integer >= 0"),
        (["benchmarks", "--rounds", "0"], "argument --rounds: '0' is not a positive integer"),
        (["benchmarks", "--frames", "-1"], "argument --frames: '-1' is not a positive integer"),
        (["benchmarks", "--sizes", "640by480"], "argument --sizes: '640by480' is not a size WIDTHxHEIGHT"),
        (["benchmarks", "--sizes", "640x480,0x10"], "argument --sizes: '0x10' is not a size WIDTHxHEIGHT"),
    ],
)  # fmt: skip
def test_out_of_range_options_are_refused_at_parse_time(args: list[str], message: str) -> None:
    """A number out of range is refused at parse time: argparse's one line names the option and the value."""
    assert message in argparse_error(run_module(*args))


def test_train_errors_come_before_tensorflow(tmp_path: Path, synthetic_csv: Path) -> None:
    """A bad --data is one line, with no TensorFlow start-up lines before it."""
    result = run_module("train", "--data", str(tmp_path / "none.csv"), "--arch", "tiny", "--out", str(tmp_path / "r"))
    assert_one_line(
        result,
        f"train: error: {tmp_path / 'none.csv'}: file not found (--data takes a FER-2013 CSV or a folder of labelled"
        " photos)",
    )


@pytest.mark.parametrize("kind", ["file", "proc", "full disk"])
def test_train_out_is_checked_before_training(tmp_path: Path, synthetic_csv: Path, kind: str) -> None:
    """An --out that cannot be written (a file, under /proc, a full disk) is one line before TensorFlow starts;
    an existing file there is left as it was."""
    out = {"file": tmp_path / "taken", "proc": Path("/proc/x"), "full disk": tmp_path / "run"}[kind]
    if kind == "file":
        out.write_text("mine")
    result = run_module("train", "--data", str(synthetic_csv), "--arch", "tiny", "--out", str(out),
                        max_file_bytes=0 if kind == "full disk" else None)  # fmt: skip
    reason = {"file": "exists and is not a folder; choose another --out",
              "proc": "cannot write the run folder here (No such file or directory)",
              "full disk": "cannot write the run folder here (File too large)"}[kind]  # fmt: skip
    assert_one_line(result, f"train: error: {out}: {reason}")
    if kind == "file":
        assert out.read_text() == "mine"


def test_batch_larger_than_the_training_rows_is_refused(tmp_path: Path) -> None:
    """--batch-size 64 on 40 Training rows is one line saying to use at most 40."""
    data = write_csv(tmp_path / "small.csv", {"Training": 40, "PublicTest": 14})
    result = run_module("train", "--data", str(data), "--arch", "tiny", "--batch-size", "64", "--out", str(tmp_path))
    message = f"--batch-size 64 is more than the 40 Training rows of {data}; use at most 40"
    assert_one_line(result, f"train: error: {message}")


def test_parse_of_a_gzip_with_a_bad_crc_is_one_line(tmp_path: Path) -> None:
    """A .gz longer than one chunk of rows whose CRC does not match is one line (BadGzipFile), though the CRC is
    checked only at the end of the stream, after the first chunk is parsed."""
    row = "3," + " ".join(["0"] * 2304) + ",Training\n"
    packed = bytearray(gzip.compress(("emotion,pixels,Usage\n" + row * (CHUNK_ROWS + 10)).encode(), compresslevel=1))
    packed[-8] ^= 0xFF  # the stored CRC32
    broken = tmp_path / "f.csv.gz"
    broken.write_bytes(bytes(packed))
    result = run_module("train", "parse", "--data", str(broken))
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"train: error: {broken}: not a readable CSV (BadGzipFile: CRC check failed")


def test_skip_bad_rows_names_every_bad_row(tmp_path: Path) -> None:
    """--skip-bad-rows names each of six bad rows by its line, all six."""
    good = "3," + " ".join(["7"] * 2304) + ",Training"
    path = tmp_path / "f.csv"
    path.write_text("\n".join(["emotion,pixels,Usage", *([good, "9,1 2,Training"] * 6), good]) + "\n")
    result = run_module("train", "parse", "--data", str(path), "--skip-bad-rows")
    assert result.returncode == 0, result.stderr
    named = [line for line in result.stderr.splitlines() if line.startswith("  line ")]
    assert named == [f"  line {3 + 2 * i}: emotion '9' is not a label 0..6" for i in range(6)]


@pytest.mark.slow
def test_convert_json_is_only_json_and_tensorflow_stays_quiet(tmp_path: Path, trained_run: Path,
                                                              synthetic_csv: Path) -> None:  # fmt: skip
    """`convert --json` prints only the JSON report on stdout, and no TensorFlow lines ('Saved artifact', its C++
    log) on stderr."""
    result = run_module("convert", str(trained_run / "model.keras"), "--data", str(synthetic_csv), "--out",
                        str(tmp_path / "m"), "--calibration-size", "50", "--min-agreement", "0", "--json",
                        check=True)  # fmt: skip
    report = json.loads(result.stdout)
    assert report["passed"] is True and set(report["variants"]) == {"float32", "int8"}
    assert_no_tf_noise(result.stderr)
    assert result.stderr.splitlines()[0].startswith(f"converting {trained_run / 'model.keras'} (tiny) to float32")


@pytest.mark.slow
def test_convert_card_on_a_float32_only_folder_is_one_line(tmp_path: Path, trained_run: Path) -> None:
    """`convert card` on a float32-only folder (`convert` without --data) is one line saying to reconvert with
    --data."""
    models = tmp_path / "f32"
    run_module("convert", str(trained_run / "model.keras"), "--out", str(models), check=True)
    result = run_module("convert", "card", "--run", str(trained_run), "--model", str(models), "--recipe",
                        str(ROOT / "train" / "recipes" / "vgg_wide.sh"), "--hardware", "x")  # fmt: skip
    assert_one_line(result, f"convert: error: {models}: converted without --data (no model_int8.tflite, no accuracy"
                            " in conversion_report.json), and the card is made of those figures; reconvert with"
                            " --data CSV first")  # fmt: skip


def test_convert_on_a_full_disk_is_one_line_and_keeps_the_folder(tmp_path: Path, converted: Path,
                                                                 trained_run: Path) -> None:  # fmt: skip
    """A full disk under convert's --out is one line before TensorFlow starts, and leaves the folder empty."""
    out = tmp_path / "m"
    out.mkdir()
    result = run_module("convert", str(trained_run / "model.keras"), "--out", str(out), max_file_bytes=0)
    assert_one_line(result, f"convert: error: {out}: cannot write the model folder here (File too large)")
    assert list(out.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["m"]


NATIVE = """
import os, sys
from edge.common.quiet import quiet_native
with quiet_native(hide_stdout={hide}):
    os.write(1, b"native out\\n"); os.write(2, b"native err\\n")
    print("python out"); print("python err", file=sys.stderr)
print("after")
"""


@pytest.mark.parametrize("hide", [False, True])
def test_native_output_is_hidden_and_python_output_kept(hide: bool) -> None:
    script = NATIVE.format(hide=hide)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout == ("" if hide else "python out\n") + "after\n"
    assert result.stderr == "python err\n"


def test_native_output_is_replayed_before_a_bugs_traceback() -> None:
    script = NATIVE.replace('print("python err", file=sys.stderr)', "raise RuntimeError('a bug')")
    result = subprocess.run([sys.executable, "-c", script.format(hide=False)], cwd=ROOT, capture_output=True,
                            text=True)  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("native out\nnative err\nTraceback")
