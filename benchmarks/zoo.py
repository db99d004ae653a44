"""The model zoo side by side: one row per model (multiply-adds and time per face, size, accuracy on its own test
set and on real faces), the `fer` package as a constant for scale, and each model's targets.

The zoo is every model of `MODEL_NAMES` whose folder exists, plus the folders given as `--zoo-model NAME=DIR` (a
zoo name replaces that model's folder, to check a candidate against its targets before it ships). Each model is
measured the way a device runs it: the .tflite `--precision auto` picks (the faster of int8 and float32 here), 1
thread, mirror averaging when its contract asks for it.
Cost is compared with `REFERENCE` (the previous default, the best on FER-2013) in two ways: multiply-adds per face,
counted from the graph, which hold on any machine, and time per face in this run, which depends on the CPU's
int8 instructions (recorded as the machine's `int8_path`).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import matplotlib
import numpy as np

from benchmarks.accuracy import tflite_accuracy
from benchmarks.crop_scales import MAX_SPREAD, ROBUSTNESS_SCALES, crop_scale_accuracy, photo_sets, spread
from benchmarks.latency import random_face, summarise, time_calls, warmed
from benchmarks.markdown import table, verdict_table
from benchmarks.real_faces import TARGETS as REAL_FACE_TARGETS
from benchmarks.real_faces import score_real_faces, shown
from edge.classifier import AUTO, Classifier, multiply_adds
from edge.common.text import is_control
from edge.contract import FERPLUS_LABELS, LABELS, Contract
from edge.model_folder import CARD_FILE, CONTRACT_FILE, MODEL_FILES, MODEL_NAMES, REPORT_FILE, check_folder
from train.data import DEFAULT_FERPLUS, VALIDATION_USAGE, Dataset, load_dataset
from train.plots import save_figure

matplotlib.use("Agg")
import matplotlib.pyplot as plt

PLOT = "zoo.png"
GROUP = "zoo"
DEFAULT = "default"
# Not run here: figures for the `fer` pip package, for scale. FER-2013 is on its PrivateTest rows.
FER_PACKAGE = {
    "name": "fer package",
    "fer2013": 0.658,
    "fer2013_split": "PrivateTest",
    "real_faces": 0.68,
    "recall": {"Happy": 0.36},
    "source": "the figures of an earlier measurement of the fer package on FER-2013 PrivateTest rows and the London"
    " set, whose version and settings are not recorded here; not rerun",
}
REFERENCE = "vgg_wide"  # the model cost is compared with: the previous default
# The targets per zoo model: "vs_reference" is the per-face time as a share of REFERENCE's, "macs_vs_reference"
# the same for multiply-adds (at most); the others an accuracy (at least); "real_faces" holds real_faces.py's own
# targets (accuracy, else a label's recall), or the model's own.
# "photos_vs_faceapi": the photos' validation accuracy at least faceapi's plus this; "crop_spread": at most this
# range of accuracy across crop scales 0.9-1.2 on any set; "fast_vs_faceapi_float32": the time per face at the
# precision the CLI picks (the faster) as a share of faceapi's float32 time, at most.
TARGETS: dict[str, dict] = {
    DEFAULT: {
        "fer2013": 0.62,
        "real_faces": REAL_FACE_TARGETS,
        "photos_vs_faceapi": 0.05,
        "crop_spread": MAX_SPREAD,
        "fast_vs_faceapi_float32": 1.0,
    },
    "faceapi": {"real_faces": {"accuracy": 0.77}},  # within 2 points of its 79% measured by its own JS code
}
IMPORTED = "faceapi"  # the imported network the default is measured against
TEST_SETS = {"fer2013": "FER-2013 PublicTest", "ferplus": "FER+ PublicTest"}
_PARAMETERS = re.compile(r"^Parameters: ([\d,]+)", re.MULTILINE)


def zoo_model(text: str) -> tuple[str, Path]:
    """`--zoo-model NAME=DIR`: a name for the table and a converted folder."""
    name, sep, folder = text.partition("=")
    if not sep or not name.strip() or not folder:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=DIR")
    if "|" in name or any(is_control(char) for char in name):  # a cell of the zoo table (results.md, the page)
        raise argparse.ArgumentTypeError(f"{text!r}: NAME may not hold | or control characters (a table cell)")
    path = Path(folder)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r}: {folder} is not a folder")
    if not any((path / f).is_file() for f in MODEL_FILES.values()) or not (path / CONTRACT_FILE).is_file():
        raise argparse.ArgumentTypeError(
            f"{text!r}: {folder} is not a model folder (no .tflite model with its {CONTRACT_FILE}; expected the output"
            " of `python -m convert`)"
        )
    return name.strip(), path


def zoo_folders(given: list[tuple[str, Path]] | None) -> dict[str, Path]:
    """The zoo's models by name: the shipped ones present, then the given ones (a given name replaces a shipped one)."""
    folders = {name: folder for name, folder in MODEL_NAMES.items() if (folder / CONTRACT_FILE).is_file()}
    folders.update(given or [])
    return folders


