"""`--serve [HOST:]PORT`: watch a headless device from a browser (live annotated video, faces, FPS).

Built on the standard library's ThreadingHTTPServer (as picamera2's mjpeg_server.py example is), so the device
needs nothing more. The frame loop only hands over references: annotating and JPEG-encoding happen on one
encoder thread, only while someone watches the video, at most `max_fps` times a second, and always on the
newest frame. Every client has its own thread and a bounded buffer, so a slow or stalled viewer misses frames
or events; it never slows the pipeline or the other viewers.

Routes: `/` (the page), `/stream.mjpg`, `/events` (Server-Sent Events: each frame's JSONL record, plus a
`stats` event a second), `/api/summary` (the run summary so far), `/api/snapshot.jpg` (the face of the latest
event: appeared or changed label; 404 before the first), `/healthz`. GET and HEAD only; nothing is
read from the file system after start-up. Optional token (`?token=` or `Authorization: Bearer`).
"""

from __future__ import annotations

import contextlib
import errno
import hmac
import json
import queue
import socket
import sys
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import cv2
import numpy as np

from edge.common.errors import UserError
from edge.common.timing import StageTimes
from edge.frames import Face
from edge.outputs.base import Result, Sink, annotate
from edge.outputs.snapshots import LatestSnapshot

PAGE = Path(__file__).resolve().parents[1] / "assets" / "webview.html"
TOKEN_ENV = "FER_EDGE_SERVE_TOKEN"
BOUNDARY = "fer-edge-frame"
JPEG_QUALITY = 80
EVENTS_BUFFER = 32  # records a slow /events client may fall behind before it misses some
STATS_EVERY = 1.0  # seconds between `stats` events
CLIENT_TIMEOUT = 10.0  # seconds a client may stall a write before its connection is dropped
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
MAX_FPS = 10.0  # video frames encoded a second, at most (--serve-fps)
MAX_CLIENTS = 8  # concurrent connections (--serve-max-clients)


def warn_if_exposed(host: str, token: str | None) -> str | None:
    """Binding beyond localhost without a token is allowed (a home network, a phone), but said out loud."""
    if host in LOCAL_HOSTS or token:
        return None
    return (
        f"warning: --serve on {host} without a token: anyone who can reach this device sees the camera;"
        f" set --serve-token or {TOKEN_ENV}"
    )


