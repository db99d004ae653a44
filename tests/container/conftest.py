"""The container image, built once per test session by `make image` (the local base first where it is missing),
and containers of it that each test starts and always removes. Every test here skips, with the reason, where
podman cannot build or run it (no podman or runc, no root for the base, a host that runs no container)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.container import build_image, podman, podman_missing

IMAGE = "localhost/fer-edge:test"  # not the user's :latest


@pytest.fixture(scope="session")
def image() -> str:
    reason = podman_missing()
    if reason:
        pytest.skip(reason)
    build_image(IMAGE)
    return IMAGE


class Container:
    """One detached container of the image: `podman run -d --name NAME ARGS IMAGE OPTIONS`."""

    def __init__(self, image: str, *options: str, args: tuple[str, ...] = ()) -> None:
        self.name = f"fer-edge-test-{uuid.uuid4().hex[:12]}"
        podman("run", "-d", "--name", self.name, *args, image, *options)

    def inspect(self) -> dict:
        return json.loads(podman("inspect", self.name).stdout)[0]

    def logs(self) -> str:
        result = podman("logs", self.name)
        return result.stdout + result.stderr

    def stop(self) -> int:
        """`podman stop` (SIGTERM, SIGKILL after the stop timeout); the exit code (137 if it had to be killed)."""
        podman("stop", self.name, timeout=120)
        return self.inspect()["State"]["ExitCode"]

    def remove(self) -> None:
        podman("rm", "--force", self.name, check=False)


@pytest.fixture
def containers() -> Iterator[list[Container]]:
    """Containers a test starts go in this list; each is removed after the test, whatever happened."""
    started: list[Container] = []
    yield started
    for container in started:
        container.remove()


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A host folder for the image's /data volume (mounted with :U, so the image's user owns it)."""
    folder = tmp_path / "data"
    folder.mkdir()
    return folder
