"""`python -m benchmarks` checks what it writes and reads at its end before it measures anything (D6, D7 of the
hostile run of 2026-12-04): a refused --out, --real-faces or --readme used to cost minutes of measuring, then a
traceback or one line, and nothing written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

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


S, E = "<!-- real-faces:start -->", "<!-- real-faces:end -->"
PAGES = {  # E17, E29 (hostile run 2026-12-07): pages that passed the early check, then failed or half-updated
    "reversed": (f"# rev\n{E}\nold\n{S}\ntail\n", f"no '{E}' after '{S}'; the end marker must follow the start"),
    "two blocks": (f"# dup\n{S}\n1\n{E}\nmid\n{S}\n2\n{E}\n", f"'{S}' is there 2 times; keep one real_faces block"),
}


def real_faces_folder(folder: Path) -> Path:
    (folder / "images").mkdir(parents=True)
    shutil.copy(ROOT / "edge" / "assets" / "astronaut.jpg", folder / "images" / "a.jpg")
    (folder / "labels.csv").write_text("file,label\nimages/a.jpg,Happy\n")
    return folder


@pytest.mark.parametrize("case", PAGES)
def test_a_page_whose_markers_cannot_take_the_block_is_refused_before_measuring(tmp_path: Path, case: str) -> None:
    text, says = PAGES[case]
    page = tmp_path / "page.md"
    page.write_text(text)
    line = refused_before_measuring("--real-faces-only", "--real-faces", str(real_faces_folder(tmp_path / "rf")),
                                    "--out", str(tmp_path / "out"), "--readme", str(page))  # fmt: skip
    assert line == f"benchmarks: error: {page}: {says}"
    assert page.read_text() == text and not (tmp_path / "out").exists()


def test_a_file_where_the_plots_folder_goes_is_refused_before_measuring(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(f"# x\n{S}\n{E}\n")
    (tmp_path / "docs").touch()
    line = refused_before_measuring("--real-faces-only", "--real-faces", str(real_faces_folder(tmp_path / "rf")),
                                    "--out", str(tmp_path / "out"), "--readme", str(page))  # fmt: skip
    assert line == f"benchmarks: error: {tmp_path / 'docs'}: is a file; the page's plots go into a folder of that name"


@pytest.mark.parametrize("name", ["a|b", "line\nbreak"])
def test_a_zoo_model_name_that_would_break_the_table_is_refused(name: str) -> None:
    """E28: a name with | or a newline broke the zoo table of results.md and the page."""
    result = run_module("benchmarks", "--zoo-model", f"{name}=edge/models/vgg_wide", timeout=120)
    line = one_error_line(result, "python -m benchmarks")  # refused at parse time
    assert "NAME may not hold | or control characters" in line, line