def parameters(folder: Path, contract: Contract) -> int | None:
    """The parameter count where the folder records it: the contract, the conversion report or the model card."""
    if isinstance(contract.extra.get("parameters"), int):
        return contract.extra["parameters"]
    report = folder / REPORT_FILE
    if report.is_file():
        value = json.loads(report.read_text(encoding="utf-8")).get("parameters")
        if isinstance(value, int):
            return value
    card = folder / CARD_FILE
    found = _PARAMETERS.search(card.read_text(encoding="utf-8")) if card.is_file() else None
    return int(found.group(1).replace(",", "")) if found else None


def label_set(contract: Contract) -> str | None:
    """Which test set a model's labels belong to: "fer2013" (FER-2013's seven), "ferplus" (FER+'s eight) or None."""
    if contract.labels == list(LABELS):
        return "fer2013"
    return "ferplus" if contract.labels == list(FERPLUS_LABELS) else None


def per_face_latency(models: dict[str, tuple[Path, Contract]], rounds: int, repeats: int) -> dict[str, dict]:
    """Per-face time (preprocessing, the mirror image when asked, 1 thread) of each model folder's int8 and float32
    in rounds alternating over them, each on a crop of its own input size and colour (the crop the edge cuts for
    it): {name: {precision: summary}}."""
    classifiers, faces = {}, {}
    for name, (folder, contract) in models.items():
        faces[name] = random_face(contract)
        for precision, file in MODEL_FILES.items():
            if (folder / file).is_file():
                classifier = Classifier(folder / file, contract, threads=1)
                classifiers[name, precision] = warmed(classifier, faces[name])
    samples: dict[tuple[str, str], list[float]] = {key: [] for key in classifiers}
    for _ in range(rounds):
        for (name, precision), classifier in classifiers.items():
            samples[name, precision] += time_calls(lambda c=classifier, f=faces[name]: c.predict(f), repeats)
    out: dict[str, dict] = {name: {} for name in models}
    for (name, precision), times in samples.items():
        out[name][precision] = summarise(times)
    return out


