"""MODEL_CARD.md written from the files the train and convert commands wrote, never typed by hand."""

from __future__ import annotations

import csv
from pathlib import Path

from edge.classifier import multiply_adds
from edge.common.errors import UserError
from edge.common.files import file_sha256, read_capped
from edge.contract import Contract, read_json
from edge.model_folder import (
    CARD_FILE,
    CURVES_PLOT,
    FLOAT32_FILE,
    INT8_FILE,
    LICENSE_FILE,
    REPORT_FILE,
    check_folder,
    write_folder,
    zoo_name,
)
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


MAX_RECIPE_BYTES = 1 << 20  # a script of commands is a few KB


def read_recipe(recipe: Path) -> str:
    """The recipe script's text, or one line: missing, a folder or device (`read_capped`), too large, or not text."""
    if not recipe.exists():
        raise UserError(f"{recipe}: recipe not found (--recipe names the script of the exact commands)")
    try:
        text = read_capped(recipe, "recipe", MAX_RECIPE_BYTES).decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{recipe}: not a text file (--recipe names the script of the exact commands)") from None
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
    credits: list[str] | None = None,
) -> str:
    """The card's text; `contract` is the folder's, from `check_folder`."""
    report = _read_json(models / REPORT_FILE)
    if "compared_on" not in report or "int8" not in report["variants"]:
        raise UserError(
            f"{models}: converted without --data (no {INT8_FILE}, no accuracy in {REPORT_FILE}), and the card is"
            " made of those figures; reconvert with --data CSV first"
        )
    metrics = _read_json(run / "metrics.json")
    lines = _header(models, contract, report, f"`{run}/metrics.json` and `{run}/history.csv`", metrics["parameters"])
    lines += _accuracy(report, contract)
    if real_faces is not None:
        lines += _real_faces(real_faces)
    lines += _training(run, contract, report, metrics, recipe, data, hardware, teachers, credits or [])
    return "\n".join(lines)


def _header(models: Path, contract: Contract, report: dict, sources: str, parameters: int | None) -> list[str]:
    """Title, files, input, cost per face (multiply-adds, from the graph) and the accuracy table's head."""
    height, width = contract.image_size
    shape = f"1x{height}x{width}x{contract.channels}"
    per_invoke = multiply_adds(next(models / name for name in (INT8_FILE, FLOAT32_FILE) if (models / name).is_file()))
    per_face = per_invoke * (2 if contract.flip_average else 1)
    lines = [
        f"# fer-edge model `{zoo_name(models)}`: `{contract.architecture}`",
        "",
        f"Facial expression classifier for {height}x{width} {contract.color} face crops, {contract.num_classes}"
        f" classes ({', '.join(contract.labels)}). Written by `python -m convert card`; every figure below is copied",
        f"from `{models}/{REPORT_FILE}`, {sources}, or counted from the model's graph.",
        "",
        "| file | size | input | output |",
        "|---|---|---|---|",
    ]
    for variant in report["variants"].values():
        shipped = "" if (models / variant["file"]).is_file() else " (measured, not shipped: see Precision)"
        lines.append(
            f"| `{variant['file']}`{shipped} | {variant['bytes'] / 1e6:.2f} MB | {variant['input_dtype']} {shape}"
            f" | {variant['output_dtype']} 1x{contract.num_classes} |"
        )
    return [
        *lines,
        "",
        f"Cost per face: {per_face / 1e6:.1f} M multiply-adds ({per_invoke / 1e6:.1f} M per invoke"
        + (", twice for the mirror image" if contract.flip_average else "")
        + "; counted from the graph, the same on any machine).",
        (f"Parameters: {parameters:,}. " if parameters else "")
        + f"Normalisation: pixel x {contract.pixel_scale:.6g} + {contract.pixel_offset:g}. Mirror averaging: "
        + (
            "on (the runtime classifies each face and its mirror image and averages the two, as every accuracy"
            " below does)."
            if contract.flip_average
            else "off (each face is classified once)."
        ),
        "",
        "## Accuracy",
        "",
        "| split | rows evaluated | Keras | float32 | int8 |",
        "|---|---|---|---|---|",
    ]


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
    lines += ["", "![int8 confusion matrix](confusion_matrix_int8.png)", ""] if "int8_left_out" not in report else [""]
    return [*lines, *_precision(report)]


