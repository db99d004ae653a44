"""The one list of face detectors: `--detector`'s choices, `Pipeline(detector=...)` and the benchmarks read it.

Each name maps to "module:Class", imported only when that detector is made, so YuNet's module (and its model
check) costs nothing to a Haar run. A new detector is one module in edge/detectors/ and one line here.
"""

from __future__ import annotations

import importlib

from edge.common.errors import UserError
from edge.detectors.base import Detector, DetectorConfig

DETECTORS: dict[str, str] = {
    "haar": "edge.detectors.haar:HaarDetector",
    "yunet": "edge.detectors.yunet:YuNetDetector",
}
NAMES = tuple(DETECTORS)


def make_detector(config: DetectorConfig | None = None) -> Detector:
    """The detector `config.name` names, its module imported now."""
    config = config or DetectorConfig()
    if config.name not in DETECTORS:
        raise UserError(f"--detector {config.name!r}: choose one of {', '.join(NAMES)}")
    module, _, name = DETECTORS[config.name].partition(":")
    return getattr(importlib.import_module(module), name)(config)
