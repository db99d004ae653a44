"""The web view under hostile use: a hostile contract, slow senders, DNS rebinding, a stalled
/events client, absurd options. Real `python -m edge --serve` processes, real sockets on 127.0.0.1, real Chromium."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.contract import Contract
from edge.model_folder import FLOAT32_FILE, INT8_FILE, MODEL_NAMES, write_folder
from tests.conftest import error_lines, run_module
from tests.edge.test_serve import chromium, start
from tests.live import EdgeProcess, free_port, get, serving, wait_for

# Seven labels (the shipped model's count), each trying to escape the page, a JSON string or a header. "Happy" stays
# where the demo's smiling face lands.
HOSTILE = [
    "</script><script>window.pwned=1</script>",
    '<img src=x onerror="window.pwned=2">',
    'Quote" Back\\slash',
    "Happy",
    "Line\u2028Sep\u2029<!--",
    "Amp&amp;</SCRIPT>",
    "Tick`${1}`",  # control characters are refused by the contract (test_contract_validation)
]
HEADERS = {"Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy"}


def hostile_model(folder: Path) -> Path:
    """The shipped model under a sealed contract whose labels are HOSTILE (a hand-edited contract is refused)."""
    contract = Contract.load(MODEL_NAMES["faceapi"])
    contract.labels = list(HOSTILE)
    write_folder(folder, {name: (MODEL_NAMES["faceapi"] / name).read_bytes() for name in (INT8_FILE, FLOAT32_FILE)},
                 contract)  # fmt: skip
    return folder


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    edge, base = start("--model", str(hostile_model(tmp_path_factory.mktemp("hostile") / "model")))
    yield base
    edge.stop()


def port_of(base: str) -> int:
    return int(base.rsplit(":", 1)[1].strip("/"))


def raw(port: int, request: bytes, timeout: float = 10) -> bytes:
    """One whole HTTP exchange over a plain socket (a Host header urllib would not send)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as client:
        client.sendall(request)
        chunks = []
        while chunk := client.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


# Labels are data, never code


def test_hostile_labels_are_escaped_and_every_response_has_the_security_headers(hostile: str) -> None:
    status, headers, page = get(hostile)
    assert status == 200
    text = page.decode()
    assert text.count("</script>") == 2 and "<img src=x" not in text and "\u2028" not in text  # data stays data
    policy = headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy and "connect-src 'self'" in policy
    assert "'unsafe-inline'" not in policy and "img-src 'self' data:" in policy
    embedded = text.split('<script type="application/json" id="labels">')[1].split("</script>")[0]
    assert json.loads(embedded) == HOSTILE
    for path, method, expected in [("", "GET", 200), ("nothing", "GET", 404), ("api/summary", "POST", 405),
                                   ("healthz", "HEAD", 200), ("api/summary", "GET", 200)]:  # fmt: skip
        status, headers, _ = get(hostile + path, method=method)
        assert status == expected and set(headers) >= HEADERS, path
        assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.slow
def test_hostile_labels_show_as_text_and_run_nothing_in_a_real_browser(hostile: str) -> None:
    from playwright.sync_api import sync_playwright

    executable = chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        page = browser.new_page()
        page.add_init_script(
            "window.violations = []; document.addEventListener('securitypolicyviolation',"
            " (e) => window.violations.push(e.violatedDirective));"
        )
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(hostile)
        page.wait_for_selector("#faces .face .row", timeout=30_000)  # the page's own script runs under the policy
        shown = page.eval_on_selector_all(
            "#faces .face:first-of-type .row span:first-child", "spans => spans.map((s) => s.textContent)"
        )
        assert shown == HOSTILE  # displayed as text, exactly
        assert page.inner_text("#faces .label") == "Happy"
        assert page.evaluate("window.pwned") is None and page.locator("img[src='x']").count() == 0
        assert page.evaluate("window.violations") == [] and dialogs == []
        # The policy itself holds: a script injected by the DOM (an XSS that got past escaping) does not run.
        page.evaluate(
            "() => { const s = document.createElement('script'); s.textContent = 'window.injected = 1';"
            " document.body.append(s); }"
        )
        page.wait_for_function("window.violations.length > 0", timeout=10_000)
        assert page.evaluate("window.injected") is None
        browser.close()


# Slow senders


def test_slow_senders_do_not_lock_viewers_out() -> None:
    edge, base = start("--serve-max-clients", "2")
    port = port_of(base)
    slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(8)]
    viewers: list[socket.socket] = []
    try:
        for client in slow:
            client.sendall(b"G")  # and a byte every few seconds, never a whole request
        time.sleep(0.5)  # let the server take them all (behaviour below is the same however long)
        for address in ("127.0.0.1", "127.0.0.2"):  # one each: a viewer's share is half the places per address
            viewer = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(address, 0))
            viewers.append(viewer)
            viewer.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert viewer.recv(64).startswith(b"HTTP/1.0 200")
        assert get(base + "healthz")[0] == 200  # a short request is no viewer: the cap does not count it
        with socket.create_connection(("127.0.0.1", port), timeout=10) as third:  # one viewer too many
            third.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert third.recv(64).startswith(b"HTTP/1.0 503")
    finally:
        for client in slow + viewers:
            client.close()
        edge.stop()


