"""`python -m train [fit] ...`, `python -m train evaluate ...` and `python -m train parse ...`."""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from dataclasses import fields
from pathlib import Path

import numpy as np

from edge.common.errors import UserError, described, run_cli
from edge.common.options import (
    Parser,
    add_verbose,
    add_version,
    fraction,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from edge.common.quiet import quiet_native
from edge.contract import CONTRACT_FILENAME, FERPLUS_LABELS, LABELS, Contract
from edge.model_folder import MODEL_FILES, check_folder, write_folder
from train import distribute
from train.data import (
    DEFAULT_FERPLUS,
    Dataset,
    add_data_options,
    attach_votes,
    check_labels,
    dataset_from,
    validation_split_name,
)
from train.models import ARCHITECTURES, DEFAULT_ARCH
from train.run import (
    TrainConfig,
    check_against_data,
    check_init_from,
    prepare_out,
    run_identity,
    training_contract,
    with_crop_scale,
)

SUBCOMMANDS = ("fit", "evaluate", "parse", "teach", "framing")


def _common(parser: argparse.ArgumentParser, verbose: bool = True, sources: bool = False) -> None:
    """The options every train subcommand shares: how to read --data, --json, and --verbose where TF runs."""
    add_data_options(parser, sources=sources)
    parser.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")
    if verbose:
        add_verbose(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m train",
        description="Train a facial-expression CNN on FER-2013 (48x48 grayscale; its 7 labels, or FER+'s 8). "
        "The default subcommand is fit; an interrupted fit resumes when rerun with the same arguments.",
    )
    add_version(parser)
    sub = parser.add_subparsers(dest="command")
    fit = sub.add_parser(
        "fit", help="train a model into a run folder (default)", description="Train a model into --out."
    )
    _common(fit, sources=True)
    add_fit_options(fit)
    add_tool_commands(sub)
    return parser


def add_fit_options(fit: argparse.ArgumentParser) -> None:
    defaults = TrainConfig()
    fit.add_argument("--out", type=Path, default=Path("runs/train"), help="run folder (default: runs/train)")
    fit.add_argument(
        "--arch", choices=sorted(ARCHITECTURES), default=DEFAULT_ARCH, help=f"architecture (default: {DEFAULT_ARCH})"
    )
    fit.add_argument(
        "--epochs", type=positive_int, default=defaults.epochs, help="maximum epochs (default: %(default)s)"
    )
    fit.add_argument("--batch-size", type=positive_int, default=defaults.batch_size, help="default: %(default)s")
    fit.add_argument(
        "--optimizer", choices=("adam", "sgd"), default=defaults.optimizer, help="AdamW or SGD with Nesterov momentum"
    )
    fit.add_argument("--lr", type=positive_float, default=defaults.lr, help="peak learning rate (default: %(default)s)")
    fit.add_argument(
        "--weight-decay", type=non_negative_float, default=defaults.weight_decay, help="default: %(default)s"
    )
    fit.add_argument(
        "--schedule",
        choices=("plateau", "cosine"),
        default=defaults.schedule,
        help="halve the LR when validation accuracy stalls, or cosine decay with warm-up (default: %(default)s)",
    )
    fit.add_argument("--label-smoothing", type=fraction, default=defaults.label_smoothing, help="default: %(default)s")
    fit.add_argument(
        "--class-weight",
        choices=("none", "sqrt", "balanced"),
        default=defaults.class_weight,
        help="loss weight per class against imbalance (Disgust is rare): sqrt of inverse frequency by default",
    )
    fit.add_argument("--seed", type=non_negative_int, default=defaults.seed, help="random seed (default: %(default)s)")
    add_target_options(fit.add_argument_group("what each face is taught"), defaults)
    fit.add_argument(
        "--distribute",
        choices=distribute.CHOICES,
        default=defaults.distribute,
        help="data-parallel: split every batch across all local devices (and hosts, through Keras's"
        " KERAS_DISTRIBUTION_* variables); needs KERAS_BACKEND=jax and a --batch-size divisible by the"
        " device count (default: %(default)s)",
    )
    fit.add_argument(
        "--workers", type=positive_int, default=defaults.workers, help="augmentation threads (default: %(default)s)"
    )


def add_target_options(fit: argparse._ArgumentGroup, defaults: TrainConfig) -> None:
    """Augmentation, distillation, FER+ votes and fine-tuning: what the model learns from each Training face."""
    fit.add_argument(
        "--no-augment", dest="augment", action="store_false", help="turn off flips/shifts/rotation/zoom/erasing"
    )
    fit.add_argument(
        "--camera-augment",
        action="store_true",
        help="also augment like a real camera: wider framing jitter (zoom 0.2, shift 0.12), blur, JPEG, exposure,"
        " noise",
    )
    fit.add_argument(
        "--mixup", type=non_negative_float, default=defaults.mixup, help="mixup Beta alpha; 0 turns it off (default)"
    )
    fit.add_argument(
        "--patience",
        type=non_negative_int,
        default=defaults.patience,
        help="early-stopping patience in epochs; 0 turns it off",
    )
    fit.add_argument(
        "--soft-labels",
        type=Path,
        help="teacher probabilities for the Training rows (.npy from `python -m train teach`): distil from them",
    )
    fit.add_argument(
        "--teacher",
        type=Path,
        metavar="DIR",
        help="a converted model folder (or one .tflite file in it) that teaches on every augmented batch, judging"
        " the very view the student sees (a folder's int8 model when it has one); instead of --soft-labels",
    )
    fit.add_argument(
        "--distill-weight",
        type=fraction,
        default=defaults.distill_weight,
        help="teacher share of each target; the rest is the one-hot label (default: %(default)s)",
    )
    fit.add_argument(
        "--split-by",
        type=Path,
        metavar="NPY",
        help="a teacher's probabilities (.npy from `python -m train teach`) that decide how each target's share of"
        " --split-classes is divided among them: the web-photo teacher's smile-or-not over FER-2013's Neutral",
    )
    fit.add_argument(
        "--split-classes",
        default=defaults.split_classes,
        help="the classes whose shared target --split-by divides, comma-separated (default: %(default)s)",
    )
    fit.add_argument(
        "--soft-targets",
        action="store_true",
        help="with --labels ferplus: train on each face's FER+ vote distribution instead of its majority label",
    )
    fit.add_argument(
        "--vote-weight",
        type=fraction,
        default=defaults.vote_weight,
        help="with FER-2013's labels: share of each target taken from FER+'s annotator votes mapped onto the 7"
        " labels (how expressive each face is); 0 turns it off (default)",
    )
    fit.add_argument(
        "--init-from",
        type=Path,
        help="fine-tune a converted model folder (its float32 .tflite, batch norms folded) instead of training"
        " --arch from scratch",
    )


def add_tool_commands(sub: argparse._SubParsersAction) -> None:
    """evaluate, teach and parse: the commands around training."""
    evaluate = sub.add_parser(
        "evaluate",
        help="metrics of a saved model on any CSV",
        description="Print accuracy, per-class metrics, macro-F1.",
    )
    evaluate.add_argument("--model", required=True, type=Path, help="a .keras model (its contract.json beside it)")
    _common(evaluate)

    teach = sub.add_parser(
        "teach",
        help="save a teacher ensemble's probabilities for distillation",
        description="Average the flip-averaged probabilities of one or more .keras models on the Training rows of"
        " --data (CSVs and photo folders, as `fit` reads them: give fit the same --data) and save them as .npy for"
        " `fit --soft-labels`.",
    )
    teach.add_argument(
        "--model",
        required=True,
        nargs="+",
        type=Path,
        help="teachers: .keras models, or converted model folders (their float32 .tflite)",
    )
    teach.add_argument("--out", required=True, type=Path, help="output .npy file")
    teach.add_argument(
        "--per-source",
        action="store_true",
        help="one --model per --data source, in order: each source is taught by its own teacher (face-api's network"
        " for web photos, a FER-2013 model for FER-2013's rows) instead of all teachers averaged over all",
    )
    _common(teach, sources=True)

    framing = sub.add_parser(
        "framing",
        help="measure where each detector's box falls on the training faces, into a model's contract",
        description="Run every detector on upscaled Training faces and write the median framing into the contract"
        " of --into (a run folder, or a converted model folder, which is re-sealed): the device then crops live"
        " faces the way the training data framed them. `fit` does this itself at the end of a run.",
    )
    framing.add_argument("--into", required=True, type=Path, help="a run folder or a converted model folder")
    _common(framing, verbose=False)

    parse = sub.add_parser(
        "parse",
        help="parse and validate a CSV, with time and peak memory",
        description="Check a CSV and profile loading it.",
    )
    _common(parse, verbose=False)


def _parse(args: argparse.Namespace) -> int:
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    data = dataset_from(args)
    seconds = time.perf_counter() - started
    peak_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline) / 1024
    result = {
        "file": str(args.data),
        "rows": len(data),
        "skipped": len(data.skipped),
        "splits": {name: data.class_counts(name) for name in data.splits},
        "seconds": round(seconds, 3),
        "peak_memory_above_baseline_mb": round(peak_mb, 1),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['rows']} rows ({result['skipped']} skipped) in {seconds:.2f} s, peak +{peak_mb:.0f} MB")
        for name, counts in result["splits"].items():
            print(f"  {name:<12}{sum(counts):>7}  per class {counts}")
    return 0


