"""The one list of face detectors: `--detector`'s choices, `Pipeline(detector=...)` and the benchmarks read it.

Each name maps to "module:Class", imported only when that detector is made, so YuNet's module (and its model
check) costs nothing to a Haar run. A new detector is one module in edge/detectors/ and one line here. `auto`
(the default) is YuNet where this OpenCV runs it (>= 4.8 with FaceDetectorYN), else Haar with a one-line note.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import replace

from edge.common.errors import UserError
from edge.detectors.base import Detector, DetectorConfig

DETECTORS: dict[str, str] = {
    "haar": "edge.detectors.haar:HaarDetector",
    "yunet": "edge.detectors.yunet:YuNetDetector",
}
AUTO = "auto"
NAMES = (AUTO, *DETECTORS)
_noted: list[str] = []  # the note about auto's fallback, printed once a process


def resolve(name: str) -> str:
    """The detector a name means: `auto` is yunet where this OpenCV runs it, else haar (saying so on stderr)."""
    if name != AUTO:
        return name
    from edge.detectors.yunet import check_opencv

    try:
        check_opencv()
    except UserError as exc:
        if not _noted:
            reason = str(exc).split(": ", 1)[0].removeprefix("--detector yunet ")
            _noted.append(reason)
            print(f"note: --detector auto uses haar: YuNet {reason}; --detector haar hides this", file=sys.stderr)
        return "haar"
    return "yunet"


def make_detector(config: DetectorConfig | None = None) -> Detector:
    """The detector `config.name` names (`auto` resolved), its module imported now."""
    config = config or DetectorConfig()
    if config.name not in NAMES:
        raise UserError(f"--detector {config.name!r}: choose one of {', '.join(NAMES)}")
    if config.name == AUTO:
        config = replace(config, name=resolve(config.name))
    module, _, name = DETECTORS[config.name].partition(":")
    return getattr(importlib.import_module(module), name)(config)
