"""`--privacy blur|box|off`: every picture that leaves the process has its faces covered, so that YuNet finds no
face where the uncovered frame had one, while labels, boxes and JSONL are unchanged. Real photos and the real
demo clip, the real detector; pictures from files, a video, the web view, Mosquitto and Chromium."""

from __future__ import annotations

import json
import os
import re
import shlex
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.detectors.base import DetectorConfig
from edge.detectors.yunet import YuNetDetector
from edge.frames import Face, Frame
from edge.outputs.privacy import BOX_GREY, ENVIRONMENT, HOLD_SECONDS, MARGIN, FaceCover
from edge.outputs.snapshots import crop_box
from edge.pipeline.pipeline import Pipeline
from edge.sources.images import DEMO_IMAGE, demo_frames
from tests.conftest import ROOT, error_lines, run_module
from tests.edge.test_mqtt_holes import start_broker
from tests.edge.test_serve import chromium
from tests.live import EdgeProcess, Subscriber, free_port, get, serving, wait_for

DEVICE = "roompi"
BASE = f"fer-edge/{DEVICE}"


@pytest.fixture(scope="module")
def yunet() -> YuNetDetector:
    """The project's YuNet at full resolution, down to small faces: the judge of whether a face is findable."""
    return YuNetDetector(DetectorConfig(name="yunet", detect_width=0, min_face=16))