def _precision(report: dict) -> list[str]:
    """Which precisions ship, how each runs under XNNPACK, and int8's agreement with float32 on real photos."""
    lines = ["## Precision", ""]
    for name, variant in report["variants"].items():
        xnnpack = variant.get("xnnpack")
        if xnnpack:
            outside = ", ".join(f"{count} {op}" for op, count in xnnpack["outside"].items()) or "none"
            lines.append(
                f"- {name}: {xnnpack['partitions']} XNNPACK partition(s); ops left to LiteRT's reference kernels:"
                f" {outside}."
            )
    if any(v.get("xnnpack", {}).get("partitions", 1) > 1 for v in report["variants"].values()):
        lines.append(
            "- A graph in several partitions does not run whole in XNNPACK: LiteRT's XNNPACK delegate takes no"
            " standalone int8 RELU (the converter leaves those after a sum unfused) nor an int8 SOFTMAX, so each"
            " such op runs in the reference kernels between two partitions (docs/performance.md)."
        )
    photos = report.get("photo_agreement")
    if photos:
        lines.append(
            f"- On {photos['photos']} real photos' faces (`{photos['source']}`) int8 gives float32's top label on"
            f" {_pct(photos['int8_vs_float32'])} (int8 ships at {_pct(photos['min'])} or more)."
        )
    if "int8_left_out" in report:
        lines.append(f"- int8 is not shipped: {report['int8_left_out']}. The edge runs float32.")
    else:
        lines.append(
            "- `--precision auto` (the edge's default) times both at load and runs the faster on the CPU it runs on."
        )
    return [*lines, ""]


def _training(
    run: Path,
    contract: Contract,
    report: dict,
    metrics: dict,
    recipe: Path,
    data: Path | None,
    hardware: str,
    teachers: list[Path],
    credits: list[str],
) -> list[str]:
    """Data, training time, calibration, the exact commands, known limits and the licence (with `credits`: what
    else it was made from and under which licence)."""
    source = contract.extra.get("label_source", "fer2013")
    epochs, train_seconds = epoch_seconds(run)
    teacher_seconds = sum(epoch_seconds(t)[1] for t in teachers)
    data_line = f"`{data.name}`, sha256 `{file_sha256(data)}`" if data else "(data file not given)"
    splits = metrics["splits"]
    validation = "; ".join(f"{name} {_pct(splits[name]['accuracy'])} ({splits[name]['n']} rows)" for name in
                           ("PublicTest", "Validation") if name in splits)  # fmt: skip
    start = contract.extra.get("fine_tuned_from")
    return [
        "## Training",
        "",
        f"- Data: {data_line}; labels: {LABEL_SOURCES.get(source, source)} (`--labels {source}`); Training rows for"
        " fitting, PublicTest for choosing the epoch, the recipe and the model. PrivateTest was never used.",
        *([f"- Sources, as the run read them: {metrics['source']}."] if " + " in metrics["source"] else []),
        *([f"- Fine-tuned from `{start}`."] if start else []),
        f"- Student: {epochs} epochs, best at epoch {contract.extra.get('best_epoch', '?')}"
        f" (accuracy without mirror averaging: {validation}),"
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
        *_commands_and_limits(recipe, LIMITS),
        "## Licence",
        "",
        "The model files are released with the project under the MIT licence. They were trained on FER-2013"
        " (Goodfellow et al., 2013, ICML representation-learning challenge), whose images come from web"
        " searches; check the data set's terms before commercial use."
        + "".join(f" {credit}" for credit in credits),
        "",
    ]


def _commands_and_limits(recipe: Path, limits: str) -> list[str]:
    """The recipe's exact commands as a code block, then the model's known limits."""
    return [
        f"The exact commands (`{recipe}`):", "", "```bash", read_recipe(recipe).strip(), "```", "",
        "## Known limits", "", limits, "",
    ]  # fmt: skip


