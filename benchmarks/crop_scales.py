"""Accuracy across crop scales: how much a model depends on how tightly the device crops a face.

The pipeline crops a square about the detector's box as the contract's framing says (`Framing.crop_of`); a
detector, a camera distance or a data set that frames faces a little differently is the same as a crop scale
other than 1. A model that is right only at one scale is fragile on somebody else's camera. This runs the whole
pipeline (detection, crop, classification) on labelled photos with the framing's crop grown or shrunk by each
scale, per photo set: the London half (posed, tightly framed) and the validation subjects of the labelled web
photos (`train.photos.is_validation`, never trained on). `choose` picks the scale with the best mean accuracy
over the sets (never one set alone), which `python -m benchmarks --set-framing` writes into a model's contract.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.real_faces import REAL_FACES, largest
from edge import Pipeline
from edge.classifier import AUTO
from edge.common.errors import UserError
from train.photos import Row, is_validation, photo_rows, read_image

# The robustness target's range (docs and verdicts), and the wider range the framing is chosen from.
ROBUSTNESS_SCALES = (0.9, 1.0, 1.1, 1.2)
CHOICE_SCALES = (0.8, 0.9, 1.0, 1.1, 1.2, 1.3)
MAX_SPREAD = 0.03  # the default's accuracy may vary by at most 3 points across ROBUSTNESS_SCALES
PHOTOS = REAL_FACES.parent / "facial-expressions"
GROUP = "crop_scales"


def photo_sets(london: Path = REAL_FACES, photos: Path = PHOTOS) -> dict[str, tuple[Path, list[Row]]]:
    """The sets scored: the London half whole, and the web photos' validation subjects; those present."""
    sets = {}
    if (london / "labels.csv").is_file():
        sets["london"] = (london, photo_rows(london))
    if (photos / "labels.csv").is_file():
        held_out = [row for row in photo_rows(photos) if is_validation(row.subject or row.file)]
        sets["photos_validation"] = (photos, held_out)
    return sets


def crop_scale_accuracy(
    sets: dict[str, tuple[Path, list[Row]]], model: Path, detector: str, scales: tuple[float, ...], precision: str
) -> dict[str, dict[str, float]]:
    """{set: {scale: accuracy}} of one model through the pipeline; a photo without a face counts wrong."""
    out: dict[str, dict[str, float]] = {}
    with Pipeline(model, precision=precision, detector=detector) as pipeline:
        base = pipeline.framing
        for name, (folder, rows) in sets.items():
            right = dict.fromkeys(scales, 0)
            usable = [row for row in rows if row.label in pipeline.contract.labels]
            for row in usable:
                image = read_image(folder, row)
                if image is None:
                    raise UserError(f"{folder / row.file}: not a readable image")
                for scale in scales:
                    pipeline.framing = base.wider(scale)
                    pipeline.reset()
                    face = largest(pipeline.process(image))
                    right[scale] += bool(face and face.label == row.label)
            out[name] = {f"{scale:g}": round(right[scale] / max(len(usable), 1), 4) for scale in scales}
        pipeline.framing = base
    return out


def spread(scores: dict[str, dict[str, float]], scales: tuple[float, ...] = ROBUSTNESS_SCALES) -> float:
    """The largest range of accuracy across `scales` on any one set."""
    return max(max(s[f"{x:g}"] for x in scales) - min(s[f"{x:g}"] for x in scales) for s in scores.values())


def choose(scores: dict[str, dict[str, float]]) -> float:
    """The scale with the best mean accuracy over the sets (ties: the one nearer 1)."""
    scales = [float(x) for x in next(iter(scores.values()))]
    return max(scales, key=lambda x: (sum(s[f"{x:g}"] for s in scores.values()) / len(scores), -abs(x - 1)))


def set_framing(folder: Path, london: Path, photos: Path) -> dict:
    """Score a converted model folder across `CHOICE_SCALES` and write the best scale's framing for the edge's
    default detector into its contract, re-sealing the folder. The section of results.json that says so."""
    from edge.detectors.base import DetectorConfig
    from edge.detectors.registry import resolve
    from edge.model_folder import check_folder, write_folder

    sets = photo_sets(london, photos)
    if not sets:
        raise UserError(f"--set-framing: no labelled photos to choose on ({london} and {photos} not found)")
    detector = resolve(DetectorConfig().name)
    contract = check_folder(folder)
    before = contract.framing_for(detector)
    scores = crop_scale_accuracy(sets, folder, detector, CHOICE_SCALES, AUTO)
    best = choose(scores)
    contract.framing = {**contract.framing, detector: before.wider(best).to_dict()}
    write_folder(folder, {}, contract, keep=True)
    for name, by_scale in scores.items():
        shown = "  ".join(f"{scale} {accuracy:.1%}" for scale, accuracy in by_scale.items())
        print(f"crop scales on {name} ({len(sets[name][1])} photos): {shown}")
    print(f"wrote framing {contract.framing[detector]} for {detector} (scale {best:g}) into {folder}")
    return {"detector": detector, "before": before.to_dict(), "scale": best, "scores": scores,
            "after": contract.framing[detector]}  # fmt: skip
