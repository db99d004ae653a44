"""A real RTSP server on loopback, for the reconnect benchmark and the network-camera tests.

GStreamer's gst-rtsp-server (Debian: python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good) serves
the JPEGs FOLDER/frame000.jpg, frame001.jpg, ... in a loop at 10 frames a second as RTP/JPEG at
rtsp://127.0.0.1:PORT/PATH. It needs the system Python, which has gi (a virtual environment does not), so
`/usr/bin/python3 benchmarks/rtsp_server.py PORT FOLDER [PATH]` is the server (it prints `ready` once
listening and runs until killed), and `RtspServer` starts and kills it from any Python.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

SYSTEM_PYTHON = Path("/usr/bin/python3")
FRAME_RATE = 10  # frames a second the server sends
PROBE = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"


def rtsp_server_missing() -> str | None:
    """Why the RTSP server cannot run here, or None when it can."""
    if not SYSTEM_PYTHON.exists():
        return f"{SYSTEM_PYTHON} not found"
    if subprocess.run([str(SYSTEM_PYTHON), "-c", PROBE], capture_output=True).returncode:
        return "gst-rtsp-server via python3-gi is not installed (apt: python3-gi gir1.2-gst-rtsp-server-1.0)"
    return None


def write_clip(folder: Path, frames: int = 20, size: tuple[int, int] = (320, 240)) -> Path:
    """The demo clip as the numbered JPEGs the server loops over."""
    import cv2

    from edge.sources.images import demo_frames

    folder.mkdir(parents=True, exist_ok=True)
    for index, image in enumerate(demo_frames(frames, size)):
        cv2.imwrite(str(folder / f"frame{index:03d}.jpg"), image)
    return folder


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RtspServer:
    """This file's server on 127.0.0.1:`port` (a free one by default), serving the JPEGs in `folder` at
    `url` (rtsp://127.0.0.1:PORT/`path`); it keeps its port across restarts, as a camera does."""

    def __init__(self, folder: Path, port: int | None = None, path: str = "x") -> None:
        self.folder, self.port, self.path = folder, port or free_port(), path
        self.url = f"rtsp://127.0.0.1:{self.port}/{path}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        """Start the server and return once it listens."""
        self.process = subprocess.Popen(
            [str(SYSTEM_PYTHON), __file__, str(self.port), str(self.folder), self.path],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        line = self.process.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"the RTSP server did not start: {line} {self.process.stderr.read()}")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def serve(port: str, folder: str, path: str = "x") -> None:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f"( multifilesrc location={folder}/frame%03d.jpg loop=true caps=image/jpeg,framerate={FRAME_RATE}/1"
        " ! jpegdec ! videoconvert ! jpegenc ! rtpjpegpay name=pay0 pt=26 )"
    )
    factory.set_shared(True)
    server.get_mount_points().add_factory(f"/{path}", factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{port}", file=sys.stderr, flush=True)
        sys.exit(1)
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    serve(*sys.argv[1:4])
