"""A real RTSP server for the network-camera tests: `/usr/bin/python3 tests/rtsp_server.py PORT FOLDER [PATH]`.

GStreamer's gst-rtsp-server (python3-gi, gir1.2-gst-rtsp-server-1.0) on 127.0.0.1:PORT serves the JPEGs
FOLDER/frame000.jpg, frame001.jpg, ... in a loop at 10 frames a second as RTP/JPEG at rtsp://127.0.0.1:PORT/PATH
(PATH default: x). It prints `ready` once listening, and runs until killed. It runs under the system Python,
which has gi; the test venv does not."""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    port, folder = sys.argv[1], sys.argv[2]
    path = sys.argv[3] if len(sys.argv) > 3 else "x"
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f"( multifilesrc location={folder}/frame%03d.jpg loop=true caps=image/jpeg,framerate=10/1"
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
    main()