def _fit(args: argparse.Namespace) -> int:
    """Every check first (options, data, --out, resume), then TensorFlow."""
    config = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    devices = distribute.devices_for(config.distribute, config.batch_size, quiet=not args.verbose)
    shares = args.mix or [1.0] * len(args.data)
    if any(not (0 < share <= 100) for share in shares):
        raise UserError(f"--mix {' '.join(map(str, shares))}: each share must be above 0 and at most 100")
    if config.init_from is not None:
        check_init_from(config.init_from)
    data = _sources(args, training_contract(config, _labels_of(args.labels)), shares)
    if config.vote_weight and args.labels == "fer2013":
        if len(args.data) > 1:
            raise UserError("--vote-weight reads FER+ votes for one FER-2013 CSV; give that one --data alone")
        attach_votes(data, args.ferplus_csv or args.data[0].parent / DEFAULT_FERPLUS)
    check_against_data(config, data, validation_split_name(data))
    identity = run_identity(config, args.data, args.labels, args.ferplus_csv, args.skip_bad_rows, shares)
    state = prepare_out(args.out, identity)
    started = time.monotonic()
    with quiet_native(not args.verbose):
        from train.fit import train
        from train.report import format_metrics

        try:
            metrics = train(data, config, args.out, state, identity, devices)
        except OSError as exc:  # a disk that fills up during the run
            raise UserError(f"{exc.filename or args.out}: cannot write ({exc.strerror or exc})") from None
        except Exception as exc:
            if not type(exc).__module__.startswith(("tensorflow", "keras", "jax")):
                raise
            # TensorFlow's own failures (out of memory, a device error) reach the user as one line.
            raise UserError(f"TensorFlow stopped training {args.out} ({described(exc)})") from None
    print(f"\nFinished {args.out} in {time.monotonic() - started:.0f} s")
    print(json.dumps(metrics, indent=2) if args.json else format_metrics(metrics))
    print(f"Outputs: {', '.join(sorted(p.name for p in args.out.iterdir() if not p.name.startswith('.')))}")
    return 0


