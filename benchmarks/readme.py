"""Put a benchmark's own results and plots into a Markdown page (docs/performance.md), so its figures are never
retyped.

Four blocks, each replaced only when this run measured it (a page needs only the markers of the blocks it gets):
the model and pipeline figures between the `benchmarks` markers, the detection figures between the `detection`
markers, the real-faces figures between the `real-faces` markers, the model zoo between the `zoo` markers. The plots
go into a docs/ folder: the page's own when it lives in one (linked by name), else one beside it (linked as
docs/NAME)."""

from __future__ import annotations

import shutil
from pathlib import Path

from benchmarks.detection_report import PLOT, detection_markdown
from benchmarks.real_faces import PLOT as REAL_FACES_PLOT
from benchmarks.real_faces import real_faces_markdown
from benchmarks.report import general_markdown
from benchmarks.zoo import PLOT as ZOO_PLOT
from benchmarks.zoo import zoo_markdown
from edge.common.errors import UserError
from edge.common.files import check_writable, write_text

START, END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"
DETECTION_START, DETECTION_END = "<!-- detection:start -->", "<!-- detection:end -->"
REAL_FACES_START, REAL_FACES_END = "<!-- real-faces:start -->", "<!-- real-faces:end -->"
ZOO_START, ZOO_END = "<!-- zoo:start -->", "<!-- zoo:end -->"
FIGURES = "docs"
BLOCKS = {  # the results' section -> the markers of the page's block it fills
    "latency": (START, END),
    "detection": (DETECTION_START, DETECTION_END),
    "real_faces": (REAL_FACES_START, REAL_FACES_END),
    "zoo": (ZOO_START, ZOO_END),
}


def _markers_missing(text: str, section: str, readme: Path) -> UserError | None:
    """Why the page cannot take this section's block: no markers, the start marker twice (a second, stale block
    would stay without a word), or no end marker after the start."""
    start, end = BLOCKS[section]
    if start not in text or end not in text:
        return UserError(f"{readme}: no '{start}' ... '{end}' markers to put the results between")
    if text.count(start) > 1:
        return UserError(f"{readme}: '{start}' is there {text.count(start)} times; keep one {section} block")
    if end not in text.split(start, 1)[1]:
        return UserError(f"{readme}: no '{end}' after '{start}'; the end marker must follow the start")
    return None


def _figures_folder(readme: Path) -> tuple[Path, str]:
    """Where the plots go, and how the page links them: the page's own docs/ folder, else a docs/ beside it."""
    inside = readme.resolve().parent.name == FIGURES
    return (readme.parent, "") if inside else (readme.parent / FIGURES, f"{FIGURES}/")


def check_readme(readme: Path, sections: list[str]) -> None:
    """Before any measuring (minutes): the page can be read and written and has the markers of every block this
    run will fill, so the figures are never measured and then refused."""
    try:
        text = readme.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{readme}: cannot read the page ({getattr(exc, 'strerror', None) or 'not UTF-8'})") from None
    for section in sections:
        if problem := _markers_missing(text, section, readme):
            raise problem
    check_writable(readme, "page")
    figures, _ = _figures_folder(readme)
    if figures.exists() and not figures.is_dir():
        raise UserError(f"{figures}: is a file; the page's plots go into a folder of that name")


def _replace(text: str, section: str, body: str, readme: Path) -> str:
    if problem := _markers_missing(text, section, readme):
        raise problem
    start, end = BLOCKS[section]
    before, rest = text.split(start, 1)
    after = rest.split(end, 1)[1]
    return f"{before}{start}\n{body}\n{end}{after}"


def _figures(readme: Path, out: Path, names: list[str]) -> str:
    figures, prefix = _figures_folder(readme)
    figures.mkdir(exist_ok=True)
    for name in names:
        shutil.copyfile(out / name, figures / name)
    return "\n\n".join(f"![{name}]({prefix}{name})" for name in names)


def update_readme(readme: Path, out: Path, results: dict) -> None:
    text = readme.read_text(encoding="utf-8")
    if "latency" in results:
        names = [n for n in results["plots"] if "640x480" in n or n == "float_vs_int8.png"]
        body = general_markdown(results).strip() + "\n\n" + _figures(readme, out, names)
        text = _replace(text, "latency", body, readme)
    if results.get("detection"):
        body = detection_markdown(results).strip() + "\n\n" + _figures(readme, out, [PLOT])
        text = _replace(text, "detection", body, readme)
    if results.get("real_faces"):
        body = real_faces_markdown(results).strip() + "\n\n" + _figures(readme, out, [REAL_FACES_PLOT])
        text = _replace(text, "real_faces", body, readme)
    if results.get("zoo"):
        body = zoo_markdown(results).strip() + "\n\n" + _figures(readme, out, [ZOO_PLOT])
        text = _replace(text, "zoo", body, readme)
    write_text(readme, text)