def decode(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return image


def photo() -> np.ndarray:
    return cv2.imread(str(DEMO_IMAGE), cv2.IMREAD_COLOR)


def face(track: int, box: tuple[int, int, int, int]) -> Face:
    return Face(box, "Happy", 0.9, {"Happy": 0.9, "Sad": 0.1}, track, True)


@pytest.mark.parametrize("mode", ["blur", "box"])
def test_the_astronauts_face_is_covered_beyond_yunet_on_a_copy(yunet: YuNetDetector, mode: str) -> None:
    image = photo()
    original = image.copy()
    faces = Pipeline().process(image)
    assert len(faces) == 1 and len(yunet.detect(image)) == 1
    covered = FaceCover(mode).cover(Frame(image, 0, "astronaut.jpg", 0.0), faces).image
    assert np.array_equal(image, original)  # the pipeline's frame is never changed: the copy is
    x0, y0, x1, y1 = crop_box(faces[0].box, image.shape, MARGIN)
    change = np.abs(covered.astype(int) - original.astype(int))
    assert change[y0:y1, x0:x1].mean() > 10  # the covered region's pixels differ from the original
    outside = change.copy()
    outside[y0:y1, x0:x1] = 0
    assert not outside.any()  # nothing else is touched
    assert len(yunet.detect(covered)) == 0
    assert [f.label for f in Pipeline().process(image)] == [f.label for f in faces]


def test_off_leaves_the_frame_itself() -> None:
    frame = Frame(photo(), 0, "astronaut.jpg", 0.0)
    assert FaceCover("off").cover(frame, [face(1, (170, 60, 100, 100))]) is frame


def test_a_face_that_vanishes_stays_covered_for_the_hold_then_not_after_a_reset() -> None:
    """A detector that misses the face for a frame must not let it flash through. (Without the check, which would
    find the photo's face by itself: the hold is what is tested.)"""
    cover = FaceCover("box", check=False)
    image = photo()
    box = (170, 60, 100, 100)
    x0, y0, x1, y1 = crop_box(box, image.shape, MARGIN)
    cover.cover(Frame(image, 0, "clip", 10.0), [face(1, box)])
    missed = cover.cover(Frame(image, 1, "clip", 10.0 + HOLD_SECONDS / 2), []).image
    assert missed is not image and (missed[y0:y1, x0:x1] == missed[y0, x0]).all()  # still painted over
    assert cover.cover(Frame(image, 2, "clip", 10.0 + HOLD_SECONDS * 1.5), []).image is image  # the hold is over
    cover.cover(Frame(image, 3, "clip", 20.0), [face(2, box)])
    cover.reset()  # the next image is another photo: nothing of this one is held on it
    assert cover.cover(Frame(image, 4, "other.jpg", 20.1), []).image is image


def test_a_face_the_pipeline_did_not_report_is_covered_by_the_check(yunet: YuNetDetector) -> None:
    """E1: covering used only the pipeline's faces, so a face the tracker had lost left uncovered."""
    image = photo()
    cover = FaceCover("blur")
    covered = cover.cover(Frame(image, 0, "astronaut.jpg", 0.0), []).image
    assert len(yunet.detect(image)) == 1 and len(yunet.detect(covered)) == 0
    assert cover.stats() == {"checked": 1, "detector": "yunet", "faces_found": 1, "covered_whole": 0}
    assert FaceCover("blur", check=False).cover(Frame(image, 0, "astronaut.jpg", 0.0), []).image is image


def test_a_picture_the_check_still_finds_a_face_in_is_covered_whole() -> None:
    """Fail closed: a face that covering its box does not hide (here a check that always sees one) never leaves."""
    image = photo()
    cover = FaceCover("box")
    cover.check.faces = lambda picture: [(0, 0, 10, 10)]
    covered = cover.cover(Frame(image, 0, "astronaut.jpg", 0.0), []).image
    assert (covered == BOX_GREY).all() and not (image == BOX_GREY).all()
    assert cover.stats()["covered_whole"] == 1


@pytest.mark.parametrize("layout", ["BGR", "gray", "gray, one channel", "BGRA"])
def test_a_small_picture_is_also_checked_scaled_up(yunet: YuNetDetector, layout: str) -> None:
    """A 28 px picture of a head (a tiny camera, a crop), as the hostile run's check looks at one: YuNet finds the
    face only once it is scaled up on a grey margin, so the check looks there too, and covers it, in every image
    layout a frame may have."""
    small = cv2.resize(photo()[40:200, 150:300], (28, 28), interpolation=cv2.INTER_AREA)
    assert len(yunet.detect(small)) == 0  # not found at its own size
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    image = {"BGR": small, "gray": gray, "gray, one channel": gray[:, :, None],
             "BGRA": cv2.cvtColor(small, cv2.COLOR_BGR2BGRA)}[layout]  # fmt: skip
    cover = FaceCover("box")
    covered = cover.cover(Frame(image, 0, "small", 0.0), []).image
    assert covered.shape == image.shape
    assert cover.stats()["faces_found"] == 1 and (covered[8:20, 8:20] == BOX_GREY).all()


def test_a_grayscale_frame_is_covered_too(yunet: YuNetDetector) -> None:
    gray = cv2.cvtColor(photo(), cv2.COLOR_BGR2GRAY)
    faces = Pipeline().process(gray)
    covered = FaceCover("blur").cover(Frame(gray, 0, "gray", 0.0), faces).image
    assert covered.shape == gray.shape and len(yunet.detect(covered)) == 0 and len(yunet.detect(gray)) == 1


def records(path: Path) -> list[list[dict]]:
    return [json.loads(line)["faces"] for line in path.read_text().splitlines()]


def test_a_photo_saved_with_blur_has_no_face_and_the_same_labels(tmp_path: Path, yunet: YuNetDetector) -> None:
    outputs = {}
    for mode in ("off", "blur"):
        save, jsonl = tmp_path / mode, tmp_path / f"{mode}.jsonl"
        result = run_module("edge", "--source", str(DEMO_IMAGE), "--quiet", "--privacy", mode, "--save", str(save),
                            "--jsonl", str(jsonl), timeout=300)  # fmt: skip
        assert result.returncode == 0, result.stderr
        outputs[mode] = (cv2.imread(str(save / "astronaut.jpg.jpg")), records(jsonl))
    assert len(yunet.detect(outputs["off"][0])) == 1  # the annotated frame shows a findable face without privacy
    assert len(yunet.detect(outputs["blur"][0])) == 0
    assert outputs["blur"][1] == outputs["off"][1] and outputs["off"][1][0][0]["label"] == "Happy"


@pytest.mark.slow
def test_demo_clip_with_blur_saves_no_findable_face_in_video_or_snapshots(tmp_path: Path, yunet: YuNetDetector) -> None:
    frames = 24
    # --detect-every 3: two frames in three are covered at the tracker's box, not the detector's
    common = ("--source", "demo", "--demo-frames", str(frames), "--width", "640", "--height", "480", "--quiet",
              "--detect-every", "3")  # fmt: skip
    runs = {}
    for mode in ("off", "blur"):
        video, snapshots, jsonl = tmp_path / f"{mode}.avi", tmp_path / f"snaps-{mode}", tmp_path / f"{mode}.jsonl"
        result = run_module("edge", *common, "--privacy", mode, "--save", str(video), "--snapshots", str(snapshots),
                            "--jsonl", str(jsonl), timeout=600)  # fmt: skip
        assert result.returncode == 0, result.stderr
        runs[mode] = (video, sorted(snapshots.iterdir()), records(jsonl))
    originals = list(demo_frames(frames, (640, 480)))
    had_a_face = [i for i, image in enumerate(originals) if len(yunet.detect(image))]
    assert len(had_a_face) >= frames // 2
    capture = cv2.VideoCapture(str(runs["blur"][0]))
    saved = [capture.read()[1] for _ in range(frames)]
    capture.release()
    assert all(image is not None for image in saved)
    for i in had_a_face:
        assert len(yunet.detect(saved[i])) == 0, f"frame {i} of the blurred video shows a face"
    for mode, expect in (("off", 1), ("blur", 0)):  # face crops: findable without privacy, covered with it
        snaps = runs[mode][1]
        assert snaps and all(len(yunet.detect(cv2.imread(str(p)))) == expect for p in snaps), mode
    assert [f["detected"] for faces in runs["blur"][2] for f in faces].count(False) >= frames // 2
    labels = [[(f["track"], f["label"], f["box"]) for f in faces] for faces in runs["blur"][2]]
    assert labels == [[(f["track"], f["label"], f["box"]) for f in faces] for faces in runs["off"][2]]


def mjpeg_frames(url: str, count: int) -> list[bytes]:
    """The first `count` JPEGs of a multipart MJPEG stream."""
    jpegs = []
    with urllib.request.urlopen(url, timeout=30) as response:
        while len(jpegs) < count:
            line = response.readline()
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
                response.readline()  # the blank line before the body
                jpegs.append(response.read(length))
    return jpegs


def template_value(template: str, payload: dict) -> object:
    """What Home Assistant's `{{ value_json.a.b["c"] }}` gives for `payload` (no Jinja here: paths only)."""
    found = re.fullmatch(r"\{\{ value_json((?:\.\w+|\[\"[^\"]+\"\])+) \}\}", template)
    assert found, f"not a plain value_json path: {template}"
    value: object = payload
    for name, key in re.findall(r"\.(\w+)|\[\"([^\"]+)\"\]", found.group(1)):
        value = value[name or key]  # type: ignore[index]
    return value


@pytest.mark.slow
def test_with_blur_no_picture_on_the_network_shows_a_face_and_the_room_mood_reaches_ha_and_the_page(
    tmp_path: Path, yunet: YuNetDetector
) -> None:
    """The web view's MJPEG and snapshot, and MQTT's snapshot, in one run on the demo clip; the room's mood as Home
    Assistant discovers it, in /api/summary, /metrics and, in Chromium, on the page."""
    executable = chromium()
    from playwright.sync_api import sync_playwright

    broker = start_broker(tmp_path)
    subscriber = Subscriber(broker.port)
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    began = time.monotonic()
    edge = EdgeProcess(
        "--source", "demo", "--loop", "--width", "640", "--height", "480", "--quiet", "--privacy", "blur",
        "--serve", f"127.0.0.1:{port}", "--mqtt", f"mqtt://127.0.0.1:{broker.port}", "--device-name", DEVICE,
        "--ha-discovery", "--mood-every", "1",
    )  # fmt: skip
    try:
        wait_for(lambda: serving(edge, base), 90, "the web view to answer")
        wait_for(lambda: get(base + "api/snapshot.jpg")[0] == 200, 60, "the web view's snapshot")
        web_snapshot = get(base + "api/snapshot.jpg")[2]
        stream = mjpeg_frames(base + "stream.mjpg", 5)
        wait_for(lambda: len(subscriber.on(f"{BASE}/mood")) >= 2, 60, "two mood messages")
        wait_for(lambda: subscriber.on(f"{BASE}/snapshot"), 60, "the MQTT snapshot")
        summary = json.loads(get(base + "api/summary")[2])
        metrics = get(base + "metrics")[2].decode()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1000, "height": 700})
            page.goto(base)
            page.wait_for_function("document.getElementById('video').naturalWidth > 0", timeout=30_000)
            page.wait_for_selector("#mood .label", timeout=30_000)
            mood_label = page.inner_text("#mood .label")
            mood_title = page.inner_text("#mood-title")
            mood_rows = page.locator("#mood .row").count()
            browser.close()
    finally:
        code, _, err = edge.stop()
        elapsed = time.monotonic() - began
        subscriber.close()
        broker.stop()
    assert code == 0, err

    pictures = {"web snapshot": web_snapshot, "mqtt snapshot": subscriber.on(f"{BASE}/snapshot")[-1].encode(
        errors="surrogateescape"), **{f"stream frame {i}": jpeg for i, jpeg in enumerate(stream)}}  # fmt: skip
    for name, jpeg in pictures.items():
        assert len(yunet.detect(decode(jpeg))) == 0, f"{name} shows a face YuNet finds"
    originals = list(demo_frames(size=(640, 480)))
    assert all(len(yunet.detect(image)) for image in originals[::10])  # every uncovered frame had one

    assert summary["privacy"] == "blur" and summary["labels"]  # labels still flow
    mood = summary["mood"]
    assert mood["dominant"] == "Happy" and mood["faces_now"] == 1 and mood["people"] >= 1
    assert re.search(r'^fer_edge_mood_share_ratio\{label="Happy"\} (0\.[5-9]\d*|1\.0)$', metrics, re.M), metrics
    assert 'fer_edge_mood_dominant{label="Happy"} 1' in metrics and "fer_edge_mood_faces 1" in metrics
    assert mood_label == "Happy" and mood_title == f"Room mood (last {mood['window_s']:g} s)"
    assert mood_rows == len(mood["shares"])

    moods = [json.loads(p) for p in subscriber.on(f"{BASE}/mood")]
    assert len(moods) <= elapsed / 1 + 2  # --mood-every 1: one a second at most, and one at exit
    configs = {t: json.loads(p) for t, p, _ in subscriber.messages if t.startswith("homeassistant/")}
    room = {t: c for t, c in configs.items() if c.get("state_topic") == f"{BASE}/mood"}
    assert len(room) == len(mood["shares"]) + 3  # a share per emotion, the dominant mood, faces now, people
    last = moods[-1]
    for topic, config in room.items():
        assert re.fullmatch(r"homeassistant/sensor/\w+/config", topic)
        assert config["availability_topic"] == f"{BASE}/available" and config["device"]["identifiers"]
        value = template_value(config["value_template"], last)
        if config.get("unit_of_measurement") == "%":
            assert config["state_class"] == "measurement" and 0 <= value <= 100
    shares = {c["name"].removeprefix("Mood "): template_value(c["value_template"], last) for c in room.values()
              if c.get("unit_of_measurement") == "%"}  # fmt: skip
    assert abs(sum(shares.values()) - 100) < 1 and max(shares, key=shares.__getitem__) == "Happy"
    by_id = {c["unique_id"]: c for c in room.values()}
    assert template_value(by_id[f"fer_edge_{DEVICE}_room_mood"]["value_template"], last) == "Happy"
    assert template_value(by_id[f"fer_edge_{DEVICE}_faces_now"]["value_template"], last) in (0, 1)
    assert len({c["unique_id"] for c in configs.values()}) == len(configs)
    assert "image" not in json.dumps(last)  # no picture in the mood


