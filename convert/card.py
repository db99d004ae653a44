"""MODEL_CARD.md written from the files the train and convert commands wrote, never typed by hand."""

from __future__ import annotations

import csv
from pathlib import Path

from edge.common.errors import UserError
from edge.common.files import file_sha256
from edge.contract import Contract, read_json
from edge.model_folder import CARD_FILE, CURVES_PLOT, INT8_FILE, REPORT_FILE, check_folder, write_folder
from train.data import LABEL_SOURCES

LIMITS = """\
- FER-2013 is web-scraped: faces skew young, light-skinned and posed, labels are noisy (FER+ relabelled
  about a quarter of them) and some images are duplicated across splits or are not faces. Accuracy on
  other people, cameras and lighting will be lower than the figures above.
- 48x48 grayscale crops from a frontal face detector (YuNet, or Haar): profile faces, strong tilt, occlusion (masks,
  hands) and very small faces are missed or misread. Colour is discarded.
- Disgust has 436 training images (1.5%); its recall is the least reliable figure here.
- Seven posed categories are a coarse, culturally loaded description of expression, not of feeling: do
  not use this model to make decisions about people."""


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise UserError(f"{path}: not found (run the train and convert stages first)")
    data = read_json(path, "JSON report", max_bytes=64 << 20)
    if not isinstance(data, dict):
        raise UserError(f"{path}: not a report of the train or convert stage (not a JSON object)")
    return data


def read_recipe(recipe: Path) -> str:
    """The recipe script's text, or one line: missing, a folder, unreadable, or not text."""
    try:
        text = recipe.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{recipe}: recipe not found (--recipe names the script of the exact commands)") from None
    except UnicodeDecodeError:
        raise UserError(f"{recipe}: not a text file (--recipe names the script of the exact commands)") from None
    except OSError as exc:
        raise UserError(f"{recipe}: cannot read the recipe ({exc.strerror or exc})") from None
    if "\0" in text:
        raise UserError(f"{recipe}: not a text file (--recipe names the script of the exact commands)")
    return text


def _pct(value: float) -> str:
    return f"{value:.2%}"


def epoch_seconds(run: Path) -> tuple[int, float]:
    """Epochs and total seconds of epochs, from a run's history.csv."""
    if not (run / "history.csv").is_file():
        raise UserError(f"{run / 'history.csv'}: not found (run the train stage first)")
    with open(run / "history.csv") as f:
        history = list(csv.DictReader(f))
    return len(history), sum(float(row["seconds"] or 0) for row in history)


def render(
    run: Path,
    models: Path,
    contract: Contract,
    recipe: Path,
    data: Path | None,
    hardware: str,
    teachers: list[Path],
    real_faces: Path | None = None,
) -> str:
    """The card's text; `contract` is the folder's, from `check_folder`."""
    report = _read_json(models / REPORT_FILE)
    if "compared_on" not in report or "int8" not in report["variants"]:
        raise UserError(
            f"{models}: converted without --data (no {INT8_FILE}, no accuracy in {REPORT_FILE}), and the card is"
            " made of those figures; reconvert with --data CSV first"
        )
    metrics = _read_json(run / "metrics.json")
    variants = report["variants"]
    lines = [
        f"# fer-edge model `{models.name}`: `{contract.architecture}`",
        "",
        f"Facial expression classifier for 48x48 grayscale face crops, {contract.num_classes} classes"
        f" ({', '.join(contract.labels)}). Written by `python -m convert card`; every figure below is copied",
        f"from `{models}/{REPORT_FILE}`, `{run}/metrics.json` and `{run}/history.csv`.",
        "",
        "| file | size | input | output |",
        "|---|---|---|---|",
    ]
    for variant in variants.values():
        lines.append(
            f"| `{variant['file']}` | {variant['bytes'] / 1e6:.2f} MB | {variant['input_dtype']} 1x48x48x1"
            f" | {variant['output_dtype']} 1x{contract.num_classes} |"
        )
    lines += [
        "",
        f"Parameters: {metrics['parameters']:,}. Normalisation: pixel x {contract.pixel_scale:.6g} +"
        f" {contract.pixel_offset:g}. Mirror averaging: {'on' if contract.flip_average else 'off'} (the runtime"
        " classifies each face and its mirror image and averages the two, as every accuracy below does).",
        "",
        "## Accuracy",
        "",
        "| split | rows evaluated | Keras | float32 | int8 |",
        "|---|---|---|---|---|",
    ]
    lines += _accuracy(report, contract)
    if real_faces is not None:
        lines += _real_faces(real_faces)
    lines += _training(run, contract, report, metrics, recipe, data, hardware, teachers)
    return "\n".join(lines)


def _real_faces(results_file: Path) -> list[str]:
    """The whole pipeline on real photographs, from a benchmarks results.json (its `real_faces` section)."""
    results = _read_json(results_file)
    section = results.get("real_faces")
    if not isinstance(section, dict) or not section.get("scores"):
        raise UserError(f"{results_file}: no real_faces section (run `python -m benchmarks --real-faces-only`)")
    present = list(section["labels"])
    lines = [
        "## Real faces",
        "",
        f"The whole pipeline (largest face of each photo; a missed face counts wrong) on {section['images']} photos of"
        f" {section['credit']}, from `{results_file}` (`{results.get('command', 'python -m benchmarks')}`).",
        "",
        "| detector | accuracy | " + " | ".join(f"{label} recall" for label in present) + " | pairs right |",
        "|---|---|" + "---|" * len(present) + "---|",
    ]
    for detectors in section["scores"].values():
        for detector, score in detectors.items():
            recalls = " | ".join(_pct(score["recall"][label]) for label in present)
            pairs = f"{score['pairs']['right']}/{score['pairs']['pairs']}" if score.get("pairs") else "-"
            lines.append(f"| {detector} | {_pct(score['accuracy'])} | {recalls} | {pairs} |")
    return [*lines, ""]


