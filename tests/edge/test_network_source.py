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
        ("clips/a:b@c.mp4", "clips/a:***@c.mp4"),  # user:pass@ is hidden whatever precedes it
        ("clips/x@2x.mp4", "clips/x@2x.mp4"),  # no password: as it was
        # The hostile run of 2026-12-04 (D10-D12): real camera and broker URL forms.
        ("rtsp://admin:Pa#SECRET@10.0.0.5:554/stream1", "rtsp://admin:***@10.0.0.5:554/stream1"),  # Tapo, Reolink
        ("http://viewer:pa/SECRET@cam:8080/video.mjpg", "http://viewer:***@cam:8080/video.mjpg"),
        ("http://viewer:pa?SECRET@cam/video.mjpg", "http://viewer:***@cam/video.mjpg"),
        ("mqtt://fer:Pa/SECRET@127.0.0.1", "mqtt://fer:***@127.0.0.1"),
        ("rtsp://u:p@[fe80::1]:554/x", "rtsp://u:***@[fe80::1]:554/x"),
        (
            "rtsp://10.0.0.5:554/user=admin_password=SECRET_channel=1_stream=0.sdp",  # XMEye DVRs
            "rtsp://10.0.0.5:554/user=admin_password=***_channel=1_stream=0.sdp",
        ),
        (
            "rtsp://10.0.0.5/user=admin&password=SECRET&channel=1&stream=0.sdp?",
            "rtsp://10.0.0.5/user=admin&password=***&channel=1&stream=0.sdp?",
        ),
        ("http://cam/video.mjpg?api_key=SECRET", "http://cam/video.mjpg?api_key=***"),
        ("http://cam/x?apiKey=SECRET&fps=5", "http://cam/x?apiKey=***&fps=5"),
        (
            "http://cam/cgi-bin/CGIProxy.fcgi?cmd=snapPicture2&usr=admin&pwd=SECRET",  # Foscam
            "http://cam/cgi-bin/CGIProxy.fcgi?cmd=snapPicture2&usr=admin&pwd=***",
        ),
        (
            "http://cam/videostream.cgi?loginuse=admin&loginpas=SECRET",
            "http://cam/videostream.cgi?loginuse=admin&loginpas=***",
        ),
        ("http://cam/stream?user=admin&psw=SECRET", "http://cam/stream?user=admin&psw=***"),
        ("rtsp://cam/h264?username=admin&password=SECRET", "rtsp://cam/h264?username=admin&password=***"),
        ("https://cam/s.mjpg;jsessionid=1;access_token=SECRET", "https://cam/s.mjpg;jsessionid=***;access_token=***"),
        ("http://cam/x#token=SECRET", "http://cam/x#token=***"),
        ("http://cam/path?email=a@b.com", "http://cam/path?email=a@b.com"),  # no password: as it was
        # The hostile run of 2026-12-07 (E5, E6): a later `@` that a host follows wins; names holding a secret word;
        # session and JWT names; a token as a path segment; a mistyped or missing scheme.
        ("rtsp://admin:P@ss/w0rdSECRET@127.0.0.1:1/x", "rtsp://admin:***@127.0.0.1:1/x"),
        ("rtsp://admin:a@b/SECRET@cam:554/Streaming/Channels/101", "rtsp://admin:***@cam:554/Streaming/Channels/101"),
        ("http://cam/v.cgi?user=admin&password1=SECRET", "http://cam/v.cgi?user=admin&password1=***"),
        ("http://cam/v.cgi?pass_word=SECRET&passw=SECRET", "http://cam/v.cgi?pass_word=***&passw=***"),
        ("http://cam/v.cgi?api%5Fkey=SECRET", "http://cam/v.cgi?api%5Fkey=***"),
        ("http://cam/live?session=SECRET&sessionid=SECRET", "http://cam/live?session=***&sessionid=***"),
        ("http://cam/stream;jsessionid=SECRET", "http://cam/stream;jsessionid=***"),
        ("http://cam/stream?jwt=SECRET", "http://cam/stream?jwt=***"),
        ("http://cam/live/SECRETTOKEN123/stream.m3u8", "http://cam/live/***/stream.m3u8"),
        ("http://cam/live/eyJhbGciOi.eyJzdWIi.c2lnbmF0dXJl/s.mjpg", "http://cam/live/***/s.mjpg"),
        ("rtsp://cam:554/h264Preview_01_main", "rtsp://cam:554/h264Preview_01_main"),  # a name, not a token
        ("rtsp:/admin:SECRET@127.0.0.1:1/x", "rtsp:/admin:***@127.0.0.1:1/x"),
        ("rtsp//admin:SECRET@cam/x", "rtsp//admin:***@cam/x"),
        ("admin:SECRET@cam:554/stream", "admin:***@cam:554/stream"),
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