def test_mqtt_no_snapshots_sends_no_picture_and_offers_no_image(tmp_path: Path) -> None:
    """The way to use MQTT with no picture at all: events, state and the mood still flow."""
    broker = start_broker(tmp_path)
    subscriber = Subscriber(broker.port)
    try:
        result = run_module("edge", "--source", "demo", "--demo-frames", "10", "--quiet", "--mqtt",
                            f"mqtt://127.0.0.1:{broker.port}", "--device-name", DEVICE, "--ha-discovery",
                            "--mqtt-no-snapshots", timeout=300)  # fmt: skip
        assert result.returncode == 0, result.stderr
        wait_for(lambda: subscriber.on(f"{BASE}/available")[-1:] == ["offline"], 30, "the clean 'offline'")
    finally:
        subscriber.close()
        broker.stop()
    topics = {topic for topic, _, _ in subscriber.messages}
    assert f"{BASE}/events" in topics and f"{BASE}/mood" in topics
    # Only withdrawals (empty retained messages, E4): an earlier run's picture or image entity is taken back.
    assert not any(subscriber.on(f"{BASE}/snapshot"))
    assert not any(payload for topic, payload, _ in subscriber.messages if "/image/" in topic)
    assert json.loads(subscriber.on(f"{BASE}/mood")[-1])["dominant"] == "Happy"


