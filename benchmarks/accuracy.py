"""Accuracy from the .tflite files themselves: the numbers a device would get."""

from __future__ import annotations

from pathlib import Path

from edge.classifier import Classifier
from edge.contract import Contract
from train.data import Dataset, validation_split_name
from train.metrics import classification_metrics, compare


def tflite_accuracy(
    models: dict[str, Path],
    contract: Contract,
    data: Dataset,
    max_rows: int,
    seed: int = 0,
    splits: list[str] | None = None,
) -> dict:
    """Per split (every split of `data`, or `splits`): accuracy, macro-F1 and per-class recall for each model, and
    float32-vs-int8 agreement."""
    classifiers = {name: Classifier(path, contract) for name, path in models.items()}
    results: dict = {"splits": {}, "validation_split": validation_split_name(data)}
    for split in splits or data.splits:
        images, labels = data.split_sample(split, max_rows, seed)
        probabilities = {name: c.predict(images) for name, c in classifiers.items()}
        entry: dict = {"rows": len(labels)}
        for name, p in probabilities.items():
            m = classification_metrics(labels, p.argmax(1), contract.labels)
            entry[name] = {
                "accuracy": m["accuracy"],
                "macro_f1": m["macro_f1"],
                "recall": {label: c["recall"] for label, c in m["per_class"].items()},
            }
        if {"float32", "int8"} <= set(probabilities):
            entry["float32_vs_int8"] = compare(probabilities["float32"], probabilities["int8"])
        results["splits"][split] = entry
    return results
