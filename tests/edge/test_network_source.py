"""The pieces of a network source that need no server (URL redaction, FFmpeg options, liveness)."""

from __future__ import annotations

import pytest

from edge.cli import detects_async
from edge.common.urls import redact_url
from edge.sources.base import is_live
from edge.sources.network import capture_options


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rtsp://user:secret@10.0.0.5:554/stream1", "rtsp://user:***@10.0.0.5:554/stream1"),
        ("rtsps://user:p@ss@cam.local/x", "rtsps://user:***@cam.local/x"),  # an unescaped @ in the password
        ("http://admin@cam/x", "http://admin@cam/x"),  # no password: nothing to hide
        ("https://cam/stream.mjpg?token=abc&fps=5", "https://cam/stream.mjpg?token=***&fps=5"),
        ("rtsp://u:pw@h", "rtsp://u:***@h"),
        ("demo", "demo"),
        ("clips/a:b@c.mp4", "clips/a:b@c.mp4"),
    ],
)
def test_redact_url_hides_passwords_and_tokens(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_rtsp_transport_joins_the_users_ffmpeg_options() -> None:
    assert capture_options("rtsp://h/x", "tcp", None) == "rtsp_transport;tcp"
    assert capture_options("RTSP://h/x", "udp", "stimeout;100") == "stimeout;100|rtsp_transport;udp"
    assert capture_options("rtsp://h/x", "tcp", "rtsp_transport;udp") == "rtsp_transport;udp"  # theirs wins
    assert capture_options("http://h/x", "tcp", None) is None


@pytest.mark.parametrize("spec", ["rtsp://h/x", "rtsps://h/x", "http://h/stream.mjpg", "HTTPS://h/x"])
def test_network_cameras_are_live_and_detect_asynchronously(spec: str) -> None:
    assert is_live(spec)
    assert detects_async("auto", spec)
    assert not detects_async("off", spec)