def test_the_no_pictures_example_in_the_docs_parses_and_asks_for_no_picture() -> None:
    from edge.cli import build_parser

    text = (ROOT / "docs" / "privacy.md").read_text()
    block = re.search(r"## Running with no pictures at all.*?```bash\n(.*?)```", text, re.S).group(1)
    argv = shlex.split(block.replace("\\\n", " "))
    assert argv[:3] == ["python", "-m", "edge"]
    args = build_parser().parse_args(argv[3:])
    assert args.mqtt_no_snapshots and args.metrics and not (args.serve or args.save or args.snapshots or args.show)


def service_environment() -> dict[str, str]:
    """The variables the shipped service env file sets (KEY=VALUE lines, comments skipped)."""
    lines = (ROOT / "edge" / "deploy" / "fer-edge.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_the_pi_services_environment_turns_blur_on_and_an_option_wins(tmp_path: Path) -> None:
    environment = service_environment()
    assert environment[ENVIRONMENT] == "blur"
    for extra, expected in (((), "blur"), (("--privacy", "off"), "off")):
        summary = tmp_path / "summary.json"
        result = run_module("edge", "--source", "demo", "--demo-frames", "2", "--quiet", "--summary-json",
                            str(summary), *extra, env={**environment, "FER_EDGE_SOURCE": ""}, timeout=300)  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert json.loads(summary.read_text())["privacy"] == expected


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [(["--privacy", "sepia"], {}, "argument --privacy: invalid choice: 'sepia'"),
     ([], {ENVIRONMENT: "sepia"}, f"{ENVIRONMENT} 'sepia': not one of off, blur, box"),
     (["--mood-window", "0"], {}, "argument --mood-window: '0' is not a number from 1 to 86400"),
     (["--mood-window", "nan"], {}, "argument --mood-window: 'nan' is not a number from 1 to 86400"),
     (["--mood-every", "0.5", "--mqtt", "mqtt://127.0.0.1"], {}, "argument --mood-every: '0.5' is not a number"),
     (["--mood-every", "5"], {}, "--mood-every needs --mqtt"),
     (["--mqtt-no-snapshots"], {}, "--mqtt-no-snapshots needs --mqtt")],
)  # fmt: skip
def test_bad_privacy_and_mood_options_are_one_line(args: list[str], env: dict[str, str], message: str) -> None:
    result = run_module("edge", "--source", "demo", "--max-frames", "1", *args, env={**os.environ, **env})
    assert result.returncode == 2
    [line] = error_lines(result.stderr)
    assert message in line and "Traceback" not in result.stderr