def _accuracy(report: dict, contract: Contract) -> list[str]:
    """The accuracy and per-class recall tables, and the confusion matrix."""
    variants = report["variants"]
    lines = []
    for split in report["accuracy"]:
        acc = report["accuracy"][split]
        lines.append(
            f"| {split} | {report['evaluated_rows'][split]} | {_pct(acc['keras'])} | {_pct(acc['float32'])}"
            f" | {_pct(acc['int8'])} |"
        )
    compared = report["compared_on"]
    lines += [
        "",
        f"Top-1 agreement with Keras on {compared}: float32 {_pct(variants['float32']['top1_agreement'])},"
        f" int8 {_pct(variants['int8']['top1_agreement'])} (largest probability difference"
        f" {variants['int8']['max_abs_prob_diff']:.3f}). Training rows are a stratified sample when the report"
        " says fewer rows than the split has.",
        "",
        f"Recall per class on {compared}:",
        "",
        "| class | " + " | ".join(contract.labels) + " |",
        "|---|" + "---|" * len(contract.labels),
    ]
    for name in ("float32", "int8"):
        recall = report["per_class_recall"][compared][name]
        lines.append(f"| {name} | " + " | ".join(f"{recall[label]:.2f}" for label in contract.labels) + " |")
    lines += ["", "![int8 confusion matrix](confusion_matrix_int8.png)", ""]
    return lines


def _training(
    run: Path,
    contract: Contract,
    report: dict,
    metrics: dict,
    recipe: Path,
    data: Path | None,
    hardware: str,
    teachers: list[Path],
) -> list[str]:
    """Data, training time, calibration, the exact commands, known limits and the licence."""
    source = contract.extra.get("label_source", "fer2013")
    epochs, train_seconds = epoch_seconds(run)
    teacher_seconds = sum(epoch_seconds(t)[1] for t in teachers)
    data_line = f"`{data.name}`, sha256 `{file_sha256(data)}`" if data else "(data file not given)"
    return [
        "## Training",
        "",
        f"- Data: {data_line}; labels: {LABEL_SOURCES.get(source, source)} (`--labels {source}`); Training rows for"
        " fitting, PublicTest for choosing the epoch, the recipe and the model. PrivateTest was never used.",
        f"- Student: {epochs} epochs, best at epoch {contract.extra.get('best_epoch', '?')}"
        f" (PublicTest accuracy without mirror averaging {_pct(metrics['splits']['PublicTest']['accuracy'])}),"
        f" {train_seconds / 60:.1f} minutes of epochs on {hardware}."
        + (
            f" Its {len(teachers)} teachers: {teacher_seconds / 60:.1f} minutes of epochs in all on the same hardware"
            f" ({', '.join(t.name for t in teachers)})."
            if teachers
            else ""
        ),
        f"- Calibration for int8: {report['calibration']}.",
        f"- Source model sha256 `{report['source_model_sha256']}`.",
        "",
        f"The exact commands (`{recipe}`):",
        "",
        "```bash",
        read_recipe(recipe).strip(),
        "```",
        "",
        "## Known limits",
        "",
        LIMITS,
        "",
        "## Licence",
        "",
        "The model files are released with the project under the MIT licence. They were trained on FER-2013"
        " (Goodfellow et al., 2013, ICML representation-learning challenge), whose images come from web"
        " searches; check the data set's terms before commercial use.",
        "",
    ]


def write_card(
    run: Path,
    models: Path,
    recipe: Path,
    data: Path | None,
    hardware: str,
    teachers: list[Path] | None = None,
    real_faces: Path | None = None,
) -> Path:
    """MODEL_CARD.md (and the run's training curves) added to the folder, which is rewritten as one unit."""
    if not models.is_dir():
        raise UserError(f"{models}: not a model folder (expected the output of `python -m convert`)")
    contract = check_folder(models)
    trained = Contract.load(run)
    if trained.labels != contract.labels:
        raise UserError(
            f"{run}: trained on {trained.num_classes} labels ({', '.join(trained.labels)}), but {models} holds a"
            f" model of {contract.num_classes} labels ({', '.join(contract.labels)}); give the run folder this model"
            " was trained in"
        )
    read_recipe(recipe)
    if data is not None and not data.is_file():
        raise UserError(f"{data}: data file not found")
    card = render(run, models, contract, recipe, data, hardware, teachers or [], real_faces)
    files = {CARD_FILE: card.encode()}
    if (run / "curves.png").is_file():
        files[CURVES_PLOT] = (run / "curves.png").read_bytes()
    try:
        write_folder(models, files, contract, keep=True)
    except OSError as exc:
        raise UserError(f"{models}: cannot write the model card ({exc.strerror or exc})") from None
    return models / CARD_FILE
