"""`--serve [HOST:]PORT`: watch a headless device from a browser (live annotated video, faces, FPS).

Built on the standard library's ThreadingHTTPServer (as picamera2's mjpeg_server.py example is), so the device
needs nothing more. The frame loop only hands over references: annotating and JPEG-encoding happen on one
encoder thread, only while someone watches the video, at most `max_fps` times a second, and always on the
newest frame. Every client has its own thread and a bounded buffer, so a slow or stalled viewer misses frames
or events; it never slows the pipeline or the other viewers.

Routes: `/` (the page), `/stream.mjpg`, `/events` (Server-Sent Events: each frame's JSONL record, plus a
`stats` event a second, with the room's mood), `/api/summary` (the run summary so far), `/api/snapshot.jpg` (the
face of the latest event: appeared or changed label; 404 before the first), `/metrics` (Prometheus), `/healthz`. GET and
HEAD only; nothing is read from the file system after start-up. Optional token (`?token=` or `Authorization:
Bearer`). Every connection must send its request whole within REQUEST_TIMEOUT (a slow sender has few places,
shared between addresses: see GuardedHandler.handle), name an allowed Host (DNS rebinding), and gets a
Content-Security-Policy that runs only the page's own script. `--metrics` without the web view is the same server
with `/metrics` alone (MetricsServer).
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import hmac
import io
import ipaddress
import json
import queue
import re
import select
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import cv2
import numpy as np

from edge.common.errors import UserError
from edge.common.options import is_ip
from edge.common.secrets import from_environment
from edge.common.timing import StageTimes
from edge.frames import Face
from edge.outputs import metrics
from edge.outputs.base import Result, Sink, annotate
from edge.outputs.snapshots import LatestSnapshot

PAGE = Path(__file__).resolve().parents[1] / "assets" / "webview.html"
TOKEN_ENV = "FER_EDGE_SERVE_TOKEN"
BOUNDARY = "fer-edge-frame"
JPEG_QUALITY = 80
EVENTS_BUFFER = 32  # records a slow /events client may fall behind before it misses some
STATS_EVERY = 1.0  # seconds between `stats` events
CLIENT_TIMEOUT = 10.0  # seconds a client may stall a write before its connection is dropped
REQUEST_TIMEOUT = 5.0  # seconds a request line and its headers may take to arrive whole (slow senders)
BUSY_REQUEST_TIMEOUT = 1.0  # ... once half the slow senders' places are taken
WHOLE_WAIT = 0.5  # seconds a new connection has to send its request head whole before it counts as a slow sender
HEAD_MAX = 65536  # bytes of request head looked at without reading them (the standard reader's own line limit)
IN_PROGRESS = 16  # requests that arrived whole and are getting a short answer, beside the viewers
SLOW_SENDERS = 8  # connections whose request is still arriving: at most this many at once...
PER_ADDRESS = 4  # ... and this many from one address, so one host cannot take every place
SEND_BUFFER = 16 * 1024  # a stream's kernel send buffer: small, so a client that stops reading stalls a write soon
LOCAL_NAMES = {"localhost", "127.0.0.1", "::1"}  # Host values always allowed: this machine
MAX_FPS = 10.0  # video frames encoded a second, at most (--serve-fps)
FPS_RANGE = (0.1, 60.0)  # --serve-fps: below, the encoder would sleep for ages; above, a Pi only burns CPU
MAX_CLIENTS = 8  # concurrent viewers of /stream.mjpg and /events (--serve-max-clients), at most half (rounded up)
# from one address, so one host on the LAN cannot keep every other viewer out
WILDCARDS = {"0.0.0.0", "::", ""}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def warn_if_exposed(host: str, token: str | None, option: str = "--serve") -> str | None:
    """Binding beyond localhost without a token is allowed (a home network, a phone), but said out loud."""
    if is_loopback(host) or token:
        return None
    return (
        f"warning: {option} on {host} without a token: anyone who can reach this device sees the"
        f" {'camera' if option == '--serve' else 'run'}; set --serve-token or {TOKEN_ENV}"
    )


class HostCheck:
    """Which HTTP Host values are answered. A DNS-rebinding page reaches the server under its own domain name, so
    only names this server is known by pass: this machine's, the bound address, and `--serve-allow-host` names.
    Bound to every address (0.0.0.0), a client may also name any IP address: an address is no rebinding."""

    def __init__(self, bound: str, extra: Iterable[str] = ()) -> None:
        self.names = {*LOCAL_NAMES, bound.lower(), *(name.lower().rstrip(".") for name in extra)}
        self.any_address = bound in WILDCARDS

    def allows(self, header: str | None) -> bool:
        if header is None:  # HTTP/1.0 tools may send none; every browser sends one
            return True
        value = header.strip().lower()
        if value.startswith("["):
            name, _, rest = value[1:].partition("]")
            port = rest.removeprefix(":") if rest.startswith(":") else None if rest else ""
        else:
            name, colon, port = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
            name = name if colon else value
        if port is None or (port and not port.isdigit()):
            return False
        name = name.rstrip(".")
        return name in self.names or (self.any_address and is_ip(name))


class SharedPlaces:
    """`total` places, at most `per_address` of them held by one client address: the viewers' and the slow
    senders' places, so one host cannot take them all."""

    def __init__(self, total: int, per_address: int) -> None:
        self.total, self.per_address = total, per_address
        self.held: dict[str, int] = {}
        self.lock = threading.Lock()

    def take(self, address: str) -> int | None:
        """A place for `address`: how many were taken before it, or None when all are, or its share is."""
        with self.lock:
            taken = sum(self.held.values())
            if taken >= self.total or self.held.get(address, 0) >= self.per_address:
                return None
            self.held[address] = self.held.get(address, 0) + 1
            return taken

    def release(self, address: str) -> None:
        with self.lock:
            left = self.held[address] - 1
            if left:
                self.held[address] = left
            else:
                del self.held[address]


