"""`python -m benchmarks` checks what it writes and reads at its end before it measures anything (D6, D7 of the
hostile run of 2026-12-04): a refused --out, --real-faces or --readme used to cost minutes of measuring, then a
traceback or one line, and nothing written."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import ROOT, run_module
from tests.e2e.test_edge_stops import one_error_line

CHEAP = ("--quick", "--no-zoo", "--no-viewers", "--no-reconnect", "--no-reference", "--detect-frames", "2")


def refused_before_measuring(*args: str) -> str:
    """The run's one error line; no step was measured (no progress bar was drawn)."""
    result = run_module("benchmarks", *CHEAP, *args, timeout=900)
    line = one_error_line(result, "benchmarks")
    assert "step" not in result.stderr, result.stderr
    return line


def test_an_out_that_is_a_file_is_refused_before_measuring(tmp_path: Path) -> None:
    """D6: --out naming a file threw FileExistsError (a traceback) after the whole run."""
    afile = tmp_path / "afile"
    afile.touch()
    line = refused_before_measuring("--out", str(afile))
    assert line == f"benchmarks: error: --out {afile}: is a file; the results need a folder"


def test_real_faces_without_labels_and_a_readme_without_markers_are_refused_before_measuring(tmp_path: Path) -> None:
    """D7: a --real-faces folder without labels.csv, and a --readme page without its markers, were refused only after
    every measurement, and nothing was written."""
    faces = tmp_path / "rf"
    (faces / "Happy").mkdir(parents=True)
    shutil.copy(ROOT / "edge" / "assets" / "astronaut.jpg", faces / "Happy")
    out = tmp_path / "bq_rf"
    line = refused_before_measuring("--real-faces", str(faces), "--out", str(out))
    assert line.startswith(f"benchmarks: error: {faces / 'labels.csv'}: not found")
    assert not out.exists()
    page = tmp_path / "page.md"
    page.write_text("# figures\n<!-- benchmarks:start -->\n<!-- benchmarks:end -->\n")
    line = refused_before_measuring("--readme", str(page), "--real-faces", str(tmp_path / "none"), "--out", str(out))
    markers = "'<!-- detection:start -->' ... '<!-- detection:end -->'"
    assert line == f"benchmarks: error: {page}: no {markers} markers to put the results between"
    assert not out.exists()
