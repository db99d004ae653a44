"""Prometheus metrics: `/metrics` on the web view and `--metrics [HOST:]PORT` alone, read by
prometheus-client's own parser, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from edge.contract import Contract
from edge.model_folder import DEFAULT_MODEL_DIR
from edge.outputs.metrics import render
from tests.conftest import error_lines, run_module
from tests.edge.test_serve import start
from tests.edge.test_web_security import HOSTILE, hostile_model
from tests.live import EdgeProcess, free_port, get, wait_for

parser = pytest.importorskip("prometheus_client.parser", reason="prometheus-client not installed (the dev extra)")


def scrape(url: str, headers: dict[str, str] | None = None) -> dict:
    """{family name: family} of one scrape, parsed by the reference parser."""
    status, response_headers, body = get(url, headers=headers)
    assert status == 200, body
    assert response_headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {family.name: family for family in parser.text_string_to_metric_families(body.decode())}


def value(families: dict, name: str, **labels: str) -> float:
    family = families[name]
    [sample] = [s for s in family.samples if s.name == name + "_total" or s.name == name if s.labels == labels]
    return sample.value


def test_web_view_metrics_parse_and_follow_the_run() -> None:
    edge, base = start()
    try:
        wait_for(lambda: value(scrape(base + "metrics"), "fer_edge_frames") > 5, 60, "frames")
        families = scrape(base + "metrics")
        assert families["fer_edge_frames"].type == "counter" and families["fer_edge_fps"].type == "gauge"
        labels = Contract.load(DEFAULT_MODEL_DIR).labels
        per_label = {s.labels["label"]: s.value for s in families["fer_edge_label_faces"].samples}
        assert set(per_label) == set(labels) and per_label["Happy"] > 0  # every label, zero or not
        assert value(families, "fer_edge_faces") == sum(per_label.values())
        for name in ("fer_edge_bad_frames", "fer_edge_source_reconnects", "fer_edge_mqtt_dropped"):
            assert value(families, name) == 0  # present before anything goes wrong (0 when the summary lacks it)
        histogram = families["fer_edge_stage_seconds"]
        assert histogram.type == "histogram"
        for stage in ("detect", "preprocess", "infer", "total"):
            buckets = [s for s in histogram.samples if s.name.endswith("_bucket") and s.labels["stage"] == stage]
            counts = [s.value for s in buckets]
            assert counts == sorted(counts) and buckets[-1].labels["le"] == "+Inf" and counts[-1] > 0, stage
            [count] = [s.value for s in histogram.samples if s.name.endswith("_count") and s.labels == {"stage": stage}]
            assert count == counts[-1]
        assert value(families, "fer_edge_viewers") == 0
        with socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1].strip("/"))), timeout=10) as viewer:
            viewer.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert viewer.recv(12).startswith(b"HTTP/1.0 200")
            wait_for(lambda: value(scrape(base + "metrics"), "fer_edge_viewers") == 1, 30, "the viewer counted")
    finally:
        edge.stop()


def test_metrics_alone_serve_only_metrics_with_the_same_guards() -> None:
    port = free_port()
    token = "m3trics-token"
    edge = EdgeProcess("--source", "demo", "--loop", "--quiet", "--metrics", str(port),
                       env={"FER_EDGE_SERVE_TOKEN": token})  # fmt: skip
    base = f"http://127.0.0.1:{port}/"
    auth = {"Authorization": f"bearer {token}"}
    try:
        wait_for(lambda: edge.alive() and _answers(base + "metrics", auth), 60, "the metrics server")
        wait_for(lambda: value(scrape(base + "metrics", auth), "fer_edge_frames") > 0, 60, "frames")
        assert "fer_edge_stage_seconds" in scrape(base + "metrics", auth)
        assert get(base + "metrics")[0] == 401
        for path in ("", "api/summary", "stream.mjpg", "events", "healthz"):
            assert get(base + path, headers=auth)[0] == 404, path  # /metrics alone
        assert get(base + "metrics", method="POST", headers=auth)[0] == 405
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.sendall(f"GET /metrics?token={token} HTTP/1.1\r\nHost: rebind.example\r\n\r\n".encode())
            answer = client.recv(65536)
        assert answer.startswith(b"HTTP/1.0 421") and b"fer_edge" not in answer
    finally:
        code, out, err = edge.stop()
    assert code == 0 and f"metrics on {base}metrics" in err and token not in out + err
    assert "metrics: url" in out  # named in the summary's outputs


def _answers(url: str, headers: dict[str, str]) -> bool:
    try:
        return get(url, headers=headers, timeout=2)[0] == 200
    except OSError:
        return False


def test_hostile_labels_are_escaped_in_metrics(tmp_path: Path) -> None:
    edge, base = start("--model", str(hostile_model(tmp_path / "model")))
    try:
        families = wait_for(lambda: scrape(base + "metrics"), 30, "a scrape")
        assert {s.labels["label"] for s in families["fer_edge_label_faces"].samples} == set(HOSTILE)
    finally:
        edge.stop()


def test_metrics_and_serve_together_are_refused() -> None:
    result = run_module("edge", "--serve", str(free_port()), "--metrics", str(free_port()), timeout=120)
    assert result.returncode == 2
    assert error_lines(result.stderr) == [
        "edge: error: --metrics: the web view (--serve) already serves /metrics; give one of them"
    ]


def test_a_control_character_in_a_label_value_cannot_break_a_scrape() -> None:
    """D31 (hostile run 2026-12-04): a CR in a label ended the sample for a parser and lost the whole scrape. The
    contract now refuses such labels; escape_label still keeps the page parseable whatever it is given."""
    labels = ["Sad\r\x1b[2J", 'Quote" \\ New\nline', "Happy"]
    families = {f.name: f for f in parser.text_string_to_metric_families(render({"labels": {"Happy": 2}}, labels))}
    assert len(families["fer_edge_label_faces"].samples) == 3
