"""`python -m convert MODEL.keras --data CSV --out DIR`: float32 + int8 TFLite, contract and report."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from edge.atomic import write_bytes, write_json
from edge.errors import UserError, run_cli

EXIT_DISAGREES = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m convert",
        description="Convert a trained .keras model to float32 and full-integer int8 TFLite models, check both "
        "against Keras, and write them with their contract and a conversion report into one folder for the device.",
    )
    parser.add_argument(
        "model", type=Path, help="a .keras model written by `python -m train` (contract.json beside it)"
    )
    parser.add_argument("--data", type=Path, help="FER-2013 CSV: calibration images (Training rows) and evaluation")
    parser.add_argument("--out", type=Path, default=Path("models/model"), help="output folder (default: models/model)")
    parser.add_argument(
        "--calibration", type=Path, help="folder of face images to calibrate int8 on, instead of --data"
    )
    parser.add_argument("--calibration-size", type=int, default=500, help="calibration images (default: %(default)s)")
    parser.add_argument(
        "--min-agreement",
        type=float,
        default=0.97,
        help="fail (exit 1, models not written) if int8 top-1 agreement with Keras is lower (default: %(default)s)",
    )
    parser.add_argument(
        "--flip-average",
        action="store_true",
        help="record in the contract that the runtime should average each face with its mirror image",
    )
    parser.add_argument(
        "--max-eval-rows",
        type=int,
        default=4000,
        help="evaluate at most this many rows per split, a seeded stratified sample (0: all; default: %(default)s)",
    )
    parser.add_argument("--skip-bad-rows", action="store_true", help="drop invalid CSV rows instead of stopping")
    parser.add_argument("--seed", type=int, default=0, help="calibration sampling seed (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    return parser


def _calibration_from_folder(folder: Path, size: int) -> np.ndarray:
    import cv2

    from edge.contract import IMAGE_SIZE

    if not folder.is_dir():
        raise UserError(f"{folder}: calibration folder not found")
    images = []
    for path in sorted(folder.iterdir())[: size * 2]:
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if image is not None:
            images.append(cv2.resize(image, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_AREA))
    if not images:
        raise UserError(f"{folder}: no readable images to calibrate on")
    return np.stack(images[:size])


def convert(args: argparse.Namespace) -> int:
    from convert.converter import (
        FLOAT_FILE,
        INT8_FILE,
        Variant,
        contract_for,
        load_variant,
        sha256,
        to_float32,
        to_int8,
    )
    from convert.report import classifier_info, compare, format_table
    from train.cli import load_dataset
    from train.data import stratified_sample, validation_split_name
    from train.metrics import classification_metrics
    from train.models import load
    from train.report import plot_confusion, predict

    model = load(args.model)
    contract = contract_for(model, args.model)
    contract.flip_average = contract.flip_average or args.flip_average
    data = load_dataset(args.data, args.skip_bad_rows, seed=args.seed) if args.data else None

    calibration, calibration_source = None, None
    if data is not None:
        images, labels = data.split("Training")
        calibration = images[stratified_sample(labels, args.calibration_size, args.seed)]
        calibration_source = (
            f"{len(calibration)} Training rows of {args.data.name}, stratified by class, seed {args.seed}"
        )
    elif args.calibration:
        calibration = _calibration_from_folder(args.calibration, args.calibration_size)
        calibration_source = f"{len(calibration)} images from {args.calibration}"

    print(f"converting {args.model} ({contract.architecture}) to float32 ...", file=sys.stderr)
    variants = [Variant("float32", FLOAT_FILE, to_float32(model))]
    if calibration is not None:
        print(f"converting to int8, calibrated on {calibration_source} ...", file=sys.stderr)
        variants.append(Variant("int8", INT8_FILE, to_int8(model, calibration, contract)))
    else:
        print("int8 skipped: it needs calibration images; give --data CSV or --calibration DIR", file=sys.stderr)

    classifiers = {v.name: load_variant(v, contract) for v in variants}
    report: dict = {
        "source_model": str(args.model),
        "source_model_sha256": sha256(args.model),
        "architecture": contract.architecture,
        "flip_average": contract.flip_average,
        "calibration": calibration_source,
        "min_agreement": args.min_agreement,
        "variants": {
            v.name: {"file": v.filename, "bytes": len(v.content), **classifier_info(classifiers[v.name])}
            for v in variants
        },
        "accuracy": {},
        "per_class_recall": {},
        "confusion_matrix": {},
        "evaluated_rows": {},
    }
    if data is not None:
        compared_on = validation_split_name(data)
        for split in data.splits:
            images, labels = data.split_sample(split, args.max_eval_rows, args.seed)
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

    int8 = report["variants"].get("int8", {})
    passed = "top1_agreement" not in int8 or int8["top1_agreement"] >= args.min_agreement
    report["passed"] = passed
    args.out.mkdir(parents=True, exist_ok=True)
    report_path = args.out / "conversion_report.json"
    write_json(report_path, report)
    print(json.dumps(report, indent=2) if args.json else (format_table(report) if data is not None else ""))
    if not passed:
        print(
            f"convert: error: int8 agrees with Keras on {int8['top1_agreement']:.2%} of {report['compared_on']}, below"
            f" --min-agreement {args.min_agreement:.2%}; models not written (see {report_path})",
            file=sys.stderr,
        )
        return EXIT_DISAGREES
    for variant in variants:
        write_bytes(args.out / variant.filename, variant.content)
    if data is not None and "int8" in classifiers:
        title = f"{contract.architecture} int8 on {report['compared_on']}"
        matrix = report["confusion_matrix"][report["compared_on"]]["int8"]
        plot_confusion(matrix, contract.labels, title, args.out / "confusion_matrix_int8.png")
    contract.extra.update(
        {
            "source_model_sha256": report["source_model_sha256"],
            "models": {v.filename: classifier_info(classifiers[v.name]) for v in variants},
        }
    )
    contract.save(args.out)
    print(f"wrote {', '.join(v.filename for v in variants)}, contract.json, conversion_report.json to {args.out}")
    return 0


def build_card_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m convert card",
        description="Write MODEL_CARD.md into a converted model folder from the files train and convert wrote.",
    )
    parser.add_argument("--run", required=True, type=Path, help="the training run folder (metrics.json, history.csv)")
    parser.add_argument("--models", required=True, type=Path, help="the converted folder (conversion_report.json)")
    parser.add_argument("--recipe", required=True, type=Path, help="the script with the exact commands")
    parser.add_argument("--data", type=Path, help="the CSV it was trained on, to record its sha256")
    parser.add_argument("--teachers", nargs="*", type=Path, default=[], help="teacher run folders, for their time")
    parser.add_argument("--hardware", required=True, help="what trained it, e.g. '1x NVIDIA H100 (JAX backend)'")
    return parser


def card(args: argparse.Namespace) -> int:
    from convert.card import write_card

    print(f"wrote {write_card(args.run, args.models, args.recipe, args.data, args.hardware, args.teachers)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["card"]:
        card_args = build_card_parser().parse_args(argv[1:])
        return run_cli(lambda: card(card_args), "convert")
    args = build_parser().parse_args(argv)
    return run_cli(lambda: convert(args), "convert")