class EvalSets:
    """FER-2013 and FER+ PublicTest, each loaded once when a model first needs it; why a set is missing."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.loaded: dict[str, Dataset] = {}
        self.reasons: dict[str, str] = {}

    def get(self, labels: str) -> Dataset | None:
        if labels in self.loaded or labels in self.reasons:
            return self.loaded.get(labels)
        args = self.args
        votes = args.ferplus_csv or (args.data.parent / DEFAULT_FERPLUS if args.data else None)
        if not args.data:
            self.reasons[labels] = "no --data given (the FER-2013 CSV, with FER+'s votes beside it)"
        elif labels == "ferplus" and not votes.is_file():
            self.reasons[labels] = f"{votes} not found (the FER+ votes, {DEFAULT_FERPLUS} beside --data)"
        else:
            self.loaded[labels] = load_dataset(args.data, args.skip_bad_rows, labels, args.ferplus_csv)
        reason = self.reasons.get(labels)
        if reason and list(self.reasons.values()).count(reason) == 1:  # each reason once ("no --data": once)
            print(f"zoo: accuracy columns '-': {reason}")
        return self.loaded.get(labels)


def split_accuracy(path: Path, contract: Contract, data: Dataset, max_rows: int) -> dict:
    split = VALIDATION_USAGE if VALIDATION_USAGE in data.splits else data.splits[-1]
    entry = tflite_accuracy({"model": path}, contract, data, max_rows, splits=[split])["splits"][split]
    return {"split": split, "rows": entry["rows"], "accuracy": entry["model"]["accuracy"]}


def mapped_accuracy(path: Path, contract: Contract, data: Dataset, max_rows: int) -> dict:
    """A FER+ model on FER-2013's own PublicTest labels: its answer mapped onto FER-2013's seven by name (Contempt,
    which FER-2013 lacks, counts wrong)."""
    images, labels = data.split_sample(VALIDATION_USAGE, max_rows)
    predicted = Classifier(path, contract).predict(images).argmax(1)
    to_fer = np.array([LABELS.index(name) if name in LABELS else -1 for name in contract.labels])
    accuracy = round(float((to_fer[predicted] == labels).mean()), 4)
    return {"split": VALIDATION_USAGE, "rows": len(labels), "accuracy": accuracy, "mapped": True}


def accuracies(path: Path, contract: Contract, sets: EvalSets, max_rows: int) -> dict:
    """Accuracy on the model's own test set, and for a FER+ model also on FER-2013's (mapped); None: not measured."""
    own = label_set(contract)
    out: dict = {"fer2013": None, "ferplus": None}
    data = sets.get(own) if own else None
    if data is not None:
        out[own] = split_accuracy(path, contract, data, max_rows)
    fer = sets.get("fer2013") if own == "ferplus" else None
    if fer is not None:
        out["fer2013"] = mapped_accuracy(path, contract, fer, max_rows)
    return out


def real_face_rows(folder: Path, models: dict[str, Path], detector: str) -> dict[str, dict] | None:
    """Accuracy, Happy and Neutral recall and pairs right per model on a real-faces folder (None when absent)."""
    if not folder.is_dir():
        print(f"zoo: real faces not measured ({folder} not found)")
        return None
    section = score_real_faces(folder, models, [detector])
    out = {}
    for name in models:
        s = section["scores"][name][detector]
        pairs = s["pairs"] or {"right": 0, "pairs": 0}
        out[name] = {"accuracy": s["accuracy"], "recall": s["recall"], "pairs": pairs, "images": s["images"]}
    return {"folder": section["folder"], "credit": section["credit"], "images": section["images"], "models": out}


def model_row(name: str, folder: Path, contract: Contract, latency: dict) -> dict:
    """Cost and size of the model `--precision auto` runs: the faster of the folder's (the only one, when int8 was
    left out)."""
    fast = min(latency, key=lambda precision: latency[precision]["p50_ms"])
    runs = folder / MODEL_FILES[fast]
    row = {
        "folder": shown(folder),
        "architecture": contract.architecture,
        "labels": contract.num_classes,
        "label_set": label_set(contract),
        "flip_average": contract.flip_average,
        "size_kb": round(runs.stat().st_size / 1000, 1),
        "multiply_adds": multiply_adds(runs) * (2 if contract.flip_average else 1),  # per face
        "per_face": latency[fast],
        "per_face_ms": latency["int8"]["p50_ms"] if "int8" in latency else None,
        "per_face_ms_float32": latency["float32"]["p50_ms"] if "float32" in latency else None,
        "fast_precision": fast,
        "per_face_ms_fast": latency[fast]["p50_ms"],
        "file": MODEL_FILES[fast],
    }
    count = parameters(folder, contract)
    if count is not None:
        row["parameters"] = count
    return row


def zoo_benchmark(args: argparse.Namespace) -> dict:
    """The `zoo` section of results.json."""
    from edge.detectors.base import DetectorConfig

    folders = zoo_folders(args.zoo_model)
    models = {name: (folder, check_folder(folder)) for name, folder in folders.items()}
    print(f"zoo: {', '.join(models)}", file=sys.stderr)
    latency = per_face_latency(models, args.rounds, args.repeats)
    rows = {name: model_row(name, folders[name], contract, latency[name]) for name, (_, contract) in models.items()}
    reference = rows.get(REFERENCE, {})
    sets = EvalSets(args)
    for name, (folder, contract) in models.items():
        for key, measure in (("vs_reference", "per_face_ms_fast"), ("macs_vs_reference", "multiply_adds")):
            rows[name][key] = round(rows[name][measure] / reference[measure], 3) if reference else None
        rows[name].update(accuracies(folder / rows[name]["file"], contract, sets, args.max_eval_rows))
    detector = DetectorConfig().name
    real = real_face_rows(args.real_faces, {name: folder / rows[name]["file"] for name, (folder, _) in models.items()},
                          detector)  # fmt: skip
    for name in rows:
        rows[name]["real_faces"] = real["models"][name] if real else None
    crop_sets = photo_sets(args.real_faces, args.photos)
    for name, (folder, _) in models.items():
        scores = crop_scale_accuracy(crop_sets, folder, detector, ROBUSTNESS_SCALES, AUTO) if crop_sets else {}
        rows[name]["crop_scales"] = scores
        rows[name]["crop_spread"] = round(spread(scores), 4) if scores else None
        rows[name]["photos_validation"] = scores.get("photos_validation", {}).get("1")
    imported = rows.get(IMPORTED, {})
    for row in rows.values():
        theirs, ours, float_ms = imported.get("photos_validation"), row["photos_validation"], imported.get(
            "per_face_ms_float32")  # fmt: skip
        row["photos_vs_faceapi"] = round(ours - theirs, 4) if None not in (ours, theirs) else None
        row["fast_vs_faceapi_float32"] = round(row["per_face_ms_fast"] / float_ms, 3) if float_ms else None
    return {
        "reference": REFERENCE,
        "rounds": args.rounds,
        "repeats": args.repeats,
        "detector": detector,
        "not_measured": sets.reasons,
        "real_faces": {k: v for k, v in real.items() if k != "models"} if real else None,
        "crop_sets": {
            name: {"folder": shown(folder), "photos": len(rows_)} for name, (folder, rows_) in crop_sets.items()
        },
        "models": rows,
        "fer_package": FER_PACKAGE,
    }


RATIOS = {"vs_reference": "per-face ms", "macs_vs_reference": "multiply-adds per face"}
# Targets met at or below their value, and how each reads.
AT_MOST = {
    **RATIOS,
    "crop_spread": "accuracy range across crop scales 0.9-1.2",
    "fast_vs_faceapi_float32": f"per-face ms at the faster precision vs {IMPORTED}'s float32",
}


def _target_value(row: dict, key: str, label: str | None = None) -> float | None:
    if key in AT_MOST or key == "photos_vs_faceapi":
        return row.get(key)
    if key == "real_faces":
        real = row.get("real_faces")
        return (real["accuracy"] if label == "accuracy" else real["recall"].get(label)) if real else None
    return (row.get(key) or {}).get("accuracy")


def _targets(name: str) -> list[tuple[str, str | None, float, str]]:
    """(key, label, target, what) for each of the model's targets."""
    out = []
    for key, target in TARGETS.get(name, {}).items():
        if key in RATIOS:
            out.append((key, None, target, f"{RATIOS[key]} <= 1/{1 / target:.0f} of {REFERENCE}'s"))
        elif key == "crop_spread":
            out.append((key, None, target, f"{AT_MOST[key]} <= {target * 100:.0f} points"))
        elif key == "fast_vs_faceapi_float32":
            out.append((key, None, target, f"{AT_MOST[key]} <= {target:.2f}x"))
        elif key == "photos_vs_faceapi":
            out.append((key, None, target, f"photos' validation accuracy >= {IMPORTED}'s + {target * 100:.0f} points"))
        elif key == "real_faces":
            for label, value in target.items():
                what = "accuracy" if label == "accuracy" else f"{label} recall"
                out.append((key, label, value, f"real faces {what} >= {value:.0%}"))
        else:
            out.append((key, None, target, f"{TEST_SETS[key]} accuracy >= {target:.1%}"))
    return out


