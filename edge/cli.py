"""`python -m edge --model DIR_OR_TFLITE --source SOURCE`: faces and emotions from a camera, video or images."""

from __future__ import annotations

import argparse
import os
import sys

from edge.common.errors import UserError, run_cli
from edge.common.files import check_writable, write_json
from edge.common.options import (
    Parser,
    above_one,
    add_version,
    bounded_float,
    fraction_below_one,
    host_port,
    mqtt_url,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    topic_prefix,
)
from edge.detectors.base import DetectorConfig
from edge.detectors.registry import NAMES as DETECTORS
from edge.model_folder import DEFAULT_MODEL_DIR, resolve_model
from edge.outputs.base import Sink
from edge.outputs.jsonl import KEEP as JSONL_KEEP
from edge.outputs.mqtt import PASSWORD_ENV, SUMMARY_EVERY, SUMMARY_EVERY_RANGE
from edge.outputs.snapshots import KEEP as SNAPSHOTS_KEEP
from edge.outputs.web import MAX_CLIENTS, MAX_FPS
from edge.pipeline.pipeline import Pipeline
from edge.run import RunOptions, StopRequest, format_summary, human_output, run
from edge.sources.base import Source, SourceOptions, is_live, looped, open_source


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m edge",
        description="Find faces with OpenCV's Haar cascade or YuNet and classify their expression with a TFLite model."
        " Prints one line per frame and a timing summary; Ctrl-C stops cleanly.",
    )
    add_version(parser)
    parser.add_argument(
        "--model",
        help="a folder from `python -m convert`, or a .tflite file with contract.json beside it"
        f" (default: the shipped model, {DEFAULT_MODEL_DIR})",
    )
    parser.add_argument(
        "--precision", choices=("int8", "float32"), default="int8", help="which model of a folder (default: int8)"
    )
    parser.add_argument(
        "--source",
        default="demo",
        help="demo (built-in clip, no camera needed), a camera index (0), picam, a video file, an image, or a folder"
        " of images (default: demo)",
    )
    parser.add_argument(
        "--threads", type=positive_int, help="interpreter and OpenCV threads (default: the runtimes' choice)"
    )
    add_detection_options(parser)
    add_output_options(parser)
    add_source_options(parser)
    add_network_options(parser)
    return parser


def add_detection_options(parser: argparse.ArgumentParser) -> None:
    d = DetectorConfig()
    detection = parser.add_argument_group("detection")
    detection.add_argument(
        "--detector",
        choices=DETECTORS,
        default=d.name,
        help="haar: OpenCV's cascade, any OpenCV 4; yunet: OpenCV's small CNN detector, faster and finds more"
        " faces, needs OpenCV >= 4.8 (default: %(default)s)",
    )
    detection.add_argument(
        "--scale-factor", type=above_one, default=d.scale_factor, help="cascade scale step (%(default)s)"
    )
    detection.add_argument(
        "--min-neighbors", type=non_negative_int, default=d.min_neighbors, help="cascade strictness (%(default)s)"
    )
    detection.add_argument(
        "--min-face", type=positive_int, default=d.min_face, help="smallest face side in pixels (%(default)s)"
    )
    detection.add_argument(
        "--detect-width",
        type=non_negative_int,
        default=d.detect_width,
        help="downscale frames to this width for detection; 0 = full resolution (default: %(default)s)",
    )
    detection.add_argument(
        "--detect-every",
        type=positive_int,
        default=1,
        help="run a full detection every N frames and follow faces in between (default: 1)",
    )
    detection.add_argument(
        "--roi-detect",
        action="store_true",
        help="between full detections, re-detect each face in a window around it (follows size changes) instead"
        " of following it by template matching",
    )
    detection.add_argument(
        "--async-detect",
        choices=("auto", "on", "off"),
        default="auto",
        help="detect on a worker thread while every frame follows and classifies the known faces; auto: on for"
        " cameras (0, picam), off for files, which stay reproducible (default: auto)",
    )
    detection.add_argument(
        "--no-detect",
        action="store_true",
        help="treat each whole image as one face (pre-cropped faces such as FER-2013's)",
    )
    parser.add_argument(
        "--smooth",
        type=fraction_below_one,
        default=0.0,
        help="weight of a face's history in its probabilities, 0 (off) to <1; 0.6 steadies a live label (default: 0)",
    )


