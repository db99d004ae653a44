"""The figures of a run and of a conversion: training curves and a row-normalised confusion matrix, as PNG."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib
import numpy as np

from edge.common.files import write_bytes

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def _png(fig: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def save_figure(fig: plt.Figure, path: Path) -> None:
    """The figure as a PNG at `path`, written whole (the one way every stage saves a figure), then closed."""
    write_bytes(path, _png(fig))


def curves_png(history: list[dict[str, float]]) -> bytes:
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
    return _png(fig)


def confusion_png(matrix: list[list[int]], labels: list[str], title: str) -> bytes:
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
    return _png(fig)


def plot_curves(history: list[dict[str, float]], path: Path) -> None:
    write_bytes(path, curves_png(history))


def plot_confusion(matrix: list[list[int]], labels: list[str], title: str, path: Path) -> None:
    write_bytes(path, confusion_png(matrix, labels, title))
