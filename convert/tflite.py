"""Keras model -> float32 and full-integer int8 TFLite, each checked against the Keras model."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edge.classifier import Classifier
from edge.common.errors import UserError
from edge.contract import CONTRACT_FILENAME, Contract


def contract_for(model, model_path: Path) -> Contract:
    """The contract beside the model (written by train), checked against the model's real shapes."""
    beside = model_path.parent / CONTRACT_FILENAME
    contract = Contract.load(beside) if beside.exists() else Contract(architecture=model.name)
    input_shape = list(model.input_shape[1:])
    if input_shape != list(contract.input_shape):
        raise UserError(f"{model_path}: input shape {input_shape}, expected {contract.input_shape} (its contract's)")
    if model.output_shape[-1] != contract.num_classes:
        raise UserError(f"{model_path}: {model.output_shape[-1]} outputs, expected {contract.num_classes} classes")
    return contract


def check_finite(model, model_path: Path) -> None:
    """Refuse a model with NaN or infinite weights (a diverged run) before the TFLite converter sees it: the
    converter can crash the process on one, or write a model whose every answer is NaN."""
    for weight in model.weights:
        if not np.isfinite(np.asarray(weight.numpy(), dtype=np.float64)).all():
            raise UserError(
                f"{model_path}: weight {weight.path} is not finite (NaN or infinite: a training run that diverged,"
                " or a model imported broken); retrain it, e.g. with a lower --lr, or import it again"
            )


def _converter(model):
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_keras_model(model)


def to_float32(model) -> bytes:
    return _converter(model).convert()


def to_int8(model, calibration: np.ndarray, contract: Contract) -> bytes:
    """Full-integer model (int8 input and output) calibrated on uint8 images (N, H, W), fitted to its input."""
    import tensorflow as tf

    def representative() -> Iterator[list[np.ndarray]]:
        for image in calibration:
            yield [contract.tensor(contract.fit_images(image[None]))]

    converter = _converter(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


def load_variant(content: bytes, contract: Contract, threads: int | None = None) -> Classifier:
    """A classifier over in-memory model bytes (written to a temporary file the interpreter can map)."""
    with tempfile.NamedTemporaryFile(suffix=".tflite", delete=False) as f:
        f.write(content)
    try:
        return Classifier(f.name, contract, threads=threads)
    finally:
        os.unlink(f.name)
