"""`python -m convert MODEL.keras --data CSV --out DIR`, `python -m convert card ...` and `python -m convert
faceapi ...`: options, checks, messages.

The work is in convert/conversion.py and convert/card.py. Every check that needs no TensorFlow (options, the
model file, the data, a writable --out) runs before TensorFlow is imported, and TensorFlow's native output stays
off the terminal (and off stdout, so `--json` prints JSON only) unless --verbose.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import fields
from pathlib import Path

from edge.common.errors import UserError, run_cli
from edge.common.options import Parser, add_verbose, add_version, fraction, non_negative_int, positive_int
from edge.common.quiet import quiet_native
from train.data import add_data_options

EXIT_DISAGREES = 1


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m convert",
        description="Convert a trained .keras model to float32 and full-integer int8 TFLite models, check both "
        "against Keras, and write them with their contract and a conversion report into one folder for the device"
        " (the folder is replaced as one unit). `python -m convert card --help`: write its MODEL_CARD.md;"
        " `python -m convert faceapi --help`: import face-api's expression network.",
    )
    add_version(parser)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "model", nargs="?", type=Path, help="a .keras model written by `python -m train` (contract.json beside it)"
    )
    source.add_argument("--model", dest="model_option", type=Path, help="the same, as an option")
    add_data_options(parser, required=False)
    parser.add_argument("--out", type=Path, default=Path("models/model"), help="output folder (default: models/model)")
    parser.add_argument(
        "--calibration", type=Path, help="folder of face images to calibrate int8 on, instead of --data"
    )
    parser.add_argument(
        "--calibration-size", type=positive_int, default=500, help="calibration images (default: %(default)s)"
    )
    parser.add_argument(
        "--min-agreement",
        type=fraction,
        default=0.97,
        help="fail (exit 1, models not written) if int8 top-1 agreement with Keras is lower (default: %(default)s)",
    )
    parser.add_argument(
        "--photos",
        type=Path,
        metavar="DIR",
        help="labelled real photos (a folder as `train fit --data` reads them): int8 is left out of the folder"
        " unless it gives float32's top label on at least --min-photo-agreement of their faces",
    )
    parser.add_argument(
        "--min-photo-agreement", type=fraction, default=0.97, help="with --photos (default: %(default)s)"
    )
    parser.add_argument(
        "--flip-average",
        action="store_true",
        help="record in the contract that the runtime should average each face with its mirror image",
    )
    parser.add_argument(
        "--max-eval-rows",
        type=non_negative_int,
        default=4000,
        help="evaluate at most this many rows per split, a seeded stratified sample (0: all; default: %(default)s)",
    )
    parser.add_argument(
        "--seed", type=non_negative_int, default=0, help="calibration sampling seed (default: %(default)s)"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    add_verbose(parser)
    return parser


def convert_command(args: argparse.Namespace) -> int:
    from convert.conversion import Options, check_inputs, convert, write

    given = {f.name: getattr(args, f.name) for f in fields(Options) if f.name != "model"}
    options = Options(model=args.model or args.model_option, **given)
    inputs = check_inputs(options)
    with quiet_native(not args.verbose, hide_stdout=True):
        conversion = convert(options, inputs)
    report_path = write(conversion, args.out)
    report = conversion.report
    if args.json:
        print(json.dumps(report, indent=2))
    elif inputs.data is not None:
        from convert.report import format_table

        print(format_table(report))
    if not conversion.passed:
        print(
            f"convert: error: int8 agrees with Keras on {report['variants']['int8']['top1_agreement']:.2%} of"
            f" {report['compared_on']}, below --min-agreement {args.min_agreement:.2%}; models not written"
            f" (see {report_path})",
            file=sys.stderr,
        )
        return EXIT_DISAGREES
    print(f"wrote {', '.join(sorted(conversion.files))} and contract.json to {args.out}", file=sys.stderr)
    return 0


def build_card_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m convert card",
        description="Write MODEL_CARD.md into a converted model folder from the files train and convert wrote.",
    )
    add_version(parser)
    parser.add_argument(
        "--run", type=Path, help="the training run folder (metrics.json, history.csv); not for an imported model"
    )
    parser.add_argument(
        "--model", "--models", dest="models", required=True, type=Path, help="the converted folder to write it into"
    )
    parser.add_argument("--recipe", required=True, type=Path, help="the script with the exact commands")
    parser.add_argument("--data", type=Path, help="the CSV it was trained on, to record its sha256")
    parser.add_argument("--teachers", nargs="*", type=Path, default=[], help="teacher run folders, for their time")
    parser.add_argument("--hardware", help="what trained it, e.g. '1x NVIDIA H100 (JAX backend)'; with --run")
    parser.add_argument(
        "--license",
        type=Path,
        help="a licence notice copied into the folder: an imported model's (without --run), or that of the model a"
        " trained one was fine-tuned from",
    )
    parser.add_argument(
        "--credit",
        action="append",
        default=[],
        metavar="TEXT",
        help="with --run: a sentence for the card's licence section, naming what else the model was made from and"
        " its licence (repeatable)",
    )
    parser.add_argument(
        "--real-faces",
        type=Path,
        help="a results.json of `python -m benchmarks --real-faces-only --model THIS_FOLDER`: its real-photo"
        " accuracy goes into the card",
    )
    return parser


def card(args: argparse.Namespace) -> int:
    from convert.card import write_card, write_imported_card

    if args.license is not None and args.run is None:
        written = write_imported_card(args.models, args.recipe, args.license, real_faces=args.real_faces)
        print(f"wrote {written}")
        return 0
    if args.run is None or args.hardware is None:
        raise UserError("--run and --hardware are required for a trained model (an imported one takes --license)")
    written = write_card(
        args.run, args.models, args.recipe, args.data, args.hardware, args.teachers, real_faces=args.real_faces,
        credits=args.credit, license_file=args.license,
    )  # fmt: skip
    print(f"wrote {written}")
    return 0


def build_faceapi_parser() -> argparse.ArgumentParser:
    from convert.faceapi import PACKAGE, PACKAGE_VERSION

    parser = Parser(
        prog="python -m convert faceapi",
        description=f"Import the face-expression network of the npm package {PACKAGE} {PACKAGE_VERSION} (MIT) as"
        " OUT/model.keras and OUT/contract.json (112x112 RGB, the contract's labels); then `python -m convert"
        " OUT/model.keras --data CSV --out DIR` converts it like any model. Nothing is downloaded: unpack"
        f" `npm pack {PACKAGE}@{PACKAGE_VERSION}` and point --package at it.",
    )
    add_version(parser)
    parser.add_argument("--package", required=True, type=Path, help="the unpacked npm package (its package/ folder)")
    parser.add_argument("--out", required=True, type=Path, help="the folder for model.keras and contract.json")
    add_verbose(parser)
    return parser


def faceapi(args: argparse.Namespace) -> int:
    with quiet_native(not args.verbose):
        from convert.faceapi import import_network

        written = import_network(args.package, args.out)
    print(f"wrote {written} and {written.parent / 'contract.json'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["card"]:
        card_args = build_card_parser().parse_args(argv[1:])
        return run_cli(lambda: card(card_args), "convert")
    if argv[:1] == ["faceapi"]:
        faceapi_args = build_faceapi_parser().parse_args(argv[1:])
        return run_cli(lambda: faceapi(faceapi_args), "convert")
    args = build_parser().parse_args(argv)
    return run_cli(lambda: convert_command(args), "convert")
