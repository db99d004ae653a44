"""How soon a network camera streams again once its server is back: the RTSP reconnect benchmark.

A real RTSP server (`benchmarks.rtsp_server`) serves the demo clip on loopback; the edge's network source
(`edge.sources.network`, the one `--source rtsp://…` uses) reads it on a thread that stamps each frame. Each
round kills the server, keeps it away for a while, starts it again, and measures the seconds from the moment
it listens again to the first frame after. Outages of several lengths are measured because the reconnect
backoff is in a different phase after each: a short drop is retried within a second, a long one every
`RECONNECT_MAX_S`. The verdict takes the slowest round.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

from benchmarks.rtsp_server import RtspServer, write_clip
from edge.sources.base import WAITING
from edge.sources.network import RECONNECT_MAX_S, open_network

OUTAGES_S = (1.0, 3.0, 8.0)  # how long the server stays away in each round
FIRST_FRAMES = 5  # frames the camera must have delivered before the server is killed
GIVE_UP_S = 60.0  # a round whose stream never comes back is reported as this long (and fails the verdict)


class StampedFrames:
    """The source's frames read on a thread; `times` holds each frame's arrival (time.monotonic)."""

    def __init__(self, url: str) -> None:
        self.source = open_network(url)
        self.times: list[float] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for item in self.source:
            if item is not WAITING:
                self.times.append(time.monotonic())

    def flowing(self, count: int = FIRST_FRAMES, limit: float = GIVE_UP_S) -> None:
        """Wait for `count` more frames (the stream is up before it is dropped)."""
        wanted, deadline = len(self.times) + count, time.monotonic() + limit
        while len(self.times) < wanted:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the RTSP stream gave no {count} frames within {limit:g} s")
            time.sleep(0.02)

    def first_after(self, moment: float, limit: float = GIVE_UP_S) -> float | None:
        """The arrival of the first frame after `moment`, waiting up to `limit` seconds; None if none came."""
        deadline = moment + limit
        while time.monotonic() < deadline:
            later = [stamp for stamp in self.times if stamp > moment]
            if later:
                return later[0]
            time.sleep(0.02)
        return None

    def close(self) -> None:
        self.source.close()
        self.thread.join(timeout=10)


def reconnect_times(outages: tuple[float, ...] = OUTAGES_S, progress=None) -> dict:
    """Seconds from the server listening again to the next frame, for each outage length."""
    with tempfile.TemporaryDirectory(prefix="fer-edge-rtsp-") as folder:
        server = RtspServer(write_clip(Path(folder)))
        server.start()
        camera = None
        try:
            camera = StampedFrames(server.url)
            rounds = []
            for away in outages:
                camera.flowing()
                server.kill()
                time.sleep(away)
                server.start()
                back = time.monotonic()
                arrived = camera.first_after(back)
                rounds.append({"away_s": away, "resumed_s": round((arrived or back + GIVE_UP_S) - back, 2)})
                if progress is not None:
                    progress.update(1)
            reconnects = camera.source.reconnects
        finally:
            if camera is not None:
                camera.close()
            server.kill()
    return {"rounds": rounds, "worst_s": max(r["resumed_s"] for r in rounds), "reconnects": reconnects,
            "reconnect_max_s": RECONNECT_MAX_S}  # fmt: skip