def _shown(key: str, value: float) -> str:
    if key in RATIOS or key == "fast_vs_faceapi_float32":
        return f"{value:.2f}x"
    if key == "photos_vs_faceapi":
        return f"{value * 100:+.1f} points"
    return f"{value * 100:.1f} points" if key == "crop_spread" else f"{value:.1%}"


def zoo_verdicts(section: dict) -> list[dict]:
    """The targets for each zoo model measured in this run (a target not measured here is left out)."""
    out = []
    for name, row in section["models"].items():
        for key, label, target, what in _targets(name):
            value = _target_value(row, key, label)
            if value is None or (key == "fer2013" and row["fer2013"].get("mapped")):
                continue
            met = value <= target if key in AT_MOST else value >= target
            shown_value = f"{value:.2f}x" if key in RATIOS or key.startswith("fast_") else f"{value:.1%}"
            if key in ("crop_spread", "photos_vs_faceapi"):
                shown_value = (
                    f"{value * 100:+.1f} points" if key == "photos_vs_faceapi" else f"{value * 100:.1f} points"
                )
            out.append({"target": f"zoo {name}: {what}", "value": shown_value, "met": met, "group": GROUP})
    return out


def _pct(entry: dict | None, key: str = "accuracy") -> str:
    if not entry:
        return "-"
    return f"{entry[key]:.1%}" + (" (mapped)" if entry.get("mapped") else "")