def write_card(
    run: Path,
    models: Path,
    recipe: Path,
    data: Path | None,
    hardware: str,
    teachers: list[Path] | None = None,
    real_faces: Path | None = None,
    credits: list[str] | None = None,
    license_file: Path | None = None,
) -> Path:
    """MODEL_CARD.md (and the run's training curves, and a licence notice of what it was made from) added to the
    folder, which is rewritten as one unit."""
    if not models.is_dir():
        raise UserError(f"{models}: not a model folder (expected the output of `python -m convert`)")
    contract = check_folder(models)
    if "imported_from" in contract.extra:
        raise UserError(
            f"--run {run}: {models} holds an imported model, which has no training run; give --license alone"
        )
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
    if license_file is not None and not license_file.is_file():
        raise UserError(f"{license_file}: licence file not found")
    card = render(run, models, contract, recipe, data, hardware, teachers or [], real_faces, credits)
    files = {CARD_FILE: card.encode()}
    if license_file is not None:
        files[LICENSE_FILE] = license_file.read_bytes()
    if (run / "curves.png").is_file():
        files[CURVES_PLOT] = (run / "curves.png").read_bytes()
    try:
        write_folder(models, files, contract, keep=True)
    except OSError as exc:
        raise UserError(f"{models}: cannot write the model card ({exc.strerror or exc})") from None
    return models / CARD_FILE


IMPORTED_LIMITS = """\
- Trained by its authors on web photos (not FER-2013); its training data and recipe are theirs and not
  documented here. It sees colour faces at 112x112 cut at the detector's box.
- Seven posed categories are a coarse, culturally loaded description of expression, not of feeling: do
  not use this model to make decisions about people."""


def render_imported(models: Path, contract: Contract, recipe: Path, real_faces: Path | None) -> str:
    """The card of an imported model (`python -m convert faceapi`): its source and checksums instead of a run."""
    report = _read_json(models / REPORT_FILE)
    source = contract.extra["imported_from"]
    lines = _header(models, contract, report, "the package's files named below", None)
    lines[-4:-4] = ["It was not trained on FER-2013: the figures below are its answers on FER-2013's 48x48 gray rows,"
                    " upscaled to its input with gray in each channel, against FER-2013's labels.", ""]
    lines += _accuracy(report, contract)
    if real_faces is not None:
        lines += _real_faces(real_faces)
    checksums = [f"  - `{name}`: sha256 `{digest}`" for name, digest in source["sha256"].items()]
    return "\n".join([
        *lines,
        "## Source",
        "",
        f"- Imported from the npm package `{source['package']}` {source['version']} by `python -m convert faceapi`"
        " (the package's own graph, rebuilt in Keras, then converted like any model), from these files:",
        *checksums,
        f"- Calibration for int8: {report['calibration']}.",
        "",
        *_commands_and_limits(recipe, IMPORTED_LIMITS),
        "## Licence",
        "",
        f"MIT, the licence of `{source['package']}` (its notice is `{LICENSE_FILE}` in this folder).",
        "",
    ])


def write_imported_card(models: Path, recipe: Path, license_file: Path, real_faces: Path | None = None) -> Path:
    """MODEL_CARD.md and the package's licence added to an imported model's folder, rewritten as one unit."""
    if not models.is_dir():
        raise UserError(f"{models}: not a model folder (expected the output of `python -m convert`)")
    contract = check_folder(models)
    if "imported_from" not in contract.extra:
        raise UserError(f"{models}: not an imported model; give --run, the training run it came from")
    if not license_file.is_file():
        raise UserError(f"{license_file}: licence file not found")
    read_recipe(recipe)
    files = {
        CARD_FILE: render_imported(models, contract, recipe, real_faces).encode(),
        LICENSE_FILE: license_file.read_bytes(),
    }
    try:
        write_folder(models, files, contract, keep=True)
    except OSError as exc:
        raise UserError(f"{models}: cannot write the model card ({exc.strerror or exc})") from None
    return models / CARD_FILE
