"""A viewer process of the viewer benchmark that cannot reach the server ends with one line."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT, subprocess_env
from tests.live import free_port


def test_a_viewer_that_cannot_connect_ends_with_one_line() -> None:
    """A closed port (loopback down): the process exits 2 with one line naming the URL and "Connection refused",
    no traceback from any viewer thread."""
    url = f"http://127.0.0.1:{free_port()}/"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.viewers", url], cwd=ROOT, env=subprocess_env(),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"benchmarks.viewers: error: {url}"), result.stderr
    assert "Connection refused" in lines[0]