def _server_class(host: str) -> type[ThreadingHTTPServer]:
    """The standard server speaks IPv4 only; an IPv6 host (`[::]:8000`, `[::1]:8000`) needs its own family."""
    if ":" not in host:
        return ThreadingHTTPServer
    return type("ThreadingHTTPServer6", (ThreadingHTTPServer,), {"address_family": socket.AF_INET6})


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

    def __init__(
        self,
        host: str,
        port: int,
        labels: list[str],
        max_fps: float = MAX_FPS,
        max_clients: int = MAX_CLIENTS,
        token: str | None = None,
    ) -> None:
        self.labels, self.max_fps, self.token = labels, max_fps, token or None
        self.page = PAGE.read_text(encoding="utf-8").replace("/*LABELS*/[]", json.dumps(labels)).encode("utf-8")
        self.slots = threading.BoundedSemaphore(max_clients)
        self.lock = threading.Lock()
        self.viewers = 0  # clients on /stream.mjpg: frames are only encoded while this is > 0
        self.event_queues: tuple[queue.Queue, ...] = ()  # replaced, never mutated: frame() reads it without the lock
        self.pending: tuple[np.ndarray, list[Face]] | None = None  # the 1-slot hand-over to the encoder
        self.wake = threading.Event()
        self.latest = LatestJpeg()
        self.snapshot = LatestSnapshot()  # /api/snapshot.jpg
        self.encode_times = StageTimes()  # annotate + JPEG, on the encoder thread: what watching costs the CPU
        self.closing = threading.Event()
        self.summary: Callable[[], dict] = dict
        self.frames, self.started = 0, time.monotonic()
        self.counters = {"requests": 0, "refused_busy": 0, "refused_token": 0, "frames_encoded": 0,
                         "events_missed": 0}  # fmt: skip
        try:
            handler = type("Handler", (ViewHandler,), {"view": self})  # the request handler, bound to this view
            self.server = _server_class(host)((host, port), handler)
        except OSError as exc:
            reason = "the port is in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
            raise UserError(f"--serve {host}:{port}: cannot listen ({reason})") from None
        self.server.daemon_threads = True
        self.address = self.server.server_address[:2]
        self.threads = [
            threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True),
            threading.Thread(target=self._encode_loop, daemon=True),
        ]

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{f'[{host}]' if ':' in host else host}:{port}/"

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
        return {"url": self.url, **self.counters, "encode_ms_mean": encode.get("mean_ms", 0.0)}

    def close(self) -> None:
        self.closing.set()
        self.wake.set()
        self.latest.close()
        if self.threads[0].is_alive():  # shutdown() would wait forever for a server that never started
            self.server.shutdown()
        self.server.server_close()

    # The encoder thread: newest frame only, at most max_fps a second, only while someone watches.

    def _encode_loop(self) -> None:
        interval = 1.0 / self.max_fps
        while not self.closing.is_set():
            self.wake.wait()
            self.wake.clear()
            pending, self.pending = self.pending, None
            if pending is None or not self.viewers:
                continue
            began = time.monotonic()
            image, faces = pending
            fps = self.frames / max(began - self.started, 1e-9)  # the run's rate so far, as the overlay shows it
            with self.encode_times.time("encode"):
                ok, jpeg = cv2.imencode(".jpg", annotate(image, faces, fps), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if ok:
                self.latest.publish(jpeg.tobytes())
                self.counters["frames_encoded"] += 1
            self.closing.wait(max(0.0, interval - (time.monotonic() - began)))


class ViewHandler(BaseHTTPRequestHandler):
    """GET/HEAD on six routes; every other method is 405, every unknown path 404."""

    view: WebView
    server_version = "fer-edge"
    timeout = CLIENT_TIMEOUT
    routes: ClassVar[dict[str, str]] = {
        "/": "_page",
        "/stream.mjpg": "_stream",
        "/events": "_events",
        "/api/summary": "_summary",
        "/api/snapshot.jpg": "_snapshot",
        "/healthz": "_health",
    }
    open_routes: ClassVar[set[str]] = {"/healthz"}  # a liveness probe reveals nothing, so it needs no token

    def __getattr__(self, name: str) -> object:
        if name.startswith("do_"):  # POST, PUT, DELETE, ...: this server is read-only
            return self._not_allowed
        raise AttributeError(name)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: a service's journal should not get a line per request."""

    def handle(self) -> None:
        if not self.view.slots.acquire(blocking=False):
            self.view.counters["refused_busy"] += 1
            with contextlib.suppress(OSError):
                self.rfile.readline(65537)
                self.request.sendall(
                    b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\nRetry-After: 5\r\n"
                    b"Connection: close\r\n\r\ntoo many clients\n"
                )
            return
        try:
            super().handle()
        except (ConnectionError, TimeoutError):
            pass  # the client went away or stalled: its problem, not the run's
        finally:
            self.view.slots.release()

    def _not_allowed(self) -> None:
        self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
        self.send_header("Allow", "GET, HEAD")
        self._body(b"read-only: GET and HEAD only\n", "text/plain")

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        self.view.counters["requests"] += 1
        url = urlsplit(self.path)
        route = self.routes.get(url.path)
        if route is None:
            self.send_response(HTTPStatus.NOT_FOUND)
            self._body(b"not found\n", "text/plain")
            return
        if url.path not in self.open_routes and not self._authorised(url.query):
            self.view.counters["refused_token"] += 1
            self.send_response(HTTPStatus.UNAUTHORIZED)
            self.send_header("WWW-Authenticate", "Bearer")
            self._body(b"a token is required: ?token=... or Authorization: Bearer ...\n", "text/plain")
            return
        getattr(self, route)()

    def _authorised(self, query: str) -> bool:
        expected = self.view.token
        if not expected:
            return True
        given = parse_qs(query).get("token", [""])[0]
        header = self.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            given = header.removeprefix("Bearer ").strip()
        return hmac.compare_digest(given.encode(), expected.encode())

    def _body(self, body: bytes, content_type: str) -> None:
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

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
                    stats = {key: summary.get(key) for key in ("fps", "frames", "faces", "stages", "source")}
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


def token_from(option: str | None, environ: dict[str, str]) -> str | None:
    """--serve-token, else the environment (keeps the token out of `ps` and the unit file)."""
    return option or environ.get(TOKEN_ENV) or None


def announce(view: WebView, host: str) -> None:
    print(f"serving {view.url} (live view; /stream.mjpg, /events, /api/summary, /healthz)", file=sys.stderr)
    warning = warn_if_exposed(host, view.token)
    if warning:
        print(f"edge: {warning}", file=sys.stderr)