def add_output_options(parser: argparse.ArgumentParser) -> None:
    output = parser.add_argument_group("output")
    output.add_argument("--show", action="store_true", help="show a window with boxes, labels and FPS (q quits)")
    output.add_argument(
        "--save",
        help="write annotated frames: a video (.mp4, .m4v, .mov, .mkv, .avi, .webm) or a folder of images",
    )
    output.add_argument("--jsonl", help="write one JSON object per frame to this file, or - for stdout")
    output.add_argument(
        "--jsonl-max-mb",
        type=non_negative_float,
        default=0,
        help="rotate the JSONL file at this size, appending across restarts (for a service; 0 = off)",
    )
    output.add_argument(
        "--jsonl-keep", type=positive_int, default=JSONL_KEEP, help="rotated JSONL files to keep (default: %(default)s)"
    )
    output.add_argument("--summary-json", help="write the end-of-run summary as JSON to this file")
    output.add_argument(
        "--snapshots", metavar="DIR", help="write a JPEG of each face that appears or changes label into DIR"
    )
    output.add_argument(
        "--keep", type=positive_int, default=SNAPSHOTS_KEEP, help="--snapshots files to keep (default: %(default)s)"
    )
    output.add_argument("--quiet", action="store_true", help="no per-frame lines, only the summary")


def add_source_options(parser: argparse.ArgumentParser) -> None:
    s = SourceOptions()
    source = parser.add_argument_group("source")
    source.add_argument(
        "--max-frames", type=non_negative_int, default=0, help="stop after N frames (default: until the source ends)"
    )
    source.add_argument(
        "--width", type=positive_int, default=s.width, help="camera and demo frame width (default: %(default)s)"
    )
    source.add_argument(
        "--height", type=positive_int, default=s.height, help="camera and demo frame height (default: %(default)s)"
    )
    source.add_argument("--fps", type=positive_float, default=s.fps, help="Pi camera frame rate (default: %(default)s)")
    source.add_argument(
        "--demo-frames", type=positive_int, default=s.demo_frames, help="length of the demo clip (default: %(default)s)"
    )
    source.add_argument(
        "--loop", action="store_true", help="replay a finite source (demo, video, images) forever, e.g. to serve a demo"
    )


def add_network_options(parser: argparse.ArgumentParser) -> None:
    """--serve and --mqtt: the sinks that show a headless device to people and other systems over the network."""
    serve = parser.add_argument_group("live web view")
    serve.add_argument(
        "--serve",
        type=host_port,
        metavar="[HOST:]PORT",
        help="serve a live page (video, faces, FPS) on this port; HOST defaults to 127.0.0.1 (this machine only),"
        " 0.0.0.0 opens it to the network",
    )
    serve.add_argument(
        "--serve-fps", type=positive_float, default=MAX_FPS, help="most video frames a second (%(default)s)"
    )
    serve.add_argument(
        "--serve-max-clients", type=positive_int, default=MAX_CLIENTS, help="concurrent connections (%(default)s)"
    )
    serve.add_argument(
        "--serve-token", help="require this token (?token= or Authorization: Bearer); or set FER_EDGE_SERVE_TOKEN"
    )
    mqtt = parser.add_argument_group("MQTT")
    mqtt.add_argument(
        "--mqtt",
        type=mqtt_url,
        metavar="mqtt://[USER@]HOST[:PORT][/PREFIX]",
        help="publish faces, events, snapshots and summaries to this broker (topics PREFIX/DEVICE/...; PREFIX:"
        f" fer-edge); the password from {PASSWORD_ENV} or --mqtt-password-file",
    )
    mqtt.add_argument("--mqtt-password-file", metavar="FILE", help="read the broker password from FILE")
    mqtt.add_argument("--device-name", help="this device's name in topics (default: the host name)")
    mqtt.add_argument(
        "--mqtt-summary-every",
        type=bounded_float(*SUMMARY_EVERY_RANGE),
        default=SUMMARY_EVERY,
        help="seconds between summaries, {:g} to {:g} (default: %(default)s)".format(*SUMMARY_EVERY_RANGE),
    )
    mqtt.add_argument(
        "--ha-discovery",
        nargs="?",
        const="homeassistant",
        type=topic_prefix,
        metavar="PREFIX",
        help="announce the device to Home Assistant (MQTT discovery; PREFIX default: homeassistant)",
    )


