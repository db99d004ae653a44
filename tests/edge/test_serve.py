"""`--serve`: the live web view over real HTTP (urllib) and in a real browser (Playwright + Debian's chromium)."""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.contract import Contract
from edge.model_folder import DEFAULT_MODEL_DIR
from tests.conftest import error_lines, run_module
from tests.live import EdgeProcess, free_port, get, mjpeg_frame, serving, sse_records, wait_for

TOKEN = "s3cret-token"


def start(*extra: str, env: dict[str, str] | None = None) -> tuple[EdgeProcess, str]:
    port = free_port()
    edge = EdgeProcess("--source", "demo", "--loop", "--quiet", "--serve", f"127.0.0.1:{port}", *extra, env=env)
    base = f"http://127.0.0.1:{port}/"
    wait_for(lambda: serving(edge, base), 60, "the web view to answer")
    return edge, base


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    jsonl = tmp_path_factory.mktemp("serve") / "frames.jsonl"
    edge, base = start("--jsonl", str(jsonl))
    yield base, jsonl
    code, out, err = edge.stop()
    assert code == 0, err
    assert "[interrupted]" in out and "serve: url" in out  # a SIGTERM'd looping run ends cleanly with its summary


def summary(base: str) -> dict:
    status, headers, body = get(base + "api/summary")
    assert status == 200 and headers["Content-Type"] == "application/json"
    return json.loads(body)


def test_health_summary_and_page(served: tuple[str, Path]) -> None:
    base, _ = served
    status, _, body = get(base + "healthz")
    assert status == 200 and json.loads(body)["status"] == "ok"
    first = summary(base)
    assert first["stopped"] == "running" and first["source"] == "demo"
    assert first["outputs"]["serve"]["url"] == base
    wait_for(lambda: summary(base)["frames"] > first["frames"], 30, "frames to advance")
    assert {"capture", "detect", "infer"} <= set(summary(base)["stages"])
    status, headers, page = get(base)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    text = page.decode()
    assert 'name="viewport"' in text and "stream.mjpg" in text and "EventSource" in text
    labels = Contract.load(DEFAULT_MODEL_DIR).labels
    assert f'<script type="application/json" id="labels">{json.dumps(labels)}</script>' in text  # the contract's
    assert "http://" not in text and "https://" not in text  # self-contained: works offline, no CDN
    assert get(base + "nothing-here")[0] == 404
    assert get(base + "../edge/cli.py")[0] == 404  # serves nothing from the file system


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_read_only(served: tuple[str, Path], method: str) -> None:
    status, headers, _ = get(served[0] + "api/summary", method=method)
    assert status == 405 and headers["Allow"] == "GET, HEAD"


def test_head_has_headers_and_no_body(served: tuple[str, Path]) -> None:
    status, headers, body = get(served[0], method="HEAD")
    assert status == 200 and int(headers["Content-Length"]) > 1000 and body == b""


def test_sse_record_is_the_jsonl_record(served: tuple[str, Path]) -> None:
    base, jsonl = served
    records = sse_records(base + "events", 3)
    assert len(records) == 3 and all(r["source"] == "demo" for r in records)
    frames = [r["frame"] for r in records]
    assert frames == sorted(frames)
    written = {}

    def has_frames() -> bool:
        for line in jsonl.read_text().splitlines():
            record = json.loads(line)
            written[record["frame"]] = record
        return all(f in written for f in frames)

    wait_for(has_frames, 30, "the JSONL lines")
    for record in records:
        assert record == written[record["frame"]]
    assert records[0]["faces"] and records[0]["faces"][0]["label"] == "Happy"


@pytest.mark.slow
def test_mjpeg_stream_sends_jpegs_and_frames_are_only_encoded_while_watched(served: tuple[str, Path]) -> None:
    base, _ = served
    encoded_before = summary(base)["outputs"]["serve"]["frames_encoded"]
    headers, jpeg = mjpeg_frame(base + "stream.mjpg")
    assert headers["Content-Type"] == "image/jpeg" and jpeg[:2] == b"\xff\xd8" and jpeg[-2:] == b"\xff\xd9"
    assert summary(base)["outputs"]["serve"]["frames_encoded"] > encoded_before
    frames = summary(base)["frames"]
    wait_for(lambda: summary(base)["frames"] > frames + 30, 30, "more frames")  # the server notices the viewer left
    stopped_watching = summary(base)["outputs"]["serve"]["frames_encoded"]
    wait_for(lambda: summary(base)["frames"] > frames + 90, 30, "more frames")
    assert summary(base)["outputs"]["serve"]["frames_encoded"] == stopped_watching  # nobody watches: no work


@pytest.mark.slow
def test_a_stalled_viewer_does_not_stop_the_pipeline(served: tuple[str, Path]) -> None:
    base, _ = served
    port = int(base.rsplit(":", 1)[1].strip("/"))
    with socket.create_connection(("127.0.0.1", port)) as stalled:
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # and never read a byte
        frames = summary(base)["frames"]
        wait_for(lambda: summary(base)["frames"] > frames + 100, 60, "frames to advance past a stalled viewer")
        assert get(base + "healthz")[0] == 200


def test_token_is_required_when_set() -> None:
    edge, base = start(env={"FER_EDGE_SERVE_TOKEN": TOKEN})
    try:
        assert get(base + "api/summary")[0] == 401
        assert get(base + "api/summary?token=wrong")[0] == 401
        assert get(base + f"api/summary?token={TOKEN}")[0] == 200
        assert get(base + "api/summary", headers={"Authorization": f"Bearer {TOKEN}"})[0] == 200
        assert get(base + "stream.mjpg", method="HEAD")[0] == 401
        assert get(base + "healthz")[0] == 200  # a liveness probe needs no token and tells nothing
    finally:
        edge.stop()