def _row_cells(name: str, row: dict, with_parameters: bool) -> list[str]:
    real = row["real_faces"]
    recall = (real or {}).get("recall", {})
    pairs = real["pairs"] if real else None
    float_ms, photos, crop = row.get("per_face_ms_float32"), row.get("photos_validation"), row.get("crop_spread")
    return [
        name, row["architecture"], str(row["labels"]), "yes" if row["flip_average"] else "no", f"{row['size_kb']:,.0f}",
        *([f"{row['parameters']:,}" if "parameters" in row else "-"] if with_parameters else []),
        f"{row['multiply_adds'] / 1e6:.1f}", f"{row['macs_vs_reference']:.2f}x" if row["macs_vs_reference"] else "-",
        f"{row['per_face_ms']:.3f}" if row["per_face_ms"] else "-", f"{float_ms:.3f}" if float_ms else "-",
        row["fast_precision"],
        _pct(row["fer2013"]), _pct(row["ferplus"]), _pct(real),
        *(f"{recall[label]:.1%}" if label in recall else "-" for label in ("Happy", "Neutral")),
        f"{pairs['right']}/{pairs['pairs']}" if pairs and pairs["pairs"] else "-",
        f"{photos:.1%}" if photos is not None else "-", f"{crop * 100:.1f}" if crop is not None else "-",
    ]  # fmt: skip


def _fer_cells(with_parameters: bool) -> list[str]:
    fer = FER_PACKAGE
    return [
        f"{fer['name']} (not run here)", "-", "7", "-", "-", *(["-"] if with_parameters else []), "-", "-", "-", "-",
        "-", f"{fer['fer2013']:.1%} ({fer['fer2013_split']})", "-", f"{fer['real_faces']:.0%}",
        f"{fer['recall']['Happy']:.0%}", "-", "-", "-", "-",
    ]  # fmt: skip