def _labels_of(source: str) -> tuple[str, ...]:
    return FERPLUS_LABELS if source == "ferplus" else LABELS


def _evaluate(args: argparse.Namespace) -> int:
    if not args.model.is_file():
        raise UserError(f"{args.model}: model not found")
    contract = Contract.load(args.model.parent)
    data = dataset_from(args)
    check_labels(data, contract, args.model)
    with quiet_native(not args.verbose):
        from train.models import load
        from train.report import evaluate, format_metrics

        metrics = evaluate(load(args.model), data, contract)
    print(json.dumps(metrics, indent=2) if args.json else format_metrics(metrics))
    return 0


def _teach(args: argparse.Namespace) -> int:
    from train.distill import model_contract, save_soft_labels, teacher_probabilities

    if args.out.is_dir():
        raise UserError(f"{args.out}: is a folder; --out names the .npy file to write")
    if args.per_source and len(args.model) != len(args.data):
        raise UserError(f"--per-source: {len(args.model)} --model for {len(args.data)} --data sources; give one each")
    # (sources, their teachers): each source with its own model, or every source with every model averaged.
    pairs = [([d], [m]) for d, m in zip(args.data, args.model, strict=True)] if args.per_source else [
        (args.data, args.model)]  # fmt: skip
    parts, labels = [], []
    for sources, models in pairs:
        one = argparse.Namespace(**{**vars(args), "data": sources})
        data = _sources(one, with_crop_scale(model_contract(models[0]), args.crop_scale))
        for model in models:
            check_labels(data, model_contract(model), model)
        with quiet_native(not args.verbose):
            parts.append(teacher_probabilities(models, data))
        labels.append(data.split("Training")[1])
    soft, labels = np.concatenate(parts), np.concatenate(labels)
    save_soft_labels(args.out, soft)
    agreement = float((soft.argmax(1) == labels).mean())
    print(f"wrote {args.out}: {soft.shape[0]} Training rows; teachers' accuracy on them {agreement:.4f}")
    return 0


def _sources(args: argparse.Namespace, contract: Contract, shares: list[float] | None = None) -> Dataset:
    """The --data sources of `fit` or `teach`, cut for `contract` (photos by its framing)."""
    from train.sources import SourceOptions, load_sources

    options = SourceOptions(args.skip_bad_rows, args.labels, args.ferplus_csv, getattr(args, "seed", 0), args.detector)
    return load_sources(args.data, shares or [1.0] * len(args.data), contract, options)


def _framing(args: argparse.Namespace) -> int:
    from train.framing import measure_all

    converted = (args.into / MODEL_FILES["int8"]).is_file() or (args.into / MODEL_FILES["float32"]).is_file()
    contract = check_folder(args.into) if converted else Contract.load(args.into)
    data = dataset_from(args)
    contract.framing = measure_all(data.split("Training")[0])
    if converted:
        write_folder(args.into, {}, contract, keep=True)
    else:
        contract.save(args.into)
    if args.json:
        print(json.dumps(contract.framing, indent=2))
    else:
        print(
            f"wrote the framing of {', '.join(contract.framing) or 'no detector'} into {args.into / CONTRACT_FILENAME}"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in SUBCOMMANDS and argv[0] not in ("-h", "--help", "--version")):
        argv.insert(0, "fit")
    args = build_parser().parse_args(argv)
    handler = {"fit": _fit, "evaluate": _evaluate, "parse": _parse, "teach": _teach, "framing": _framing}[args.command]
    return run_cli(lambda: handler(args), "train")
