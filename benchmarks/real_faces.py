"""Expression accuracy on real photographs: any folder with a `labels.csv` (`file,label[,subject,...]`).

FER-2013 accuracy says little about faces from a camera. This scores the whole pipeline (detection, crop,
classification) on labelled photos: by default ../shared/real-faces/london (the Face Research Lab London Set,
read where it lies and never copied into the project), or the user's own photos.

Each photo is an unrelated frame (`Pipeline.reset()` before it); its LARGEST face is the answer and a photo where no
face is found counts wrong. Per model and detector: accuracy, recall per label present, a confusion matrix (true
labels x the model's labels + "no face") and, where labels.csv has a `subject` column, the paired score: for each
subject photographed neutral and with an expression, does the expressive photo get the higher probability for its
own label than the neutral photo does?
"""

from __future__ import annotations

import os
import re
from collections import Counter, defaultdict
from pathlib import Path

import matplotlib
import numpy as np

from benchmarks.markdown import table, verdict_table
from edge import DetectorConfig, Face, Pipeline
from edge.common.errors import UserError
from edge.common.images import unreadable
from train.photos import Row, read_image, read_labels, where
from train.plots import save_figure

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parents[1]
REAL_FACES = ROOT.parent / "shared" / "real-faces" / "london"
NEUTRAL = "Neutral"
NO_FACE = "no face"
PLOT = "real_faces.png"
GROUP = "real_faces"
# Targets for the first model given with the detector the edge CLI defaults to: "accuracy", else a label's recall.
TARGETS = {"accuracy": 0.82, "Happy": 0.66, "Neutral": 0.94}


def _check_labels(folder: Path, rows: list[Row], model: str, labels: list[str]) -> None:
    for row in rows:
        if row.label not in labels:
            raise UserError(
                f"{where(folder, row.line)}: label {row.label!r} is not one of model {model}'s labels"
                f" ({', '.join(labels)})"
            )


def _read_image(folder: Path, row: Row) -> np.ndarray:
    image = read_image(folder, row)  # EXIF orientation applied, as a viewer shows it
    if image is None:
        raise UserError(f"{where(folder, row.line)}: {row.file}: {unreadable(folder / row.file)}")
    return image


def largest(faces: list[Face]) -> Face | None:
    return max(faces, key=lambda face: face.box[2] * face.box[3]) if faces else None


def paired_score(rows: list[Row], probabilities: list[dict[str, float] | None]) -> dict:
    """Pairs (a subject's neutral photo, one of its expressive photos) where the expressive photo gets the higher
    probability for its own label. A photo with no face found loses its pair."""
    photos: dict[str, list[tuple[Row, dict[str, float] | None]]] = defaultdict(list)
    for row, p in zip(rows, probabilities, strict=True):
        if row.subject:
            photos[row.subject].append((row, p))
    right = pairs = 0
    for subject_photos in photos.values():
        neutral = [p for row, p in subject_photos if row.label == NEUTRAL]
        for row, expressive in subject_photos:
            if row.label == NEUTRAL:
                continue
            for calm in neutral:
                pairs += 1
                right += expressive is not None and calm is not None and expressive[row.label] > calm[row.label]
    return {"right": right, "pairs": pairs}


def summarise(rows: list[Row], faces: list[Face | None], labels: list[str], subjects: bool) -> dict:
    """Accuracy, recall per label present, confusion matrix and paired score of one model with one detector."""
    present = [label for label in labels if any(row.label == label for row in rows)]
    confusion = {truth: dict.fromkeys([*labels, NO_FACE], 0) for truth in present}
    wrong = []
    for row, face in zip(rows, faces, strict=True):
        said = face.label if face else NO_FACE
        confusion[row.label][said] += 1
        if said != row.label:
            wrong.append([row.file, said])
    correct = sum(confusion[label][label] for label in present)
    return {
        "images": len(rows),
        "correct": correct,
        "accuracy": round(correct / len(rows), 4),
        "no_face": sum(counts[NO_FACE] for counts in confusion.values()),
        "recall": {label: round(confusion[label][label] / sum(confusion[label].values()), 4) for label in present},
        "confusion": confusion,
        "pairs": paired_score(rows, [face.probabilities if face else None for face in faces]) if subjects else None,
        "wrong": wrong,
    }