def network_sinks(args: argparse.Namespace, labels: list[str]) -> list[Sink]:
    """The web view and MQTT publisher the options ask for; the server's port is taken now, before the run."""
    sinks: list[Sink] = []
    if args.serve:
        from edge.outputs.web import WebView, announce, token_from

        host, port = args.serve
        token = token_from(args.serve_token, os.environ)
        view = WebView(host, port, labels, args.serve_fps, args.serve_max_clients, token)
        announce(view, host)
        sinks.append(view)
    if args.mqtt:
        from edge.outputs.mqtt import MqttPublisher, default_device, password_for

        device = args.device_name or default_device()
        try:
            url = password_for(args.mqtt, args.mqtt_password_file, os.environ)
            sinks.append(MqttPublisher(url, device, args.mqtt_summary_every, args.ha_discovery))
        except BaseException:
            for sink in sinks:
                sink.close()
            raise
    return sinks


def detects_async(choice: str, source: str) -> bool:
    """`--async-detect`: on, off, or auto: on for cameras, whose frames come at their own pace; off for files,
    which stay reproducible."""
    return choice == "on" or (choice == "auto" and is_live(source))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def go() -> int:
        if args.summary_json:  # checked before any work: the summary of a long run must not be lost at its end
            check_writable(args.summary_json, "summary")
        if args.loop and is_live(args.source):
            raise UserError(f"--loop replays a finite source (demo, a video, images); {args.source} is a live camera")
        if args.mqtt_password_file and not args.mqtt:
            raise UserError("--mqtt-password-file needs --mqtt")
        if args.ha_discovery is not None and not args.mqtt:
            raise UserError("--ha-discovery needs --mqtt (discovery messages go to the broker)")
        detector = DetectorConfig(
            args.scale_factor, args.min_neighbors, args.min_face, args.detect_width, args.detector
        )
        lores = 0 if args.no_detect else args.detect_width  # the Pi camera's detection stream

        def reopen() -> Source:
            return open_source(args.source, SourceOptions(args.width, args.height, args.fps, args.demo_frames, lores))

        sinks = network_sinks(args, resolve_model(args.model, args.precision)[1].labels)  # the port first: fail fast
        source = None
        try:
            source = looped(reopen) if args.loop else reopen()
            pipeline = Pipeline(
                args.model,
                precision=args.precision,
                threads=args.threads,
                detector=detector,
                detect_every=args.detect_every,
                smooth=args.smooth,
                detect=not args.no_detect,
                roi_detect=args.roi_detect,
                async_detect=detects_async(args.async_detect, args.source),
            )
        except BaseException:
            if source is not None:
                source.close()
            for sink in sinks:
                sink.close()
            raise
        options = RunOptions(
            show=args.show,
            save=args.save,
            jsonl=args.jsonl,
            jsonl_max_bytes=int(args.jsonl_max_mb * 1_000_000),
            jsonl_keep=args.jsonl_keep,
            quiet=args.quiet,
            max_frames=args.max_frames,
            snapshots=args.snapshots,
            snapshots_keep=args.keep,
            sinks=sinks,
        )
        human = human_output(options)
        with StopRequest(finishing=True):  # Ctrl-C from here on must not lose the summary
            with pipeline:  # stops the detection worker, also on errors and Ctrl-C
                summary = run(source, pipeline, options, human)
            human.line(format_summary(summary))
            if args.summary_json:
                write_json(args.summary_json, summary)
        human.check("stdout" if human.stream is sys.stdout else "stderr")
        failure = next(filter(None, (sink.failure() for sink in sinks)), None)
        if failure:  # the run went on and its summary is out, but it did not do what was asked
            raise UserError(failure)
        return 0

    return run_cli(go, "edge")
