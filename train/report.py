"""Evaluate a Keras model per split and write metrics.json, curves.png and confusion_matrix.png."""

from __future__ import annotations

from pathlib import Path

import keras
import matplotlib
import numpy as np

from edge.atomic import atomic_path, write_json
from edge.contract import Contract
from train.data import Dataset, validation_split_name
from train.metrics import classification_metrics

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def predict(model: keras.Model, images: np.ndarray, contract: Contract, batch_size: int = 256) -> np.ndarray:
    """Class probabilities for uint8 images (N, H, W), averaged with the mirror image if the contract says so."""
    inputs = contract.normalise(contract.with_flips(images))[..., None]
    return contract.merge_flips(model.predict(inputs, batch_size=batch_size, verbose=0))


def evaluate(model: keras.Model, data: Dataset, contract: Contract) -> dict:
    """Metrics for every split present in the data set."""
    splits = {}
    for name in data.splits:
        images, labels = data.split(name)
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


def plot_curves(history: list[dict[str, float]], path: Path) -> None:
    epochs = [row["epoch"] for row in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        ax.plot(epochs, [row.get(metric) for row in history], label="train")
        ax.plot(epochs, [row.get(f"val_{metric}") for row in history], label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    _save_figure(fig, path)


def plot_confusion(matrix: list[list[int]], labels: list[str], title: str, path: Path) -> None:
    cm = np.asarray(matrix, dtype=np.float64)
    normalised = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            colour = "white" if normalised[i, j] > 0.5 else "black"
            ax.text(
                j, i, f"{normalised[i, j]:.2f}\n{int(cm[i, j])}", ha="center", va="center", fontsize=7, color=colour
            )
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    _save_figure(fig, path)


def _save_figure(fig: plt.Figure, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


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