def zoo_markdown(results: dict) -> str:
    section, facts = results["zoo"], results["machine"]
    real = section["real_faces"]
    where = f"`{real['folder']}` ({real['images']} photos, {section['detector']} detector)" if real else "not measured"
    lines = [
        f"Model zoo, measured on {facts['cpu']} ({facts['cores']} cores, int8 path"
        f" {facts.get('int8_path', 'not recorded')}), {facts['date'][:10]}; `{results['command']}`. Per face:"
        " multiply-adds counted from the graph (the same on any machine) and time: int8 and float32, 1 thread,"
        f" median of {section['rounds']} alternating rounds of {section['repeats']}, mirror image included when the"
        " model asks for it ('auto runs': the faster, which `--precision auto` picks); multiply-adds also as a share"
        f" of {section.get('reference', REFERENCE)}'s. Crop scales: the whole pipeline with the contract's crop"
        " grown by 0.9-1.2 on the London set and the web photos' validation subjects; the spread is the largest"
        " range on either set. Accuracy: the model auto runs on"
        " PublicTest of its own labels (FER-2013's 7, or FER+'s 8 by majority vote; a FER+ model's FER-2013 figure"
        f" maps its answers onto FER-2013's 7, Contempt counting wrong). Real faces: {where}.",
        "",
    ]
    with_parameters = any("parameters" in row for row in section["models"].values())
    header = ["model", "architecture", "labels", "mirror", "KB", *(["parameters"] if with_parameters else []),
              "M MACs per face", "MACs vs ref", "int8 ms per face", "float32 ms per face", "auto runs",
              "FER-2013 PublicTest", "FER+ PublicTest", "real faces", "Happy recall", "Neutral recall",
              "pairs right", "photos' validation", "crop 0.9-1.2 spread (points)"]  # fmt: skip
    rows = [_row_cells(name, row, with_parameters) for name, row in section["models"].items()]
    lines += table(header, [*rows, _fer_cells(with_parameters)])
    lines += ["", f"The fer package's row is not measured by this run: {section['fer_package']['source']}."]
    for labels, reason in section["not_measured"].items():
        lines.append(f"{TEST_SETS[labels]}: not measured, {reason}.")
    verdicts = [v for v in results.get("verdicts", []) if v.get("group") == GROUP]
    if verdicts:
        lines += ["", *verdict_table(verdicts)]
    return "\n".join(lines) + "\n"


def _own_accuracy(row: dict) -> float | None:
    own = row.get(row["label_set"]) if row["label_set"] else None
    return own["accuracy"] if own else None


def zoo_plot(section: dict, out: Path) -> Path:
    """Accuracy on each model's own test set, and on real faces, against per-face ms; point area ∝ file size."""
    rows = section["models"]
    largest = max(row["size_kb"] for row in rows.values())
    slowest = max(row["per_face_ms_fast"] for row in rows.values())
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    fer = FER_PACKAGE
    panels = (
        ("accuracy on its own PublicTest (%)", _own_accuracy, fer["fer2013"], f"FER-2013 {fer['fer2013_split']}"),
        ("real-face accuracy (%)", lambda row: (row["real_faces"] or {}).get("accuracy"), fer["real_faces"], "London"),
    )
    for ax, (title, value, fer_value, fer_what) in zip(axes, panels, strict=True):
        points = [(name, row, value(row)) for name, row in rows.items() if value(row) is not None]
        for name, row, y in points:
            ax.scatter(row["per_face_ms_fast"], y * 100, s=40 + 400 * row["size_kb"] / largest, alpha=0.6)
            ax.annotate(f"{name} ({row['size_kb']:,.0f} KB)", (row["per_face_ms_fast"], y * 100), fontsize=8,
                        xytext=(6, 6), textcoords="offset points")  # fmt: skip
        ax.axhline(fer_value * 100, color="grey", linestyle="--", linewidth=1)
        ax.annotate(f"{fer['name']}, {fer_what} {fer_value:.1%} (not run here)", (0.01, fer_value * 100),
                    xycoords=("axes fraction", "data"), fontsize=8, color="grey", va="bottom")  # fmt: skip
        if not points:
            ax.text(0.5, 0.5, "not measured in this run", transform=ax.transAxes, ha="center", color="grey")
        ax.set_xlim(0, slowest * 1.4)  # room for the labels right of the slowest point
        ax.set_ylim(0, 100)
        ax.set_xlabel("per-face ms (the faster precision, 1 thread, median)")
        ax.set_title(title)
    fig.suptitle("Model zoo: point area ∝ model file size", fontsize=10)
    path = out / PLOT
    fig.tight_layout()
    save_figure(fig, path)
    return path
