"""Evaluate a Keras model per split and write metrics.json, curves.png and confusion_matrix.png."""

from __future__ import annotations

from pathlib import Path

import keras

from edge.common.files import write_json
from edge.contract import Contract
from train.data import Dataset, validation_split_name
from train.metrics import classification_metrics
from train.models import predict
from train.plots import plot_confusion, plot_curves


def evaluate(model: keras.Model, data: Dataset, contract: Contract) -> dict:
    """Metrics for every split present in the data set."""
    splits = {}
    for name in data.splits:
        images, labels = data.model_split(name)
        splits[name] = classification_metrics(labels, predict(model, images, contract).argmax(axis=1), contract.labels)
    return {"source": data.source, "validation_split": validation_split_name(data), "splits": splits}


def format_metrics(metrics: dict) -> str:
    """A short human summary: accuracy and macro-F1 per split, recall per class for the validation split."""
    lines = [f"{'split':<12}{'n':>7}{'accuracy':>10}{'macro-F1':>10}"]
    for name, m in metrics["splits"].items():
        lines.append(f"{name:<12}{m['n']:>7}{m['accuracy']:>10.4f}{m['macro_f1']:>10.4f}")
    val = metrics["splits"].get(metrics["validation_split"])
    if val:
        recalls = "  ".join(f"{label} {c['recall']:.2f}" for label, c in val["per_class"].items())
        lines.append(f"recall on {metrics['validation_split']}: {recalls}")
    return "\n".join(lines)


def write_reports(model: keras.Model, data: Dataset, contract: Contract, out: Path, history: list[dict]) -> dict:
    metrics = evaluate(model, data, contract)
    metrics["architecture"] = contract.architecture
    metrics["parameters"] = int(model.count_params())
    metrics["skipped_rows"] = len(data.skipped)
    metrics["notes"] = data.notes
    write_json(out / "metrics.json", metrics)
    if history:
        plot_curves(history, out / "curves.png")
    val_name = metrics["validation_split"]
    plot_confusion(
        metrics["splits"][val_name]["confusion_matrix"],
        contract.labels,
        f"{contract.architecture} on {val_name}",
        out / "confusion_matrix.png",
    )
    return metrics