class Flooder:
    """What the hostile run's slowloris.py does: `count` connections from 127.0.0.1 (the address the real clients
    below use too), each sending only the start of a request and holding it; reopened as soon as it is dropped."""

    def __init__(self, port: int, count: int) -> None:
        self.port, self.stopping, self.dropped = port, threading.Event(), 0
        self.threads = [threading.Thread(target=self._hold, daemon=True) for _ in range(count)]
        for thread in self.threads:
            thread.start()

    def _hold(self) -> None:
        while not self.stopping.is_set():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as client:
                    client.sendall(b"GET /healthz HTTP/1.1\r\n")  # never finishes the headers
                    client.settimeout(0.5)
                    while not self.stopping.is_set():
                        try:
                            if not client.recv(1024):
                                break
                        except TimeoutError:
                            continue
                self.dropped += 1
            except OSError:
                time.sleep(0.05)

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=30)


@pytest.mark.slow
@pytest.mark.parametrize("count", [20, 100])
def test_half_sent_requests_from_many_connections_never_lock_new_clients_out(count: int) -> None:
    """D9 (hostile run 2026-12-04): 20 connections that each sent half a request held every request slot, so 23 of
    25 new /healthz requests, every new viewer and /metrics got 503, token or not. Now a request that arrives whole
    is answered from its own slots, and half-sent ones share a few places, at most PER_ADDRESS per address."""
    token = "s3cret-token"
    edge, base = start(env={"FER_EDGE_SERVE_TOKEN": token})
    flooder = Flooder(port_of(base), count)
    try:
        wait_for(lambda: flooder.dropped >= count, 120, "the server to be full and drop some of the flood")
        for _ in range(5):
            assert get(base + "healthz")[0] == 200
        assert get(base + f"metrics?token={token}")[0] == 200
        with socket.create_connection(("127.0.0.1", port_of(base)), timeout=30) as viewer:
            request = f"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n"
            viewer.sendall(request.encode())
            answer = b""
            while b"image/jpeg" not in answer:  # a frame comes
                chunk = viewer.recv(65536)
                assert chunk, answer
                answer += chunk
            assert answer.startswith(b"HTTP/1.0 200")
    finally:
        flooder.stop()
        edge.stop()


@pytest.mark.slow
def test_a_request_that_trickles_in_is_dropped() -> None:
    edge, base = start()
    try:
        with socket.create_connection(("127.0.0.1", port_of(base)), timeout=30) as client:
            request = b"GET /api/summary HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: " + b"a" * 200

            def dropped() -> bool:
                try:
                    client.sendall(request[:1])
                    del request[:1]
                    client.setblocking(False)
                    try:
                        return client.recv(1) == b""  # the server closed it
                    except BlockingIOError:
                        return False
                    finally:
                        client.setblocking(True)
                except OSError:  # reset: closed as well
                    return True

            request = bytearray(request)
            wait_for(dropped, 60, "the server to drop a request that never arrives whole")
            assert request, "the whole request was sent before the server dropped it"
    finally:
        edge.stop()


# DNS rebinding


