"""`python -m benchmarks --model DIR [--data CSV] [--clip VIDEO] [--out DIR]`."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shlex
import sys
from pathlib import Path

from edge.atomic import write_json, write_text
from edge.cliargs import add_version, frame_sizes, non_negative_int, positive_int
from edge.errors import UserError, run_cli
from edge.model_folder import DEFAULT_MODEL_DIR, MODEL_FILES, REPORT_FILE, check_folder
from train.data import add_data_options

EXIT_TARGET_MISSED = 1
VIEWER_FRAMES_FACTOR = 3  # viewer rounds run longer than --frames: the video is encoded at 10 frames a second


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure a converted model on this machine: per-face latency (float32 vs int8, 1 thread and all"
        " cores), interpreter memory, accuracy from the .tflite files, pipeline FPS with a per-stage breakdown next"
        " to the Haar-alone floor and the reference notebook's loop, and verdicts against the project's targets.",
    )
    add_version(parser)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR, help="converted folder (default: shipped)")
    add_data_options(parser, required=False, labels=False)
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
        "--keras", type=Path, help="the .keras model for the reference loop (default: the one conversion recorded)"
    )
    parser.add_argument("--no-reference", action="store_true", help="skip the reference Keras loop")
    parser.add_argument("--out", type=Path, help="results folder (default: bench/<model folder name>)")
    parser.add_argument("--quick", action="store_true", help="2 rounds, 20 repeats, 10 frames, 640x480 only")
    parser.add_argument(
        "--readme",
        type=Path,
        help="also copy results.md and the 640x480 plot into this README, between its benchmark markers",
    )
    parser.add_argument(
        "--no-viewers", action="store_true", help="skip the web view's cost (FPS with two viewers against none)"
    )
    parser.add_argument("--fail-on-miss", action="store_true", help="exit 1 when a target is missed")
    return parser


def _reference_model(args: argparse.Namespace) -> Path | None:
    if args.no_reference or importlib.util.find_spec("keras") is None:
        return None
    if args.keras:
        return args.keras
    report = args.model / REPORT_FILE
    if report.is_file():
        source = Path(json.loads(report.read_text())["source_model"])
        return source if source.is_file() else None
    return None


def bench(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from benchmarks.latency import interpreter_memory, model_latency
    from benchmarks.machine import machine_facts
    from benchmarks.pipeline import full_pipeline, haar_only, load_clip, measure, reference_loop
    from benchmarks.report import markdown, plots, terminal, verdicts
    from edge.detector import DetectorConfig
    from train.data import dataset_from

    if args.quick:
        args.rounds, args.repeats, args.frames, args.sizes = 2, 20, 10, [(640, 480)]
    if not args.model.is_dir():
        raise UserError(f"{args.model}: not a model folder (expected the output of `python -m convert`)")
    models = {name: args.model / f for name, f in MODEL_FILES.items() if (args.model / f).is_file()}
    if not models:
        raise UserError(f"{args.model}: no {' or '.join(MODEL_FILES.values())}")
    contract = check_folder(args.model)
    data = dataset_from(args) if args.data else None
    out = args.out or Path("bench") / args.model.resolve().name
    sizes = args.sizes if not args.clip else [None]
    reference = _reference_model(args)
    threads = sorted({1, os.cpu_count() or 1})
    viewers = "int8" in models and not args.no_viewers
    steps = 1 + bool(args.data) + len(sizes) * args.rounds * (4 + bool(reference)) + 2 * args.rounds * viewers
    results: dict = {
        "command": "python -m benchmarks " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "python -m benchmarks",
        "machine": machine_facts(),
        "model": str(args.model),
        "flip_average": contract.flip_average,
        "rounds": args.rounds,
        "sizes": {name: path.stat().st_size for name, path in models.items()},
        "pipeline": {},
        "decode_ms_per_frame": {},
    }
    with tqdm(total=steps, desc="benchmarks", unit="step", file=sys.stderr) as progress:
        results["latency"] = model_latency(models, contract, threads, args.rounds, args.repeats)
        results["memory"] = {name: interpreter_memory(path, args.model) for name, path in models.items()}
        progress.update(1)
        if data is not None:
            from benchmarks.accuracy import tflite_accuracy

            results["accuracy"] = tflite_accuracy(models, contract, data, args.max_eval_rows)
            progress.update(1)
        detector = DetectorConfig()
        for size in sizes:
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
                variants.append(reference_loop(reference, contract))
            results["pipeline"][clip] = measure(variants, frames, args.rounds, progress)
            results["decode_ms_per_frame"][clip] = round(decode_ms, 3)
        if viewers:
            from benchmarks.viewers import viewer_cost

            frames, _ = load_clip(args.clip, (640, 480), args.frames * VIEWER_FRAMES_FACTOR)
            results["viewers"] = viewer_cost(args.model, frames, args.rounds, progress=progress)
    results["verdicts"] = verdicts(results)
    out.mkdir(parents=True, exist_ok=True)
    results["plots"] = [p.name for p in plots(results, out)]
    write_json(out / "results.json", results)
    write_text(out / "results.md", markdown(results))
    print(terminal(results))
    print(f"wrote {out / 'results.json'}, {out / 'results.md'} and {', '.join(results['plots'])}")
    if args.readme:
        from benchmarks.readme import update_readme

        update_readme(args.readme, out, results)
        print(f"updated the Performance section of {args.readme}")
    missed = [v for v in results["verdicts"] if not v["met"]]
    return EXIT_TARGET_MISSED if missed and args.fail_on_miss else 0


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    return run_cli(lambda: bench(args), "benchmarks")
