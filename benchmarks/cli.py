"""`python -m benchmarks --model DIR [--data CSV] [--clip VIDEO] [--real-faces DIR] [--out DIR]`."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shlex
import sys
from pathlib import Path

from benchmarks.container import IMAGE as CONTAINER_IMAGE
from benchmarks.crop_scales import PHOTOS
from benchmarks.photos import FACES
from benchmarks.real_faces import REAL_FACES
from benchmarks.zoo import zoo_model
from edge.classifier import default_threads
from edge.common.errors import UserError, run_cli
from edge.common.files import probe_folder, write_json, write_text
from edge.common.options import Parser, add_verbose, add_version, frame_sizes, non_negative_int, positive_int
from edge.common.quiet import quiet_native
from edge.common.urls import redact_url
from edge.model_folder import DEFAULT_MODEL_DIR, MODEL_FILES, MODEL_NAMES, REPORT_FILE, check_folder, model_location
from edge.sources.base import exit_status
from train.data import add_data_options

EXIT_TARGET_MISSED = 1
VIEWER_FRAMES_FACTOR = 3  # viewer rounds run longer than --frames: the video is encoded at 10 frames a second


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m benchmarks",
        description="Measure a converted model on this machine: per-face latency (float32 vs int8, 1 thread and all"
        " cores), interpreter memory, accuracy from the .tflite files, pipeline FPS with a per-stage breakdown next"
        " to the Haar-alone floor and the reference notebook's loop, each detector and mode on a labelled clip,"
        " expression accuracy on labelled real photos, and verdicts against the project's targets.",
    )
    add_version(parser)
    add_verbose(parser)
    parser.add_argument(
        "--model",
        type=model_location,
        default=DEFAULT_MODEL_DIR,
        help=f"a converted folder, or a shipped model by name ({', '.join(MODEL_NAMES)}; default: default)",
    )
    add_data_options(parser, required=False)
    parser.add_argument("--clip", type=Path, help="a video to time the pipeline on (default: the demo clip)")
    parser.add_argument(
        "--sizes", type=frame_sizes, default="640x480,1280x720", help="demo clip sizes (default: %(default)s)"
    )
    parser.add_argument("--frames", type=positive_int, default=60, help="frames per clip (default: %(default)s)")
    parser.add_argument(
        "--rounds", type=positive_int, default=5, help="alternating rounds; medians are reported (default: 5)"
    )
    parser.add_argument(
        "--repeats", type=positive_int, default=200, help="invokes per model per round (default: %(default)s)"
    )
    parser.add_argument(
        "--max-eval-rows",
        type=non_negative_int,
        default=4000,
        help="rows per split for accuracy (0: all; default: 4000)",
    )
    parser.add_argument(
        "--keras",
        type=Path,
        help="the .keras model for the reference loop (default: the one conversion recorded, else the contract's"
        " architecture with fresh weights, which costs the same to run)",
    )
    parser.add_argument("--no-reference", action="store_true", help="skip the reference Keras loop")
    for add_options in (add_detection_options, add_real_faces_options, add_zoo_options, add_container_options):
        add_options(parser)
    parser.add_argument(
        "--out", type=Path, help="results folder (default: bench/<model folder name>; with --zoo: bench/zoo)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="2 rounds, 20 repeats, 10 frames, 640x480 only; detection: 16 frames, 1"
    )
    parser.add_argument(
        "--readme",
        type=Path,
        help="also copy results.md and the plots into this Markdown page (docs/performance.md), between its"
        " benchmark and detection markers",
    )
    parser.add_argument(
        "--no-viewers",
        action="store_true",
        help="skip the web view's cost (FPS with two viewers against none), the extras' (/metrics scraped and"
        " snapshots written against neither) and --privacy blur's (covering a frame's faces against the pipeline)",
    )
    parser.add_argument(
        "--no-reconnect",
        action="store_true",
        help="skip the network camera's reconnect time (a real RTSP server on loopback killed and restarted);"
        " it is skipped by itself, with the reason, where GStreamer's RTSP server is not installed",
    )
    parser.add_argument("--fail-on-miss", action="store_true", help="exit 1 when a target is missed")
    return parser


def add_container_options(parser: argparse.ArgumentParser) -> None:
    container = parser.add_argument_group("container (docs/container.md)")
    container.add_argument(
        "--container",
        action="store_true",
        help="run only the container image's figures: its size, `podman run` to the demo's first frame, and FPS"
        " inside against the same run in this Python (--rounds alternating rounds); builds it with `make image`",
    )
    container.add_argument(
        "--container-image", default=CONTAINER_IMAGE, help="the image to build and measure (default: %(default)s)"
    )


def add_detection_options(parser: argparse.ArgumentParser) -> None:
    detection = parser.add_argument_group("detection (each detector and mode on a labelled multi-face clip)")
    detection.add_argument("--detection-only", action="store_true", help="run only the detection benchmark")
    detection.add_argument(
        "--detect-frames", type=positive_int, default=120, help="labelled clip length (default: %(default)s)"
    )
    detection.add_argument(
        "--detect-rounds", type=positive_int, default=3, help="rounds after a warm-up (default: %(default)s)"
    )
    detection.add_argument(
        "--faces",
        type=Path,
        default=FACES,
        help="labelled real photos to score the detectors on, skipped when absent (default: %(default)s)",
    )


def add_real_faces_options(parser: argparse.ArgumentParser) -> None:
    real = parser.add_argument_group("real faces (expression accuracy on labelled photos, largest face of each)")
    real.add_argument(
        "--real-faces",
        type=Path,
        default=REAL_FACES,
        metavar="DIR",
        help="a folder with a labels.csv (file,label[,subject,...]; paths relative to it), your own photos too;"
        " skipped when absent (default: %(default)s)",
    )
    real.add_argument("--real-faces-only", action="store_true", help="run only the real-faces benchmark")
    real.add_argument(
        "--photos",
        type=Path,
        default=PHOTOS,
        metavar="DIR",
        help="labelled web photos whose validation subjects (never trained on) score crop scales, beside"
        " --real-faces; skipped when absent (default: %(default)s)",
    )
    real.add_argument(
        "--set-framing",
        action="store_true",
        help="only: score --model across crop scales on --real-faces and --photos' validation subjects, and write"
        " the scale with the best mean accuracy into its contract's framing (the folder is re-sealed)",
    )


def add_zoo_options(parser: argparse.ArgumentParser) -> None:
    zoo = parser.add_argument_group(
        "model zoo (every shipped model side by side: speed, size, accuracy on its own test set and on real faces)"
    )
    zoo.add_argument("--zoo", action="store_true", help="run only the model zoo table and plot")
    zoo.add_argument(
        "--zoo-model",
        type=zoo_model,
        action="append",
        metavar="NAME=DIR",
        help="add a converted folder to the zoo under NAME (repeatable); a zoo name (default, fast, ferplus) replaces"
        " that model, to check a candidate against its targets",
    )
    zoo.add_argument("--no-zoo", action="store_true", help="leave the model zoo out of the full run")


def _check_modes(args: argparse.Namespace) -> None:
    """Refuse option combinations that ask for two different runs."""
    modes = ("detection_only", "real_faces_only", "zoo", "set_framing", "container")
    only = [f"--{name.replace('_', '-')}" for name in modes if getattr(args, name)]
    if len(only) > 1:
        raise UserError(f"{' and '.join(only)}: choose one")
    if args.no_zoo and (args.zoo or args.zoo_model):
        raise UserError(f"--no-zoo and {'--zoo' if args.zoo else '--zoo-model'}: choose one")
    if args.container and args.readme:
        raise UserError("--container and --readme: the container's figures belong in docs/container.md; choose one")


def _zoo_wanted(args: argparse.Namespace) -> bool:
    return args.zoo or not (
        args.detection_only or args.real_faces_only or args.no_zoo or args.set_framing or args.container
    )


def _reference_wanted(args: argparse.Namespace) -> bool:
    return not args.no_reference and importlib.util.find_spec("keras") is not None


def _reference_model(args: argparse.Namespace) -> Path | None:
    """The .keras model the conversion recorded, when it is on this machine (runs/ are not shipped)."""
    if args.keras:
        return args.keras
    report = args.model / REPORT_FILE
    if report.is_file():
        source = Path(json.loads(report.read_text())["source_model"])
        return source if source.is_file() else None
    return None


def _model_and_pipeline(args: argparse.Namespace, models: dict, results: dict, progress) -> None:
    """Latency, memory, accuracy, whole-pipeline FPS on the demo clip (or --clip) and the web view's cost."""
    from benchmarks.latency import interpreter_memory, model_latency
    from benchmarks.pipeline import full_pipeline, haar_only, load_clip, measure, reference_loop
    from edge.detectors.base import DetectorConfig
    from train.data import check_labels, dataset_from

    contract = check_folder(args.model)
    data = dataset_from(args) if args.data else None
    if data is not None:
        check_labels(data, contract, args.model)
    threads = sorted({1, default_threads()})  # one, and what edge uses by default (all the cores it may use)
    results.update({
        "model": str(args.model),
        "flip_average": contract.flip_average,
        "rounds": args.rounds,
        "sizes": {name: path.stat().st_size for name, path in models.items()},
        "pipeline": {},
        "decode_ms_per_frame": {},
    })  # fmt: skip
    results["latency"] = model_latency(models, contract, threads, args.rounds, args.repeats)
    results["memory"] = {name: interpreter_memory(path, args.model) for name, path in models.items()}
    progress.update(1)
    if data is not None:
        from benchmarks.accuracy import tflite_accuracy

        results["accuracy"] = tflite_accuracy(models, contract, data, args.max_eval_rows)
        progress.update(1)
    detector = DetectorConfig()
    reference = _reference_wanted(args)
    keras_model = _reference_model(args) if reference else None
    for size in _sizes(args):
        frames, decode_ms = load_clip(args.clip, size or (640, 480), args.frames)
        if not frames:
            raise UserError(f"{args.clip}: no frames could be decoded")
        height, width = frames[0].shape[:2]
        clip = f"{args.clip.name if args.clip else 'demo'} {width}x{height}"
        variants = [haar_only(detector)]
        variants += [full_pipeline(name, args.model, name, detector) for name in models]
        if "int8" in models:
            variants.append(full_pipeline("int8, --detect-every 3", args.model, "int8", detector, detect_every=3))
        if reference:
            variants.append(reference_loop(keras_model, contract))
        results["pipeline"][clip] = measure(variants, frames, args.rounds, progress)
        results["decode_ms_per_frame"][clip] = round(decode_ms, 3)
    if _viewers(args, models):
        from benchmarks.viewers import viewer_cost

        frames, _ = load_clip(args.clip, (640, 480), args.frames * VIEWER_FRAMES_FACTOR)
        results["viewers"] = viewer_cost(args.model, frames, args.rounds, progress=progress)
    if _viewers(args, models):
        from benchmarks.clip import labelled_clip
        from benchmarks.extras import extras_cost, privacy_cost

        frames, _ = labelled_clip(args.frames * VIEWER_FRAMES_FACTOR)
        results["extras"] = extras_cost(args.model, frames, args.rounds, progress=progress)
        results["privacy"] = privacy_cost(args.model, frames, args.rounds, progress=progress)