def credit(folder: Path) -> str:
    """Who to credit for the photos: a `Credit:` line in the folder's README.md (or in its parent's, when that
    names the folder), else one built from its `Source: Authors (year). *Title*` and `Licence:`; else the
    folder's name."""
    for readme in (folder / "README.md", folder.parent / "README.md"):
        if not readme.is_file():
            continue
        text = readme.read_text(encoding="utf-8", errors="replace")
        if readme.parent != folder and f"{folder.name}/" not in text:
            continue
        line = re.search(r"^[\s>*-]*credit:\s*(.+?)\s*$", text, re.IGNORECASE | re.MULTILINE)
        if line:
            return line.group(1)
        source = re.search(r"source:\s*([^(\n]+?)\s*\((\d{4})\)\.?\s*\*([^*\n]+)\*", text, re.IGNORECASE)
        if source:
            authors, year, title = source.groups()
            names = " & ".join(part.split(",")[0].strip() for part in re.split(r"&| and ", authors) if part.strip())
            licence = re.search(r"licen[cs]e:\s*(?:\*\*([^*\n]+)\*\*|([^(\n]+?)(?:\s*\(|\.\s|\.?$))", text,
                                re.IGNORECASE | re.MULTILINE)  # fmt: skip
            licence_name = next((g.strip() for g in licence.groups() if g), "") if licence else ""
            return f"{title.strip()} ({names} {year}" + (f", {licence_name})" if licence_name else ")")
    return folder.name


def shown(path: Path) -> str:
    """A path as the figures show it: relative to the repository when it is near (no home folder in a README)."""
    try:
        return os.path.relpath(path.resolve(), ROOT)
    except ValueError:  # another drive
        return str(path)


def score_real_faces(folder: Path, models: dict[str, Path], detectors: tuple[str, ...] | list[str]) -> dict:
    """Every model (a converted folder or a .tflite file, by name) with every detector on the photos of `folder`.

    The first model is the one the targets (`TARGETS`) apply to. Each photo is decoded once and given to every
    pipeline in turn, so memory holds one photo at a time."""
    rows, subjects = read_labels(folder)
    pipelines: dict[tuple[str, str], Pipeline] = {}
    try:
        for name, model in models.items():
            for detector in detectors:
                pipelines[name, detector] = Pipeline(model, detector=detector)
            _check_labels(folder, rows, name, pipelines[name, detectors[0]].contract.labels)
        found: dict[tuple[str, str], list[Face | None]] = {key: [] for key in pipelines}
        for row in rows:
            image = _read_image(folder, row)
            for key, pipeline in pipelines.items():
                pipeline.reset()
                found[key].append(largest(pipeline.process(image)))
    finally:
        for pipeline in pipelines.values():
            pipeline.close()
    counts = Counter(row.label for row in rows)
    return {
        "folder": shown(folder),
        "credit": credit(folder),
        "images": len(rows),
        "labels": dict(sorted(counts.items())),
        "subjects": len({row.subject for row in rows if row.subject}) if subjects else None,
        "models": {name: shown(Path(model)) for name, model in models.items()},
        "detectors": list(detectors),
        "scores": {
            name: {
                detector: summarise(rows, found[name, detector], pipelines[name, detector].contract.labels, subjects)
                for detector in detectors
            }
            for name in models
        },
    }