def test_only_known_host_names_get_answers() -> None:
    edge, base = start("--serve-allow-host", "Pi.Local")
    port = port_of(base)
    try:
        for path in ("/api/summary", "/stream.mjpg", "/healthz", "/metrics", "/"):
            answer = raw(port, f"GET {path} HTTP/1.1\r\nHost: rebind.attacker.example:{port}\r\n\r\n".encode())
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.0 421"), path
            assert b"frames" not in body and b"--fer-edge-frame" not in body and b"\xff\xd8" not in body
        for host in (f"127.0.0.1:{port}", "127.0.0.1", "localhost", f"localhost:{port}", f"[::1]:{port}",
                     "pi.local", f"PI.LOCAL:{port}"):  # fmt: skip
            answer = raw(port, f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            assert answer.startswith(b"HTTP/1.0 200"), host
        assert raw(port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:x\r\n\r\n").startswith(b"HTTP/1.0 421")
    finally:
        edge.stop()


# --serve-fps out of range is refused; an encoder that fails on one frame goes on


@pytest.mark.parametrize("fps", ["1e-300", "0.01", "61", "inf"])
def test_serve_fps_out_of_range_is_refused(fps: str) -> None:
    result = run_module("edge", "--serve", str(free_port()), "--serve-fps", fps, "--max-frames", "1", timeout=120)
    assert result.returncode == 2
    assert error_lines(result.stderr) == [
        f"python -m edge: error: argument --serve-fps: {fps!r} is not a number from 0.1 to 60 (see --help)"
    ]


def test_the_encoder_survives_a_frame_that_fails(monkeypatch: pytest.MonkeyPatch, capfd) -> None:
    import urllib.request

    import numpy as np

    from edge.frames import Frame
    from edge.outputs import web
    from edge.outputs.base import Result

    calls = []

    def annotate(image, faces, fps):
        calls.append(1)
        if len(calls) == 1:
            raise MemoryError("no memory for this one")
        return image

    monkeypatch.setattr(web, "annotate", annotate)
    view = web.WebView("127.0.0.1", 0, ["a"], max_fps=60)
    view.start(dict)
    try:
        with urllib.request.urlopen(view.url + "stream.mjpg", timeout=30) as response:
            wait_for(lambda: view.viewers, 10, "the viewer")
            image = np.zeros((8, 8, 3), np.uint8)
            for index in range(3):
                view.frame(Result(Frame(image, index, "test", 0.0), [], lambda: 0.0))
                wait_for(lambda n=index: len(calls) > n, 10, "the encoder to take the frame")
            assert response.readline() == b"--fer-edge-frame\r\n"  # frames after the failure are served
        assert view.threads[1].is_alive() and view.counters["encode_errors"] == 1
    finally:
        view.close()
    [line] = [line for line in capfd.readouterr().err.splitlines() if "encode" in line]
    assert "MemoryError" in line


# An /events client that never reads loses its slot


@pytest.mark.slow
def test_a_stalled_events_client_loses_its_slot() -> None:
    edge, base = start("--serve-max-clients", "1")
    try:
        with socket.socket() as stalled:
            stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            stalled.connect(("127.0.0.1", port_of(base)))
            stalled.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # and never read a byte
            stalled.settimeout(30)
            assert stalled.recv(12, socket.MSG_PEEK | socket.MSG_WAITALL)[9:] == b"200"  # holds the slot (peeked)
            port = port_of(base)
            assert events_answer(port) == b"503"
            wait_for(lambda: events_answer(port) == b"200", 60, "the stalled client to be dropped")
    finally:
        edge.stop()


@pytest.mark.slow
def test_one_address_cannot_take_every_viewer_place() -> None:
    """E7 (hostile run 2026-12-07): 8 slow-reading viewers from one address took all 8 viewer places, so every other
    host on the LAN got 503 for as long as they read. A real HTTP client (http.client) from other addresses."""
    import http.client

    edge, base = start()
    port = port_of(base)
    held: list[http.client.HTTPResponse] = []

    def viewer(address: str) -> int:
        client = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(address, 0))
        client.request("GET", "/stream.mjpg")
        response = client.getresponse()  # a "Connection: close" answer: the socket now lives in the response
        held.append(response)  # kept open, unread: a viewer holding its place
        return response.status

    try:
        assert [viewer("127.0.0.1") for _ in range(8)] == [200] * 4 + [503] * 4  # half the places, no more
        assert viewer("127.0.0.9") == 200 and viewer("127.0.0.10") == 200
        assert get(base + "healthz")[0] == 200
    finally:
        for response in held:
            response.close()
        edge.stop()


def events_answer(port: int) -> bytes:
    """The status code a new /events viewer gets (it leaves at once)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as viewer:
        viewer.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        return viewer.recv(12)[9:12]


# The auth scheme is case-insensitive


def test_bearer_scheme_in_any_case_is_accepted() -> None:
    token = "s3cret-token"
    edge, base = start(env={"FER_EDGE_SERVE_TOKEN": token})
    try:
        for scheme in ("Bearer", "bearer", "BEARER"):
            assert get(base + "api/summary", headers={"Authorization": f"{scheme} {token}"})[0] == 200, scheme
        assert get(base + "api/summary", headers={"Authorization": "bearer wrong"})[0] == 401
        assert get(base + "api/summary", headers={"Authorization": f"Basic {token}"})[0] == 401
    finally:
        edge.stop()


def test_a_non_ascii_token_works_in_the_query_and_the_authorization_header() -> None:
    """D14 (hostile run 2026-12-04): a token such as pässwörd worked as ?token= (UTF-8) but never as a Bearer header,
    which http.server decodes as Latin-1, so Prometheus with credentials_file was locked out."""
    token = "pässwörd"
    edge, base = start(env={"FER_EDGE_SERVE_TOKEN": token})
    port = port_of(base)
    try:
        assert get(base + "metrics?token=p%C3%A4ssw%C3%B6rd")[0] == 200
        bearer = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token.encode() + b"\r\n\r\n"
        assert raw(port, bearer).startswith(b"HTTP/1.0 200")  # the header's bytes as curl sends them: UTF-8
        wrong = bearer.replace("ö".encode(), b"o")
        assert raw(port, wrong).startswith(b"HTTP/1.0 401")
    finally:
        edge.stop()


# Loopback is decided by the address, not a list of spellings


@pytest.mark.parametrize("host", ["127.0.0.2", "::1"])
def test_no_exposure_warning_on_loopback_addresses(host: str) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family) as probe:
            probe.bind((host, 0))
    except OSError:
        pytest.skip(f"{host} is not available here")
    port = free_port()
    bracketed = f"[{host}]" if ":" in host else host
    edge = EdgeProcess("--source", "demo", "--loop", "--quiet", "--serve", f"{bracketed}:{port}")
    try:
        base = f"http://{bracketed}:{port}/"
        wait_for(lambda: serving(edge, base), 60, "the web view to answer")
    finally:
        code, _, err = edge.stop()
    assert code == 0
    assert "warning" not in err and f"serving {base}" in err