def _sizes(args: argparse.Namespace) -> list:
    return args.sizes if not args.clip else [None]


def _viewers(args: argparse.Namespace, models: dict) -> bool:
    return bool(models) and not args.no_viewers


def bench(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from benchmarks.detection import DETECTORS, MODES, detection_benchmark
    from benchmarks.machine import machine_facts
    from benchmarks.report import markdown, plots, terminal, verdicts

    _check_modes(args)
    if args.quick:
        args.rounds, args.repeats, args.frames, args.sizes = 2, 20, 10, [(640, 480)]
        args.detect_frames, args.detect_rounds = 16, 1
    if not args.model.is_dir():
        raise UserError(f"{args.model}: not a model folder (expected the output of `python -m convert`)")
    models = {name: args.model / f for name, f in MODEL_FILES.items() if (args.model / f).is_file()}
    if not models:
        raise UserError(f"{args.model}: no {' or '.join(MODEL_FILES.values())}")
    named = "zoo" if args.zoo else "container" if args.container else args.model.resolve().name
    out = args.out or Path("bench") / named
    _check_before_measuring(args, out)
    steps = len(DETECTORS) * len(MODES) * (args.detect_rounds + 1)
    if not args.detection_only and not args.real_faces_only:
        steps += 1 + bool(args.data) + len(_sizes(args)) * args.rounds * (4 + _reference_wanted(args))
        steps += 5 * args.rounds * _viewers(args, models) + len(_outages(args))
    results: dict = {
        "command": "python -m benchmarks " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "python -m benchmarks",
        "machine": machine_facts(),
    }
    if args.set_framing:
        from benchmarks.crop_scales import set_framing

        results["framing"] = set_framing(args.model, args.real_faces, args.photos)
    elif args.container:
        from benchmarks.container import CONTAINER_FRAMES, container_benchmark

        with tqdm(total=args.rounds, desc="container", unit="round", file=sys.stderr) as progress:
            results["container"] = container_benchmark(args.container_image, CONTAINER_FRAMES, args.rounds, progress)
    elif not args.real_faces_only and not args.zoo:
        with tqdm(total=steps, desc="benchmarks", unit="step", file=sys.stderr) as progress:
            if not args.detection_only:
                _model_and_pipeline(args, models, results, progress)
                results["reconnect"] = _reconnect(_outages(args), progress)
            model = args.model if "int8" in models else models[next(iter(models))]
            results["detection"] = detection_benchmark(
                model, args.detect_frames, args.detect_rounds, args.faces, progress
            )
    if not (args.detection_only or args.zoo or args.set_framing or args.container):
        results["real_faces"] = _real_faces(args, models)
    if _zoo_wanted(args):
        from benchmarks.zoo import zoo_benchmark

        results["zoo"] = zoo_benchmark(args)
    results["verdicts"] = verdicts(results)
    out.mkdir(parents=True, exist_ok=True)
    results["plots"] = [p.name for p in plots(results, out)]
    write_json(out / "results.json", results)
    write_text(out / "results.md", markdown(results))
    print(terminal(results) or "nothing measured")
    plotted = f" and {', '.join(results['plots'])}" if results["plots"] else ""
    print(f"wrote {out / 'results.json'}, {out / 'results.md'}{plotted}")
    if args.readme:
        from benchmarks.readme import update_readme

        update_readme(args.readme, out, results)
        print(f"updated the benchmark blocks of {args.readme}")
    missed = [v for v in results["verdicts"] if not v["met"]]
    return EXIT_TARGET_MISSED if missed and args.fail_on_miss else 0


def _check_before_measuring(args: argparse.Namespace, out: Path) -> None:
    """What the run writes and reads at its end, checked before minutes of measuring: the --out folder, the
    --real-faces folder's labels.csv and the --readme page's markers."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: is a file; the results need a folder")
    existing = next(folder for folder in (out, *out.absolute().parents) if folder.exists())
    probe_folder(existing, out, "results")  # into the nearest existing folder: nothing is created yet
    real_faces = not args.detection_only and args.real_faces.is_dir()
    if real_faces:
        from train.photos import read_labels

        read_labels(args.real_faces)
    if args.readme:
        from benchmarks.readme import check_readme

        measured = not (args.detection_only or args.real_faces_only or args.zoo)
        sections = [
            *(["latency"] if measured else []),
            *(["detection"] if not (args.real_faces_only or args.zoo) else []),
            *(["real_faces"] if real_faces and not args.zoo else []),
            *(["zoo"] if _zoo_wanted(args) else []),
        ]
        check_readme(args.readme, sections)


def _outages(args: argparse.Namespace) -> tuple[float, ...]:
    """The reconnect benchmark's outage lengths: one in a quick run, none with --no-reconnect."""
    from benchmarks.reconnect import OUTAGES_S

    return () if args.no_reconnect else OUTAGES_S[:1] if args.quick else OUTAGES_S


def _reconnect(outages: tuple[float, ...], progress) -> dict | None:
    from benchmarks.rtsp_server import rtsp_server_missing

    missing = rtsp_server_missing() if outages else None
    if missing:
        print(f"reconnect: skipped ({missing})")
    if missing or not outages:
        return None
    from benchmarks.reconnect import reconnect_times

    return reconnect_times(outages, progress)


def _real_faces(args: argparse.Namespace, models: dict) -> dict | None:
    """The model under test (int8 when present) with every detector the edge CLI offers, on --real-faces."""
    from benchmarks.real_faces import score_real_faces, shown
    from edge.detectors.registry import NAMES

    if not args.real_faces.is_dir():
        print(f"real faces: skipped ({redact_url(str(args.real_faces))} not found)")
        return None
    model = models.get("int8") or next(iter(models.values()))
    return score_real_faces(args.real_faces, {shown(args.model): model}, NAMES)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)

    def go() -> int:
        with quiet_native(not args.verbose):  # the reference loop's TensorFlow start-up lines
            return bench(args)

    return exit_status(run_cli(go, "benchmarks"))  # the reconnect benchmark's camera may be inside a stalled read
