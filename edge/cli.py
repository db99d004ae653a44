"""`python -m edge --model DIR_OR_TFLITE --source SOURCE`: faces and emotions from a camera, video or images."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from edge.classifier import AUTO, PRECISION_CHOICES, default_threads
from edge.common.errors import UserError, run_cli
from edge.common.files import check_distinct, check_writable, write_json
from edge.common.options import (
    Parser,
    add_version,
    device_name,
    fraction_below_one,
    host_name,
    host_port,
    mqtt_url,
    non_negative_float,
    non_negative_int,
    number_from,
    positive_float,
    positive_int,
    thread_count,
    topic_prefix,
    zero_or_at_least,
)
from edge.common.secrets import FILE_SUFFIX, from_environment
from edge.common.timing import StageTimes
from edge.common.urls import redact_url
from edge.detectors.base import DetectorConfig
from edge.detectors.haar import SCALE_FACTOR_RANGE
from edge.detectors.registry import NAMES as DETECTORS
from edge.detectors.yunet import MIN_DETECT_WIDTH
from edge.model_folder import DEFAULT_MODEL_DIR, MODEL_NAMES, resolve_models
from edge.outputs import mood
from edge.outputs.base import Sink
from edge.outputs.jsonl import KEEP as JSONL_KEEP
from edge.outputs.mqtt import PASSWORD_ENV, SUMMARY_EVERY, SUMMARY_EVERY_RANGE, default_device
from edge.outputs.privacy import DEFAULT_MODE as PRIVACY_DEFAULT
from edge.outputs.privacy import ENVIRONMENT as PRIVACY_VARIABLE
from edge.outputs.privacy import MODES as PRIVACY_MODES
from edge.outputs.privacy import privacy_mode
from edge.outputs.snapshots import DEVICE as SNAPSHOTS_DEVICE
from edge.outputs.snapshots import KEEP as SNAPSHOTS_KEEP
from edge.outputs.web import FPS_RANGE, MAX_CLIENTS, MAX_FPS, TOKEN_ENV
from edge.pipeline.pipeline import ALIGN_NO_DETECT, Pipeline
from edge.run import RunOptions, StopRequest, format_summary, human_output, quiet_libraries, run
from edge.sources.base import Source, SourceOptions, exit_status, is_live, looped, open_source
from edge.sources.network import TRANSPORTS

DEFAULT_SOURCE = "demo"
SOURCE_VARIABLE = "FER_EDGE_SOURCE"  # the source when --source is not given (a service's camera URL)


def source_from(option: str | None, environ: Mapping[str, str]) -> str:
    """--source, else $FER_EDGE_SOURCE (when not empty) or the file $FER_EDGE_SOURCE_FILE names (a camera URL with
    its password, kept out of `ps` and `podman inspect`), else the demo."""
    return option or from_environment(SOURCE_VARIABLE, environ) or DEFAULT_SOURCE


def privacy_from(option: str | None, environ: os._Environ | dict[str, str]) -> str:
    """--privacy, else $FER_EDGE_PRIVACY (when not empty: the Pi service's env file sets blur), else off; a bad
    value in the environment is a one-line error naming the variable."""
    if option:
        return option
    value = environ.get(PRIVACY_VARIABLE)
    if not value:
        return PRIVACY_DEFAULT
    try:
        return privacy_mode(value, PRIVACY_VARIABLE)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m edge",
        description="Find faces with OpenCV's YuNet or Haar cascade and classify their expression with a TFLite model."
        " Prints one line per frame and a timing summary; Ctrl-C stops cleanly.",
    )
    add_version(parser)
    parser.add_argument(
        "--model",
        help=f"a shipped model by name ({', '.join(MODEL_NAMES)}), a folder from `python -m convert`, or a .tflite"
        f" file with contract.json beside it (default: default, in {DEFAULT_MODEL_DIR})",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISION_CHOICES,
        help=f"which model of a folder: {AUTO} (default) times both once at load and runs the faster on this CPU"
        " (which one depends on the model and the CPU's 8-bit dot products, docs/performance.md), and the summary"
        " says which ran and how long each took; a --model .tflite file runs as it is",
    )
    parser.add_argument(
        "--source",
        help="demo (built-in clip, no camera needed), a camera index (0), picam, a network camera (rtsp://, rtsps://,"
        f" http(s):// MJPEG), a video file, an image, or a folder of images (default: ${SOURCE_VARIABLE} or the file"
        f" ${SOURCE_VARIABLE}{FILE_SUFFIX} names, which keep a camera's password out of `ps`, else {DEFAULT_SOURCE})",
    )
    parser.add_argument(
        "--threads",
        type=thread_count,
        help=f"interpreter and OpenCV threads (default: the cores this process may use, {default_threads()} here)",
    )
    add_detection_options(parser)
    add_output_options(parser)
    add_source_options(parser)
    add_network_options(parser)
    add_privacy_options(parser)
    return parser


def add_detection_options(parser: argparse.ArgumentParser) -> None:
    d = DetectorConfig()
    detection = parser.add_argument_group("detection")
    detection.add_argument(
        "--detector",
        choices=DETECTORS,
        default=d.name,
        help="yunet: OpenCV's small CNN detector, faster and finds more faces, needs OpenCV >= 4.8; haar: OpenCV's"
        " cascade, any OpenCV 4; auto: yunet where this OpenCV runs it, else haar (default: %(default)s)",
    )
    detection.add_argument(
        "--scale-factor",
        type=number_from(*SCALE_FACTOR_RANGE),
        default=d.scale_factor,
        help="cascade scale step (%(default)s)",
    )
    detection.add_argument(
        "--min-neighbors", type=non_negative_int, default=d.min_neighbors, help="cascade strictness (%(default)s)"
    )
    detection.add_argument(
        "--min-face", type=positive_int, default=d.min_face, help="smallest face side in pixels (%(default)s)"
    )
    detection.add_argument(
        "--detect-width",
        type=zero_or_at_least(MIN_DETECT_WIDTH),
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
        " cameras (0, picam, rtsp://…), off for files, which stay reproducible (default: auto)",
    )
    detection.add_argument(
        "--no-detect",
        action="store_true",
        help="treat each whole image as one face (pre-cropped faces such as FER-2013's)",
    )
    detection.add_argument(
        "--align-eyes",
        action="store_true",
        help="turn each face crop so its eyes are level, by YuNet's eye landmarks on each detected face (with any"
        " --detector; needs OpenCV >= 4.8); a followed face keeps its angle",
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
    output.add_argument("--keep", type=positive_int, help=f"--snapshots files to keep (default: {SNAPSHOTS_KEEP})")
    output.add_argument("--quiet", action="store_true", help="no per-frame lines, only the summary")


def add_privacy_options(parser: argparse.ArgumentParser) -> None:
    """--privacy and the room's mood: what pictures may show, and one set of numbers per room instead of faces."""
    group = parser.add_argument_group("privacy and the room's mood (docs/privacy.md)")
    group.add_argument(
        "--privacy",
        choices=PRIVACY_MODES,
        help="cover every face on every picture that leaves the process (web view, MQTT and --snapshots snapshots,"
        " --save, --show): blur it beyond recognition, or paint a box over it, then check the picture with YuNet at"
        " its full size and cover what it still finds; labels, boxes, JSONL and metrics are unchanged (default:"
        f" ${PRIVACY_VARIABLE} if set, else {PRIVACY_DEFAULT})",
    )
    group.add_argument(
        "--mqtt-no-snapshots",
        action="store_true",
        help="send no face snapshots to the --mqtt broker, so no picture leaves by MQTT (Home Assistant gets no image);"
        " the picture and image entity an earlier run left retained there are withdrawn",
    )
    group.add_argument(
        "--mood-window",
        type=number_from(*mood.WINDOW_RANGE),
        default=mood.WINDOW,
        help="seconds of frames the room's mood (share of face-seconds per emotion, people, dominant mood) is taken"
        " over, {:g} to {:g}; in /api/summary, /metrics, the web view and MQTT (default: %(default)s)".format(
            *mood.WINDOW_RANGE
        ),
    )
    group.add_argument(
        "--mood-every",
        type=number_from(*mood.EVERY_RANGE),
        metavar="SECONDS",
        help="seconds between the room's mood messages to the --mqtt broker (PREFIX/DEVICE/mood, Home Assistant's"
        " mood sensors), {:g} to {:g} (default: {:g})".format(*mood.EVERY_RANGE, mood.EVERY),
    )


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
        "--rtsp-transport",
        choices=TRANSPORTS,
        default=s.rtsp_transport,
        help="how an rtsp:// camera sends its video: tcp (reliable) or udp (default: %(default)s)",
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
        "--serve-fps",
        type=number_from(*FPS_RANGE),
        default=MAX_FPS,
        help=f"most video frames a second, {FPS_RANGE[0]:g} to {FPS_RANGE[1]:g} (%(default)s)",
    )
    serve.add_argument(
        "--serve-max-clients", type=positive_int, default=MAX_CLIENTS,
        help="concurrent viewers, at most half of them from one address (%(default)s)",
    )  # fmt: skip
    serve.add_argument(
        "--serve-token",
        help=f"require this token (?token= or Authorization: Bearer); or set {TOKEN_ENV} (or {TOKEN_ENV}{FILE_SUFFIX}:"
        " a file that holds it)",
    )
    serve.add_argument(
        "--serve-allow-host",
        type=host_name,
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests for this host name (e.g. pi.local; repeatable); others than this machine's and"
        " the bound address get 421 (DNS rebinding)",
    )
    serve.add_argument(
        "--metrics",
        type=host_port,
        metavar="[HOST:]PORT",
        help="serve Prometheus metrics at /metrics on this port, without the web view (which has its own /metrics)",
    )
    mqtt = parser.add_argument_group("MQTT")
    mqtt.add_argument(
        "--mqtt",
        type=mqtt_url,
        metavar="mqtt://[USER@]HOST[:PORT][/PREFIX]",
        help="publish faces, events, snapshots and summaries to this broker (topics PREFIX/DEVICE/...; PREFIX:"
        f" fer-edge); the password from {PASSWORD_ENV} (or {PASSWORD_ENV}{FILE_SUFFIX}: a file that"
        " holds it) or --mqtt-password-file",
    )
    mqtt.add_argument("--mqtt-password-file", metavar="FILE", help="read the broker password from FILE")
    mqtt.add_argument(
        "--device-name",
        type=device_name,
        help="this device's name in topics and Home Assistant ids: letters, digits, - and _ (default: the host name)",
    )
    mqtt.add_argument(
        "--mqtt-summary-every",
        type=number_from(*SUMMARY_EVERY_RANGE),
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


def network_sinks(args: argparse.Namespace, labels: list[str], timer: StageTimes | None = None) -> list[Sink]:
    """The web view (or metrics server) and MQTT publisher the options ask for; ports are taken now, before the
    run. `timer`: the pipeline's, for /metrics' histograms."""
    sinks: list[Sink] = []
    if args.serve or args.metrics:
        from edge.outputs.web import MetricsServer, WebView, announce, token_from

        host, port = args.serve or args.metrics
        token = token_from(args.serve_token, os.environ)
        if args.serve:
            view = WebView(host, port, labels, args.serve_fps, args.serve_max_clients, token, args.serve_allow_host,
                           timer)  # fmt: skip
        else:
            view = MetricsServer(host, port, labels, token, args.serve_allow_host, timer)
        announce(view, host)
        sinks.append(view)
    if args.mqtt:
        from edge.outputs.mqtt import MqttPublisher, password_for

        try:
            url = password_for(args.mqtt, args.mqtt_password_file, os.environ)
            sinks.append(MqttPublisher(url, device_of(args), args.mqtt_summary_every, args.ha_discovery, labels,
                                       args.mood_every or mood.EVERY, not args.mqtt_no_snapshots,
                                       args.privacy != "off"))  # fmt: skip
        except BaseException:
            for sink in sinks:
                sink.close()
            raise
    return sinks


def device_of(args: argparse.Namespace) -> str:
    """This device's name in MQTT topics and snapshot file names: --device-name (checked when parsed), else the
    host name."""
    return args.device_name or default_device()


def detects_async(choice: str, source: str) -> bool:
    """`--async-detect`: on, off, or auto: on for cameras, whose frames come at their own pace; off for files,
    which stay reproducible."""
    return choice == "on" or (choice == "auto" and is_live(source))


def check_paths(args: argparse.Namespace) -> None:
    """Before any work: no output is the input or another output, and the summary can be written (the summary
    of a long run must not be lost at its end)."""
    source_path = None if args.source in ("demo", "picam") or is_live(args.source) else args.source
    jsonl_path = None if args.jsonl == "-" else args.jsonl
    check_distinct(
        {"--source": source_path, "--save": args.save, "--jsonl": jsonl_path, "--summary-json": args.summary_json,
         "--snapshots": args.snapshots}  # a folder: the source folder would read its own snapshots back
    )  # fmt: skip
    if args.summary_json:
        check_writable(args.summary_json, "summary")


def check_async(choice: str, source: Source, spec: str) -> None:
    """`--async-detect on` follows a detection onto later frames: still images have none (it found 0 faces)."""
    if choice == "on" and not source.continuous:
        raise UserError(
            f"--async-detect on follows faces from frame to frame; {spec} is unrelated still images,"
            " each detected on its own (use --async-detect auto or off)"
        )


def check_combinations(args: argparse.Namespace) -> None:
    """Options that are each valid but not together, refused before any work."""
    check_paths(args)
    if args.loop and is_live(args.source):
        raise UserError(
            f"--loop replays a finite source (demo, a video, images); {redact_url(args.source)} is a live camera"
        )
    if args.keep is not None and not args.snapshots:
        raise UserError("--keep needs --snapshots (it is how many snapshot files to keep)")
    if args.mqtt_password_file and not args.mqtt:
        raise UserError("--mqtt-password-file needs --mqtt")
    if args.mqtt_no_snapshots and not args.mqtt:
        raise UserError("--mqtt-no-snapshots needs --mqtt")
    if args.mood_every is not None and not args.mqtt:
        raise UserError("--mood-every needs --mqtt (it paces the mood messages to the broker)")
    if args.ha_discovery is not None and not args.mqtt:
        raise UserError("--ha-discovery needs --mqtt (discovery messages go to the broker)")
    if args.metrics and args.serve:
        raise UserError("--metrics: the web view (--serve) already serves /metrics; give one of them")
    if args.serve_allow_host and not (args.serve or args.metrics):
        raise UserError("--serve-allow-host needs --serve or --metrics")
    if args.align_eyes and args.no_detect:
        raise UserError(ALIGN_NO_DETECT)
    if args.precision and args.model and Path(args.model).suffix == ".tflite":
        raise UserError(
            f"--precision {args.precision} picks a model of a folder; --model {args.model} is one file, which runs as"
            " it is (give its folder to choose)"
        )
    args.precision = args.precision or AUTO


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quiet_libraries()

    def go() -> int:
        args.source = source_from(args.source, os.environ)
        args.privacy = privacy_from(args.privacy, os.environ)
        check_combinations(args)
        detector = DetectorConfig(
            args.scale_factor, args.min_neighbors, args.min_face, args.detect_width, args.detector
        )
        lores = 0 if args.no_detect else args.detect_width  # the Pi camera's detection stream

        def reopen() -> Source:
            options = SourceOptions(args.width, args.height, args.fps, args.demo_frames, lores, args.rtsp_transport)
            return open_source(args.source, options)

        timer = StageTimes()  # the pipeline's, shared with /metrics
        sinks = network_sinks(args, resolve_models(args.model)[1].labels, timer)  # ports first
        source = None
        try:
            source = looped(reopen) if args.loop else reopen()
            check_async(args.async_detect, source, args.source)
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
                align_eyes=args.align_eyes,
                timer=timer,
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
            snapshots_keep=args.keep or SNAPSHOTS_KEEP,
            device=device_of(args) if args.snapshots else SNAPSHOTS_DEVICE,
            sinks=sinks,
            privacy=args.privacy,
            mood_window=args.mood_window,
        )
        human = human_output(options)
        with StopRequest(finishing=True):  # Ctrl-C from here on must not lose the summary
            with pipeline:  # stops the detection worker, also on errors and Ctrl-C
                summary = run(source, pipeline, options, human)
            human.line(format_summary(summary))
            if args.summary_json:
                write_json(args.summary_json, summary)
        human.check("stdout" if human.stream is sys.stdout else "stderr")
        if summary.get("errors"):  # an output failed (a full disk): the others are finished, then one line
            raise UserError("; ".join(summary["errors"]))
        return 0

    return exit_status(run_cli(go, "edge"))
