"""Keras model -> float32 and full-integer int8 TFLite, each checked against the Keras model."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.classifier import Classifier
from edge.contract import CONTRACT_FILENAME, Contract
from edge.errors import UserError

FLOAT_FILE = "model_float32.tflite"
INT8_FILE = "model_int8.tflite"


@dataclass
class Variant:
    name: str
    filename: str
    content: bytes


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_keras_model(path: Path):
    """Load and check a .keras model: 48x48x1 input and one output per contract label."""
    import keras

    if not path.exists():
        raise UserError(f"{path}: model not found")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many types for a file that is not a model
        raise UserError(f"{path}: not a Keras model ({type(exc).__name__})") from None
    return model


def contract_for(model, model_path: Path) -> Contract:
    """The contract beside the model (written by train), checked against the model's real shapes."""
    beside = model_path.parent / CONTRACT_FILENAME
    contract = Contract.load(beside) if beside.exists() else Contract(architecture=model.name)
    input_shape = list(model.input_shape[1:])
    if input_shape != list(contract.input_shape):
        raise UserError(f"{model_path}: input shape {input_shape}, expected {contract.input_shape} (48x48 grayscale)")
    if model.output_shape[-1] != contract.num_classes:
        raise UserError(f"{model_path}: {model.output_shape[-1]} outputs, expected {contract.num_classes} classes")
    return contract


def stratified_sample(labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Indices of about `count` rows with every class in proportion (at least one each where present)."""
    rng = np.random.default_rng(seed)
    picked = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        take = min(len(members), max(1, round(count * len(members) / len(labels))))
        picked.append(rng.choice(members, size=take, replace=False))
    return rng.permutation(np.concatenate(picked))


def _converter(model):
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_keras_model(model)


def to_float32(model) -> bytes:
    return _converter(model).convert()


def to_int8(model, calibration: np.ndarray, contract: Contract) -> bytes:
    """Full-integer model (int8 input and output) calibrated on uint8 images (N, H, W)."""
    import tensorflow as tf

    def representative() -> Iterator[list[np.ndarray]]:
        for image in calibration:
            yield [contract.normalise(image[None, ..., None])]

    converter = _converter(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


def load_variant(variant: Variant, contract: Contract, threads: int | None = None) -> Classifier:
    """A classifier over in-memory model bytes (written to a temporary file the interpreter can map)."""
    with tempfile.NamedTemporaryFile(suffix=".tflite", delete=False) as f:
        f.write(variant.content)
    try:
        return Classifier(f.name, contract, threads=threads)
    finally:
        os.unlink(f.name)
