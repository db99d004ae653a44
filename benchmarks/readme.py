"""Put a benchmark's own results.md and plot into the README, so its figures are never retyped."""

from __future__ import annotations

import shutil
from pathlib import Path

from edge.atomic import write_text
from edge.errors import UserError

START, END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"
FIGURES = "docs"


def update_readme(readme: Path, out: Path, results: dict) -> None:
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise UserError(f"{readme}: no '{START}' ... '{END}' markers to put the results between")
    figures = readme.parent / FIGURES
    figures.mkdir(exist_ok=True)
    images = []
    for name in results["plots"]:
        if "640x480" in name or name == "float_vs_int8.png":
            shutil.copyfile(out / name, figures / name)
            images.append(f"![{name}]({FIGURES}/{name})")
    body = (out / "results.md").read_text(encoding="utf-8").strip()
    before, rest = text.split(START, 1)
    after = rest.split(END, 1)[1]
    write_text(readme, f"{before}{START}\n{body}\n\n" + "\n\n".join(images) + f"\n{END}{after}")
