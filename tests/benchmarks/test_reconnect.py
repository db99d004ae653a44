"""The reconnect benchmark against a real RTSP server (GStreamer's, on loopback): each outage is timed from the
server listening again to the next frame, and the verdict takes the slowest."""

from __future__ import annotations

import pytest

from benchmarks.reconnect import GIVE_UP_S, reconnect_times
from benchmarks.report import TARGET_RECONNECT_S, verdicts
from benchmarks.rtsp_server import rtsp_server_missing

MISSING = rtsp_server_missing()


@pytest.mark.slow
@pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
def test_each_outage_is_timed_until_frames_come_again() -> None:
    result = reconnect_times((0.5, 2.0))
    assert [r["away_s"] for r in result["rounds"]] == [0.5, 2.0]
    assert all(0 < r["resumed_s"] < GIVE_UP_S for r in result["rounds"])  # frames came back each time
    assert result["worst_s"] == max(r["resumed_s"] for r in result["rounds"])
    assert result["reconnects"] == 2  # the source counted both drops


@pytest.mark.parametrize(("worst", "met"), [(TARGET_RECONNECT_S - 0.1, True), (TARGET_RECONNECT_S + 0.1, False)])
def test_the_slowest_round_decides_the_verdict(worst: float, met: bool) -> None:
    rounds = [{"away_s": 1.0, "resumed_s": 0.5}, {"away_s": 8.0, "resumed_s": worst}]
    [verdict] = verdicts({"reconnect": {"rounds": rounds, "worst_s": worst}})
    assert verdict["met"] is met and verdict["value"] == f"{worst:.2f} s" and "2 outages" in verdict["target"]