def real_faces_verdicts(section: dict, detector: str | None = None) -> list[dict]:
    """The targets for the first model with `detector` (default: the one the edge CLI uses)."""
    detector = detector or DetectorConfig().name
    model = next(iter(section["scores"]))
    scores = section["scores"][model].get(detector)
    if scores is None:
        return []
    out = []
    for name, target in TARGETS.items():
        value = scores["accuracy"] if name == "accuracy" else scores["recall"].get(name)
        if value is None:  # a label these photos do not have
            continue
        what = "accuracy" if name == "accuracy" else f"{name} recall"
        out.append({"target": f"real faces ({model}, {detector}): {what} >= {target:.0%}", "value": f"{value:.1%}",
                    "met": value >= target, "group": GROUP})  # fmt: skip
    return out


def _pairs(scores: dict) -> str:
    pairs = scores["pairs"]
    return f"{pairs['right']}/{pairs['pairs']}" if pairs and pairs["pairs"] else "-"


def real_faces_markdown(results: dict) -> str:
    section, facts = results["real_faces"], results["machine"]
    labels = ", ".join(f"{n} {label}" for label, n in section["labels"].items())
    subjects = f", {section['subjects']} subjects" if section["subjects"] else ""
    lines = [
        f"Real faces: {section['credit']}; {section['images']} photos in `{section['folder']}` ({labels}{subjects});"
        f" {facts['date'][:10]}; `{results['command']}`. The largest face of each photo is classified; a photo where"
        " no face is found counts wrong. Pairs: for each subject photographed neutral and with an expression, the"
        " expressive photo gets the higher probability for its own label.",
        "",
    ]
    present = list(section["labels"])
    rows = []
    for model, detectors in section["scores"].items():
        for detector, s in detectors.items():
            recalls = [f"{s['recall'][label]:.1%}" for label in present]
            accuracy = f"{s['accuracy']:.1%} ({s['correct']}/{s['images']})"
            rows.append([model, detector, accuracy, *recalls, str(s["no_face"]), _pairs(s)])
    recalls = [f"{label} recall" for label in present]
    lines += table(["model", "detector", "accuracy", *recalls, "no face", "pairs right"], rows)
    lines += ["", "Confusion (rows: true label; columns: the model's answer for the largest face):", ""]
    rows, columns = [], None
    for model, detectors in section["scores"].items():
        for detector, s in detectors.items():
            for truth, counts in s["confusion"].items():
                columns = columns or list(counts)
                rows.append([model, detector, truth, *(str(counts.get(c, "-")) for c in columns)])
    lines += table(["model", "detector", "true", *columns], rows)
    lines += ["", *verdict_table([v for v in results["verdicts"] if v.get("group") == GROUP])]
    return "\n".join(lines) + "\n"


def real_faces_plot(section: dict, out: Path) -> Path:
    """Accuracy and recall per label, one group of bars per model and detector."""
    keys = [(model, detector) for model, detectors in section["scores"].items() for detector in detectors]
    series = {"accuracy": [section["scores"][m][d]["accuracy"] for m, d in keys]}
    for label in section["labels"]:
        series[f"{label} recall"] = [section["scores"][m][d]["recall"][label] for m, d in keys]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(keys) * len(series) / 3 + 3), 4.5))
    width = 0.8 / len(series)
    x = np.arange(len(keys))
    for i, (name, values) in enumerate(series.items()):
        bars = ax.bar(x + (i - (len(series) - 1) / 2) * width, [v * 100 for v in values], width, label=name)
        ax.bar_label(bars, fmt="%.0f", fontsize=7)
    ax.set_xticks(x, [f"{m}\n{d}" for m, d in keys])
    ax.set_ylim(0, 118)  # room for the legend above the bars
    ax.set_ylabel("%")
    ax.set_title(f"Real faces: {section['images']} photos, largest face each\n{section['credit']}", fontsize=9)
    ax.legend(fontsize=8, loc="upper center", ncol=len(series))
    path = out / PLOT
    fig.tight_layout()
    save_figure(fig, path)
    return path
