"""Outputs under the hostile run of 2026-12-04: a refused run loses nothing, snapshots keep the newest files and
never collide with the other outputs or the input.

Each test runs the real `python -m edge` on real files, as a user would.
"""

from __future__ import annotations

from pathlib import Path

from tests.e2e.test_edge_stops import edge, one_error_line


def test_a_refused_run_leaves_an_existing_jsonl_as_it_was(tmp_path: Path) -> None:
    """D2: a check that fails after the JSONL sink is made (--snapshots onto a file, --show without a display) used
    to empty the old results; now they are kept, and a missing JSONL is not created."""
    results, not_a_folder, missing = tmp_path / "results.jsonl", tmp_path / "notadir", tmp_path / "new.jsonl"
    old = '{"frame": 1}\n{"frame": 2}\n'
    results.write_text(old)
    not_a_folder.touch()
    result = edge("--source", "demo", "--jsonl", str(results), "--snapshots", str(not_a_folder))
    assert "is a file; snapshots need a folder" in one_error_line(result)
    assert results.read_text() == old
    result = edge("--source", "demo", "--jsonl", str(missing), "--snapshots", str(not_a_folder))
    one_error_line(result)
    assert not missing.exists()
    ok = edge("--source", "demo", "--demo-frames", "2", "--quiet", "--jsonl", str(results))  # a real run starts anew
    assert ok.returncode == 0, ok.stderr
    assert [line.startswith('{"source": "demo"') for line in results.read_text().splitlines()] == [True, True]
