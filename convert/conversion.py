"""The work of `python -m convert`: check the inputs, convert and evaluate, then write the model folder as one unit.

Three steps, so the CLI can run the first before TensorFlow starts and the last with the terminal back:
`check_inputs` (model file, data, calibration images, a writable --out; no TensorFlow), `convert` (TFLite
conversion and evaluation against Keras), `write` (the folder swapped in whole, or, for a refused conversion,
only `conversion_report.failed.json` beside the untouched previous models).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge.common.errors import UserError, described
from edge.contract import CONTRACT_FILENAME, IMAGE_SIZE, Contract
from edge.model_folder import (
    CONFUSION_PLOT,
    FAILED_REPORT_FILE,
    FLOAT32_FILE,
    INT8_FILE,
    MODEL_FILES,
    REPORT_FILE,
    check_writable,
    file_sha256,
    write_folder,
)
from train.data import Dataset, check_labels, load_dataset, stratified_sample, validation_split_name


@dataclass
class Options:
    model: Path
    out: Path
    data: Path | None = None
    calibration: Path | None = None
    calibration_size: int = 500
    min_agreement: float = 0.97
    flip_average: bool = False
    max_eval_rows: int = 4000
    skip_bad_rows: bool = False
    seed: int = 0
    labels: str = "fer2013"
    ferplus_csv: Path | None = None
    photos: Path | None = None
    min_photo_agreement: float = 0.97


@dataclass
class Inputs:
    """Everything checked before TensorFlow starts."""

    data: Dataset | None
    calibration: np.ndarray | None
    calibration_source: str | None
    photos: np.ndarray | None = None  # --photos' faces, cut as the device cuts them for this model


@dataclass
class Conversion:
    report: dict
    contract: Contract
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.report["passed"]


def _calibration_from_folder(folder: Path, size: int) -> np.ndarray:
    import cv2

    from edge.common.images import read_image

    if not folder.is_dir():
        raise UserError(f"{folder}: calibration folder not found")
    images = []
    for path in sorted(folder.iterdir())[: size * 2]:
        image = read_image(path, cv2.IMREAD_GRAYSCALE)  # under the decode cap, like every stage's images
        if image is not None:
            images.append(cv2.resize(image, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_AREA))
    if not images:
        raise UserError(f"{folder}: no readable images to calibrate on")
    return np.stack(images[:size])


def check_inputs(options: Options) -> Inputs:
    """The checks that need no TensorFlow: the model file exists, the data and images load, --out can be written."""
    if not options.model.is_file():
        raise UserError(f"{options.model}: model not found")
    data = None
    if options.data:
        data = load_dataset(options.data, options.skip_bad_rows, options.labels, options.ferplus_csv, options.seed)
        beside = options.model.parent / CONTRACT_FILENAME
        check_labels(data, Contract.load(beside) if beside.exists() else Contract("?"), options.model)
    calibration, source = None, None
    if data is not None:
        images, labels = data.split("Training")
        if len(labels) == 0:
            raise UserError(f"{options.data}: no Training rows to calibrate int8 on")
        calibration = images[stratified_sample(labels, options.calibration_size, options.seed)]
        source = f"{len(calibration)} Training rows of {options.data.name}, stratified by class, seed {options.seed}"
    elif options.calibration:
        calibration = _calibration_from_folder(options.calibration, options.calibration_size)
        source = f"{len(calibration)} images from {options.calibration}"
    check_writable(options.out)
    return Inputs(data, calibration, source, _photo_crops(options))


def _photo_crops(options: Options) -> np.ndarray | None:
    """Every face of --photos as the model sees it (the contract's framing, no augmentation), up to
    --max-eval-rows of them (a seeded sample): what int8 must agree with float32 on to ship."""
    if options.photos is None:
        return None
    from train.data import centre_crops
    from train.photos import CONTEXT, load_photos

    beside = options.model.parent / CONTRACT_FILENAME
    if not beside.exists():
        raise UserError(f"{options.model}: --photos needs the model's {CONTRACT_FILENAME} beside it (its framing)")
    photos = load_photos(options.photos, Contract.load(beside), skip_bad_rows=True)
    crops = centre_crops(photos.images, CONTEXT)
    if options.max_eval_rows and len(crops) > options.max_eval_rows:
        crops = crops[np.random.default_rng(options.seed).choice(len(crops), options.max_eval_rows, replace=False)]
    return crops


def classifier_info(classifier) -> dict:
    return {
        "input_dtype": classifier.input_dtype.name,
        "output_dtype": classifier.output_dtype.name,
        "input_quantization": list(classifier.input_quant),
        "output_quantization": list(classifier.output_quant),
    }


def _converted(what: str, options: Options, make) -> bytes:
    """One TFLite conversion; TensorFlow's own failure becomes one line naming the model."""
    try:
        return make()
    except UserError:
        raise
    except Exception as exc:  # TensorFlow raises many types; the user needs the first line of it
        raise UserError(f"{options.model}: TensorFlow could not convert it to {what} ({described(exc)})") from None


def _evaluate(report: dict, data: Dataset, model, classifiers: dict, contract: Contract, options: Options) -> None:
    from train.metrics import classification_metrics, compare
    from train.models import predict

    compared_on = validation_split_name(data)
    for split in data.splits:
        images, labels = data.split_sample(split, options.max_eval_rows, options.seed)
        report["evaluated_rows"][split] = len(labels)
        print(f"evaluating {len(images)} {split} images ...", file=sys.stderr)
        probabilities = {"keras": predict(model, images, contract)}
        probabilities.update({name: c.predict(images) for name, c in classifiers.items()})
        metrics = {
            name: classification_metrics(labels, p.argmax(1), contract.labels) for name, p in probabilities.items()
        }
        report["accuracy"][split] = {n: m["accuracy"] for n, m in metrics.items()}
        report["per_class_recall"][split] = {
            n: {label: c["recall"] for label, c in m["per_class"].items()} for n, m in metrics.items()
        }
        report["confusion_matrix"][split] = {n: m["confusion_matrix"] for n, m in metrics.items()}
        if split == compared_on:
            for name in classifiers:
                report["variants"][name].update(compare(probabilities["keras"], probabilities[name]))
    report["compared_on"], report["compared_rows"] = compared_on, report["evaluated_rows"][compared_on]


def convert(options: Options, inputs: Inputs) -> Conversion:
    """Convert to float32 (and int8 when there are calibration images), evaluate both against Keras."""
    from convert.tflite import check_finite, contract_for, load_variant, to_float32, to_int8
    from train.models import load

    model = load(options.model)
    check_finite(model, options.model)
    contract = contract_for(model, options.model)
    contract.flip_average = contract.flip_average or options.flip_average
    print(f"converting {options.model} ({contract.architecture}) to float32 ...", file=sys.stderr)
    files = {FLOAT32_FILE: _converted("float32", options, lambda: to_float32(model))}
    if inputs.calibration is not None:
        print(f"converting to int8, calibrated on {inputs.calibration_source} ...", file=sys.stderr)
        files[INT8_FILE] = _converted("int8", options, lambda: to_int8(model, inputs.calibration, contract))
    else:
        print("int8 skipped: it needs calibration images; give --data CSV or --calibration DIR", file=sys.stderr)
    names = {file: name for name, file in MODEL_FILES.items()}  # "model_int8.tflite" -> "int8"
    classifiers = {names[f]: load_variant(content, contract) for f, content in files.items()}
    report: dict = {
        "source_model": str(options.model),
        "source_model_sha256": file_sha256(options.model),
        "architecture": contract.architecture,
        "flip_average": contract.flip_average,
        "calibration": inputs.calibration_source,
        "min_agreement": options.min_agreement,
        "variants": {
            names[f]: {"file": f, "bytes": len(content), **classifier_info(classifiers[names[f]])}
            for f, content in files.items()
        },
        "accuracy": {},
        "per_class_recall": {},
        "confusion_matrix": {},
        "evaluated_rows": {},
    }
    if inputs.data is not None:
        _evaluate(report, inputs.data, model, classifiers, contract, options)
    for name, content in files.items():
        report["variants"][names[name]]["xnnpack"] = _partitions(content)
    if inputs.photos is not None and "int8" in classifiers:
        _check_on_photos(report, files, classifiers, inputs.photos, options)
    int8 = report["variants"].get("int8", {})
    left_out = "int8_left_out" in report
    report["passed"] = left_out or "top1_agreement" not in int8 or int8["top1_agreement"] >= options.min_agreement
    if inputs.data is not None and INT8_FILE in files:
        from train.plots import confusion_png

        title = f"{contract.architecture} int8 on {report['compared_on']}"
        matrix = report["confusion_matrix"][report["compared_on"]]["int8"]
        files[CONFUSION_PLOT] = confusion_png(matrix, contract.labels, title)
    contract.extra.update(
        {
            "source_model_sha256": report["source_model_sha256"],
            "models": {f: classifier_info(classifiers[names[f]]) for f in files if f in names},
            **({"int8_left_out": report["int8_left_out"]} if "int8_left_out" in report else {}),
        }
    )
    files[REPORT_FILE] = (json.dumps(report, indent=2) + "\n").encode()
    return Conversion(report, contract, files)


def _partitions(content: bytes) -> dict:
    """`delegate_partitions` of a converted model held in memory."""
    import tempfile

    from edge.classifier import delegate_partitions

    with tempfile.NamedTemporaryFile(suffix=".tflite") as model:
        model.write(content)
        model.flush()
        return delegate_partitions(model.name)


def _check_on_photos(report: dict, files: dict, classifiers: dict, photos: np.ndarray, options: Options) -> None:
    """int8 ships only where it gives float32's top label on at least --min-photo-agreement of the real photos'
    faces: on real faces its 1/256 output steps tie and flip close calls that FER-2013's rows do not show. Below
    that, int8 is left out of the folder (float32 alone runs) and the report says why."""
    float32, int8 = classifiers["float32"].predict(photos), classifiers["int8"].predict(photos)
    agreement = round(float((float32.argmax(1) == int8.argmax(1)).mean()), 4)
    report["photo_agreement"] = {
        "photos": len(photos),
        "source": str(options.photos),
        "int8_vs_float32": agreement,
        "min": options.min_photo_agreement,
    }
    if agreement < options.min_photo_agreement:
        reason = (
            f"int8 gives float32's top label on {agreement:.1%} of {len(photos)} real photos' faces"
            f" ({options.photos.name}), below {options.min_photo_agreement:.0%}"
        )
        report["int8_left_out"] = reason
        del files[INT8_FILE]
        del classifiers["int8"]
        print(f"int8 left out: {reason}", file=sys.stderr)


def write(conversion: Conversion, out: Path) -> Path:
    """The whole folder swapped in (passed), or only the failed report beside the old models; returns the report."""
    from edge.common.files import write_bytes

    try:
        if not conversion.passed:
            write_bytes(out / FAILED_REPORT_FILE, conversion.files[REPORT_FILE])
            return out / FAILED_REPORT_FILE
        write_folder(out, conversion.files, conversion.contract)
    except OSError as exc:
        raise UserError(
            f"{out}: cannot write the model folder ({exc.strerror or exc}); the previous folder is unchanged"
        ) from None
    return out / REPORT_FILE