def test_client_cap_answers_503_beyond_it() -> None:
    edge, base = start("--serve-max-clients", "2")
    port = int(base.rsplit(":", 1)[1].strip("/"))
    # From two addresses: one address holds at most half the places (test_web_security)
    viewers = [socket.create_connection(("127.0.0.1", port), source_address=(a, 0)) for a in ("127.0.0.1", "127.0.0.2")]
    try:
        for viewer in viewers:
            viewer.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert viewer.recv(64).startswith(b"HTTP/1.0 200")
        third = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=("127.0.0.3", 0))
        with third:  # the cap counts viewers only
            third.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert third.recv(64).startswith(b"HTTP/1.0 503")
        viewers.pop().close()
        wait_for(lambda: summary(base)["outputs"]["serve"]["viewers"] == 1, 30, "a freed slot")
        viewers.pop().close()
        # A slot comes back just after its response is sent, so poll rather than expect it at once.
        stats = wait_for(lambda: get(base + "api/summary")[0] == 200 and summary(base), 30, "the summary")
        assert stats["outputs"]["serve"]["refused_busy"] >= 1
    finally:
        for viewer in viewers:
            viewer.close()
        edge.stop()


def test_port_in_use_is_one_line_before_the_run() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_module("edge", "--source", "demo", "--serve", str(port), timeout=120)
    assert result.returncode == 2
    assert error_lines(result.stderr) == [f"edge: error: --serve 127.0.0.1:{port}: cannot listen (the port is in use)"]
    assert "frame" not in result.stdout  # refused before the run started


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--serve", "99999"], "argument --serve: '99999': the port must be a number from 1 to 65535"),
     (["--serve", "8000", "--serve-fps", "0"], "argument --serve-fps: '0' is not a number from 0.1 to 60"),
     (["--source", "0", "--loop"], "--loop replays a finite source (demo, a video, images); 0 is a live camera"),
     (["--ha-discovery"], "--ha-discovery needs --mqtt (discovery messages go to the broker)")],
)  # fmt: skip
def test_bad_serve_options_are_refused_before_the_run(args: list[str], message: str) -> None:
    result = run_module("edge", *args, timeout=120)
    assert result.returncode == 2
    [line] = error_lines(result.stderr)
    assert f"edge: error: {message}" in line


def test_binding_beyond_localhost_without_a_token_warns() -> None:
    from edge.outputs.web import warn_if_exposed

    assert warn_if_exposed("127.0.0.1", None) is None
    assert warn_if_exposed("0.0.0.0", TOKEN) is None
    assert "without a token" in warn_if_exposed("0.0.0.0", None)


def test_loop_replays_the_demo_until_max_frames(tmp_path: Path) -> None:
    jsonl = tmp_path / "loop.jsonl"
    run_module("edge", "--source", "demo", "--demo-frames", "5", "--loop", "--max-frames", "12", "--quiet",
               "--jsonl", str(jsonl), check=True, timeout=120)  # fmt: skip
    assert [json.loads(line)["frame"] for line in jsonl.read_text().splitlines()] == list(range(12))


# The real browser


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("chromium not installed (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install playwright)")
    return path


@pytest.mark.slow
def test_browser_shows_live_video_and_a_labelled_face(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    executable = chromium()
    edge, base = start("--width", "640", "--height", "480")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1000, "height": 560})
            page.goto(base)
            page.wait_for_function("document.getElementById('video').naturalWidth > 0", timeout=30_000)
            assert page.evaluate("document.getElementById('video').naturalWidth") == 640
            page.wait_for_selector("#faces .label", timeout=30_000)
            assert page.inner_text("#faces .label") == "Happy"  # the demo's portrait smiles
            labels = Contract.load(DEFAULT_MODEL_DIR).labels
            assert page.locator("#faces .face").first.locator(".row").count() == len(labels)
            page.wait_for_function("document.getElementById('fps').textContent !== '- FPS'", timeout=30_000)
            page.wait_for_function("document.querySelectorAll('#stages tr').length > 3", timeout=30_000)
            # FER_EDGE_SCREENSHOT=docs/webview.png makes this test retake the README's screenshot.
            screenshot = Path(os.environ.get("FER_EDGE_SCREENSHOT", tmp_path / "webview.png"))
            page.screenshot(path=str(screenshot))
            phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
            phone.goto(base)
            phone.wait_for_selector("#faces .label", timeout=30_000)
            assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
            browser.close()
        assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        edge.stop()


def test_a_refused_output_still_closes_the_web_view(tmp_path: Path) -> None:
    """The web view listens before the run; an output the run refuses must not leave its socket open."""
    from edge.common.errors import UserError
    from edge.outputs.web import WebView
    from edge.pipeline.pipeline import Pipeline
    from edge.run import RunOptions, run
    from edge.sources.base import SourceOptions, open_source

    pipeline = Pipeline()
    view = WebView("127.0.0.1", 0, pipeline.contract.labels)
    host, port = view.address
    with socket.create_connection((host, port), timeout=5):
        pass  # listening
    options = RunOptions(save=str(tmp_path / "out.gif"), quiet=True, sinks=[view])
    with pytest.raises(UserError, match=r"cannot write \.gif"):
        run(open_source("demo", SourceOptions(demo_frames=3)), pipeline, options)
    with pytest.raises(OSError):
        socket.create_connection((host, port), timeout=5)