def _server_class(host: str) -> type[ThreadingHTTPServer]:
    """The standard server speaks IPv4 only; an IPv6 host (`[::]:8000`, `[::1]:8000`) needs its own family."""
    if ":" not in host:
        return ThreadingHTTPServer
    return type("ThreadingHTTPServer6", (ThreadingHTTPServer,), {"address_family": socket.AF_INET6})


def listen(host: str, port: int, handler: type[BaseHTTPRequestHandler], option: str) -> ThreadingHTTPServer:
    try:
        server = _server_class(host)((host, port), handler)
    except OSError as exc:
        reason = "the port is in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
        raise UserError(f"{option} {host}:{port}: cannot listen ({reason})") from None
    server.daemon_threads = True
    return server


def script_json(value: object) -> str:
    """JSON that can sit inside an HTML <script> element: no `</script>`, no `<!--`, no line terminators JS
    would break on, whatever strings it holds."""
    text = json.dumps(value)
    for char, escape in (("<", r"\u003c"), (">", r"\u003e"), ("&", r"\u0026"), ("\u2028", r"\u2028"),
                         ("\u2029", r"\u2029")):  # fmt: skip
        text = text.replace(char, escape)
    return text


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def page_policy(page: str) -> str:
    """The page's Content-Security-Policy: its own inline script and style (by hash) and nothing else runs."""
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    styles = re.findall(r"<style>(.*?)</style>", page, re.S)
    return "; ".join([
        "default-src 'self'",
        f"script-src {' '.join(map(_csp_hash, scripts)) or chr(39) + 'none' + chr(39)}",
        f"style-src {' '.join(map(_csp_hash, styles)) or chr(39) + 'none' + chr(39)}",
        "img-src 'self' data:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    ])  # fmt: skip


class LatestJpeg:
    """The newest encoded frame and its number; viewers wait for a newer one than they last sent."""

    def __init__(self) -> None:
        self.condition = threading.Condition()
        self.jpeg = b""
        self.number = 0
        self.closed = False

    def publish(self, jpeg: bytes) -> None:
        with self.condition:
            self.jpeg, self.number = jpeg, self.number + 1
            self.condition.notify_all()

    def newer_than(self, number: int, timeout: float) -> tuple[int, bytes] | None:
        with self.condition:
            self.condition.wait_for(lambda: self.number > number or self.closed, timeout)
            if self.closed or self.number <= number:
                return None
            return self.number, self.jpeg

    def close(self) -> None:
        with self.condition:
            self.closed = True
            self.condition.notify_all()


class WebView(Sink):
    """The sink the run loop feeds, and the HTTP server it runs beside the loop."""

    name = "serve"
    option = "--serve"
    pictures = True

    def __init__(
        self,
        host: str,
        port: int,
        labels: list[str],
        max_fps: float = MAX_FPS,
        max_clients: int = MAX_CLIENTS,
        token: str | None = None,
        allow_hosts: Iterable[str] = (),
        timer: StageTimes | None = None,
    ) -> None:
        self.labels, self.token, self.timer = labels, token or None, timer
        self.max_fps = min(max(max_fps, FPS_RANGE[0]), FPS_RANGE[1])  # the CLI refuses others; the API clamps
        template = PAGE.read_text(encoding="utf-8")
        self.policy = page_policy(template)
        self.page = template.replace("/*LABELS*/[]", script_json(labels)).encode("utf-8")
        self.hosts = HostCheck(host, allow_hosts)
        self.in_progress = threading.BoundedSemaphore(IN_PROGRESS)
        self.slow_senders = SharedPlaces(SLOW_SENDERS, PER_ADDRESS)  # connections whose request is still arriving
        self.slots = SharedPlaces(max_clients, -(-max_clients // 2))  # viewers (/stream.mjpg, /events): half a host
        self.lock = threading.Lock()
        self.viewers = 0  # clients on /stream.mjpg: frames are only encoded while this is > 0
        self.event_queues: tuple[queue.Queue, ...] = ()  # replaced, never mutated: frame() reads it without the lock
        self.pending: tuple[np.ndarray, list[Face]] | None = None  # the 1-slot hand-over to the encoder
        self.wake = threading.Event()
        self.latest = LatestJpeg()
        self.snapshot = LatestSnapshot()  # /api/snapshot.jpg
        self.encode_times = StageTimes()  # annotate + JPEG, on the encoder thread: what watching costs the CPU
        self.encode_failures: set[str] = set()  # kinds of failure already logged (one line each)
        self.closing = threading.Event()
        self.summary: Callable[[], dict] = dict
        self.frames, self.started = 0, time.monotonic()
        self.counters = {"requests": 0, "refused_busy": 0, "refused_token": 0, "refused_host": 0,
                         "frames_encoded": 0, "encode_errors": 0, "events_missed": 0}  # fmt: skip
        handler = type("Handler", (self.handler_class,), {"view": self})  # the request handler, bound to this view
        self.server = listen(host, port, handler, self.option)
        self.address = self.server.server_address[:2]
        self.threads = [threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)]
        if self.handler_class is ViewHandler:
            self.threads.append(threading.Thread(target=self._encode_loop, daemon=True))

    @property
    def handler_class(self) -> type[GuardedHandler]:
        return ViewHandler

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{f'[{host}]' if ':' in host else host}:{port}/"

    def take_slow_place(self, address: str) -> float | None:
        """A place for a connection whose request is still arriving: its header deadline (shorter once half the
        places are taken), or None when every place, or its address's share, is taken."""
        taken = self.slow_senders.take(address)
        if taken is None:
            return None
        return time.monotonic() + (REQUEST_TIMEOUT if taken < SLOW_SENDERS // 2 else BUSY_REQUEST_TIMEOUT)

    def watching(self) -> int:
        """Viewers now: /stream.mjpg and /events clients."""
        return self.viewers + len(self.event_queues)

    def metrics_text(self) -> str:
        return metrics.render(self.summary(), self.labels, self.timer, self.watching())

    # The run loop's side: cheap hand-overs only.

    def start(self, summary: Callable[[], dict]) -> None:
        self.summary, self.started = summary, time.monotonic()
        for thread in self.threads:
            thread.start()

    def frame(self, result: Result) -> None:
        self.frames += 1
        self.snapshot.frame(result)
        if self.viewers:
            self.pending = (result.frame.image, result.faces)
            self.wake.set()
        record = result.record
        for target in self.event_queues:
            if target.full():  # a slow client: drop its oldest record, so it catches up with the newest
                with contextlib.suppress(queue.Empty):
                    target.get_nowait()
                    self.counters["events_missed"] += 1
            with contextlib.suppress(queue.Full):
                target.put_nowait(record)

    def stats(self) -> dict:
        encode = self.encode_times.summary().get("encode", {})
        return {"url": self.url, "viewers": self.watching(), **self.counters,
                "encode_ms_mean": encode.get("mean_ms", 0.0)}  # fmt: skip

    def close(self) -> None:
        self.closing.set()
        self.wake.set()
        self.latest.close()
        if self.threads[0].is_alive():  # shutdown() would wait forever for a server that never started
            self.server.shutdown()
        self.server.server_close()

    # The encoder thread: newest frame only, at most max_fps a second, only while someone watches.

    def _encode_loop(self) -> None:
        """Never dies: a frame that fails to encode is logged (one line per kind of failure) and skipped."""
        interval = 1.0 / self.max_fps
        while not self.closing.is_set():
            self.wake.wait()
            self.wake.clear()
            began = time.monotonic()
            try:
                self._encode_newest()
            except Exception as exc:  # the stream must outlive any one frame
                self.counters["encode_errors"] += 1
                kind = type(exc).__name__
                if kind not in self.encode_failures:
                    self.encode_failures.add(kind)
                    print(f"edge: web view: a frame failed to encode ({kind}: {exc}); skipping it", file=sys.stderr)
            self.closing.wait(max(0.0, interval - (time.monotonic() - began)))

    def _encode_newest(self) -> None:
        pending, self.pending = self.pending, None
        if pending is None or not self.viewers:
            return
        image, faces = pending
        fps = self.frames / max(time.monotonic() - self.started, 1e-9)  # the run's rate so far, as the overlay says
        with self.encode_times.time("encode"):
            ok, jpeg = cv2.imencode(".jpg", annotate(image, faces, fps), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if ok:
            self.latest.publish(jpeg.tobytes())
            self.counters["frames_encoded"] += 1


class MetricsServer(WebView):
    """`--metrics [HOST:]PORT` without the web view: the same server and guards, serving GET /metrics only."""

    name = "metrics"
    pictures = False
    option = "--metrics"

    def __init__(
        self, host: str, port: int, labels: list[str], token: str | None = None, allow_hosts: Iterable[str] = (),
        timer: StageTimes | None = None,
    ) -> None:  # fmt: skip
        super().__init__(host, port, labels, token=token, allow_hosts=allow_hosts, timer=timer)

    @property
    def handler_class(self) -> type[GuardedHandler]:
        return MetricsHandler

    @property
    def url(self) -> str:
        return super().url + "metrics"

    def metrics_text(self) -> str:
        summary = self.summary()
        viewers = summary.get("outputs", {}).get("serve", {}).get("viewers", 0)
        return metrics.render(summary, self.labels, self.timer, viewers)

    def frame(self, result: Result) -> None:
        """Nothing per frame: the metrics are computed when scraped."""

    def stats(self) -> dict:
        return {"url": self.url, **{k: self.counters[k] for k in ("requests", "refused_token", "refused_host")}}


class DeadlineReader(io.RawIOBase):
    """The connection's bytes for the request reader: a request must arrive whole by its handler's deadline, however
    slowly it trickles in (a byte every few seconds would otherwise hold a connection for ever)."""

    def __init__(self, handler: GuardedHandler) -> None:
        self.handler = handler

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        deadline, connection = self.handler.deadline, self.handler.connection
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the request did not arrive whole in time")
            connection.settimeout(min(left, CLIENT_TIMEOUT))
        return connection.recv_into(buffer)


class GuardedHandler(BaseHTTPRequestHandler):
    """GET/HEAD on `routes`; every other method is 405, every unknown path 404. Before a route: the request's
    deadline, an allowed Host, the token; on every response: the security headers."""

    view: WebView
    server_version = "fer-edge"
    timeout = CLIENT_TIMEOUT
    routes: ClassVar[dict[str, str]] = {}
    open_routes: ClassVar[set[str]] = set()
    deadline: float | None = None
    request_place: str | None = None  # "whole" (an IN_PROGRESS slot) or "slow" (a slow sender's place), until answered
    holds_viewer_slot = False

    def __getattr__(self, name: str) -> object:
        if name.startswith("do_"):  # POST, PUT, DELETE, ...: this server is read-only
            return self._not_allowed
        raise AttributeError(name)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: a service's journal should not get a line per request."""

    def setup(self) -> None:
        super().setup()
        self.deadline = time.monotonic() + REQUEST_TIMEOUT
        self.rfile = io.BufferedReader(DeadlineReader(self))

    def parse_request(self) -> bool:
        """Reads the headers (by the deadline); then only writes can stall, for CLIENT_TIMEOUT at most."""
        parsed = super().parse_request()
        self.deadline = None
        self.connection.settimeout(CLIENT_TIMEOUT)
        return parsed

    def security_headers(self) -> list[tuple[str, str]]:
        return [("Content-Security-Policy", self.view.policy), ("X-Content-Type-Options", "nosniff"),
                ("Referrer-Policy", "no-referrer"), ("X-Frame-Options", "DENY")]  # fmt: skip

    def end_headers(self) -> None:
        for key, value in self.security_headers():
            self.send_header(key, value)
        super().end_headers()

    def handle(self) -> None:
        """A request that arrives whole at once (every browser, curl, Prometheus) is answered from its own slots;
        one still arriving after WHOLE_WAIT needs a slow sender's place, few and shared fairly between addresses,
        so half-sent requests (slowloris), with or without the token, never lock the others out."""
        view, address = self.view, self.client_address[0]
        if self._arrived_whole():
            if view.in_progress.acquire(blocking=False):
                self.request_place = "whole"
        elif (deadline := view.take_slow_place(address)) is not None:
            self.request_place, self.deadline = "slow", min(self.deadline or deadline, deadline)
        if self.request_place is None:
            view.counters["refused_busy"] += 1
            headers = "".join(f"{key}: {value}\r\n" for key, value in self.security_headers())
            with contextlib.suppress(OSError):
                self.request.sendall(
                    b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\nRetry-After: 5\r\n"
                    + headers.encode() + b"Connection: close\r\n\r\ntoo many clients\n"
                )  # fmt: skip
            return
        try:
            super().handle()
        except (ConnectionError, TimeoutError):
            pass  # the client went away or stalled: its problem, not the run's
        finally:
            self.release_request_place()
            if self.holds_viewer_slot:
                view.slots.release(address)

    def release_request_place(self) -> None:
        place, self.request_place = self.request_place, None
        if place == "whole":
            self.view.in_progress.release()
        elif place == "slow":
            self.view.slow_senders.release(self.client_address[0])

    def _arrived_whole(self) -> bool:
        """Whether the request line and headers are all here within WHOLE_WAIT, looked at without reading them."""
        connection, deadline, seen = self.connection, time.monotonic() + WHOLE_WAIT, -1
        while time.monotonic() < deadline:
            if not select.select([connection], [], [], max(0.0, deadline - time.monotonic()))[0]:
                return False
            try:
                head = connection.recv(HEAD_MAX, socket.MSG_PEEK)
            except OSError:
                return True  # the reader meets the error at once and ends: no place to keep
            if not head or b"\r\n\r\n" in head or b"\n\n" in head:
                return True  # closed (ends at once), or a whole head
            if len(head) >= HEAD_MAX:
                return False
            if len(head) == seen:
                time.sleep(0.02)  # readable but nothing new: wait for more without spinning
            seen = len(head)
        return False

    def _not_allowed(self) -> None:
        self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
        self.send_header("Allow", "GET, HEAD")
        self._body(b"read-only: GET and HEAD only\n", "text/plain")

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        view = self.view
        view.counters["requests"] += 1
        if not view.hosts.allows(self.headers.get("Host")):  # DNS rebinding: a foreign name gets no data
            view.counters["refused_host"] += 1
            self.send_response(HTTPStatus.MISDIRECTED_REQUEST)
            self._body(b"unknown Host; start with --serve-allow-host NAME to allow it\n", "text/plain")
            return
        url = urlsplit(self.path)
        route = self.routes.get(url.path)
        if route is None:
            self.send_response(HTTPStatus.NOT_FOUND)
            self._body(b"not found\n", "text/plain")
            return
        if url.path not in self.open_routes and not self._authorised(url.query):
            view.counters["refused_token"] += 1
            self.send_response(HTTPStatus.UNAUTHORIZED)
            self.send_header("WWW-Authenticate", "Bearer")
            self._body(b"a token is required: ?token=... or Authorization: Bearer ...\n", "text/plain")
            return
        getattr(self, route)()

    def _authorised(self, query: str) -> bool:
        expected = self.view.token
        if not expected:
            return True
        given = parse_qs(query).get("token", [""])[0].encode()  # %-decoded as UTF-8
        scheme, _, credentials = self.headers.get("Authorization", "").strip().partition(" ")
        if scheme.lower() == "bearer":  # schemes are case-insensitive (RFC 9110)
            # http.server decodes header bytes as Latin-1: back to the bytes sent, which a client sends as UTF-8
            given = credentials.strip().encode("latin-1", errors="replace")
        return hmac.compare_digest(given, expected.encode())

    def _body(self, body: bytes, content_type: str) -> None:
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _metrics(self) -> None:
        self.send_response(HTTPStatus.OK)
        self._body(self.view.metrics_text().encode(), metrics.CONTENT_TYPE)


class MetricsHandler(GuardedHandler):
    routes: ClassVar[dict[str, str]] = {"/metrics": "_metrics"}


class ViewHandler(GuardedHandler):
    routes: ClassVar[dict[str, str]] = {
        "/": "_page",
        "/stream.mjpg": "_stream",
        "/events": "_events",
        "/api/summary": "_summary",
        "/api/snapshot.jpg": "_snapshot",
        "/metrics": "_metrics",
        "/healthz": "_health",
    }
    open_routes: ClassVar[set[str]] = {"/healthz"}  # a liveness probe reveals nothing, so it needs no token

    def _page(self) -> None:
        self.send_response(HTTPStatus.OK)
        self._body(self.view.page, "text/html; charset=utf-8")

    def _summary(self) -> None:
        self.send_response(HTTPStatus.OK)
        self._body(json.dumps(self.view.summary()).encode(), "application/json")

    def _snapshot(self) -> None:
        jpeg = self.view.snapshot.latest()
        if jpeg is None:
            self.send_response(HTTPStatus.NOT_FOUND)
            self._body(b"no snapshot yet: one comes when a face appears or changes label\n", "text/plain")
            return
        self.send_response(HTTPStatus.OK)
        self._body(jpeg, "image/jpeg")

    def _health(self) -> None:
        self.send_response(HTTPStatus.OK)
        self._body(json.dumps({"status": "ok", "frames": self.view.summary().get("frames", 0)}).encode(),
                   "application/json")  # fmt: skip

    def _open_stream(self, content_type: str) -> bool:
        """Headers for a stream; False for HEAD, or when every viewer slot, or this address's share, is taken (then
        a 503 is sent)."""
        if self.command != "HEAD":
            if self.view.slots.take(self.client_address[0]) is None:
                self.view.counters["refused_busy"] += 1
                self.send_response(HTTPStatus.SERVICE_UNAVAILABLE)
                self.send_header("Retry-After", "5")
                self._body(b"too many viewers\n", "text/plain")
                return False
            self.holds_viewer_slot = True  # a viewer now: it no longer counts as a request in progress
            self.release_request_place()
            # A small send buffer, fixed: a client that stops reading fills it soon, and the next write then
            # stalls and times out after CLIENT_TIMEOUT, freeing the slot.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        return self.command != "HEAD"

    def _stream(self) -> None:
        if not self._open_stream(f"multipart/x-mixed-replace; boundary={BOUNDARY}"):
            return
        view = self.view
        with view.lock:
            view.viewers += 1
        try:
            number = 0
            while not view.closing.is_set():
                newest = view.latest.newer_than(number, timeout=1.0)
                if newest is None:
                    continue
                number, jpeg = newest
                self.wfile.write(
                    f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                    + jpeg + b"\r\n"
                )  # fmt: skip
        finally:
            with view.lock:
                view.viewers -= 1

    def _events(self) -> None:
        if not self._open_stream("text/event-stream"):
            return
        view = self.view
        records: queue.Queue = queue.Queue(maxsize=EVENTS_BUFFER)
        with view.lock:
            view.event_queues = (*view.event_queues, records)
        try:
            self.wfile.write(f"event: hello\ndata: {json.dumps({'labels': view.labels})}\n\n".encode())
            next_stats = 0.0
            while not view.closing.is_set():
                if time.monotonic() >= next_stats:
                    summary = view.summary()
                    stats = {key: summary.get(key) for key in ("fps", "frames", "faces", "stages", "source", "mood")}
                    self.wfile.write(f"event: stats\ndata: {json.dumps(stats)}\n\n".encode())
                    next_stats = time.monotonic() + STATS_EVERY
                try:
                    record = records.get(timeout=STATS_EVERY / 2)
                except queue.Empty:
                    self.wfile.write(b": keep-alive\n\n")
                    continue
                self.wfile.write(f"data: {json.dumps(record)}\n\n".encode())
        finally:
            with view.lock:
                view.event_queues = tuple(other for other in view.event_queues if other is not records)


def token_from(option: str | None, environ: Mapping[str, str]) -> str | None:
    """--serve-token, else $FER_EDGE_SERVE_TOKEN or the file $FER_EDGE_SERVE_TOKEN_FILE names (which keep the token
    out of `ps`, the unit file and `podman inspect`)."""
    return option or from_environment(TOKEN_ENV, environ)


def announce(view: WebView, host: str) -> None:
    if isinstance(view, MetricsServer):
        print(f"metrics on {view.url} (Prometheus)", file=sys.stderr)
    else:
        print(f"serving {view.url} (live view; /stream.mjpg, /events, /api/summary, /metrics, /healthz)",
              file=sys.stderr)  # fmt: skip
    warning = warn_if_exposed(host, view.token, view.option)
    if warning:
        print(f"edge: {warning}", file=sys.stderr)
