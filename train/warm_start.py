"""A Keras model rebuilt from a converted float32 TFLite model, so a shipped model can be fine-tuned without
its `.keras`.

Conversion folds each batch normalisation into its convolution, so the rebuilt model has plain biased
convolutions with fused ReLUs: the same function as the original, with fewer layers. Only the op sequence that
this project's architectures convert to is understood (3x3 same-padded convolutions with ReLU, 2x2 max pooling,
global average pooling, one dense layer, softmax); the rebuilt model is checked against the interpreter on
random images, so anything else is refused rather than silently rebuilt wrong.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.classifier import find_interpreter
from edge.common.errors import UserError
from edge.contract import Contract
from edge.model_folder import resolve_model

SUPPORTED_OPS = ("CONV_2D", "MAX_POOL_2D", "MEAN", "FULLY_CONNECTED", "SOFTMAX")
MAX_DIFFERENCE = 1e-3  # largest probability difference to the interpreter that still counts as the same model


def _graph(path: Path) -> tuple[list[dict], object]:
    interpreter_class, _ = find_interpreter()
    interpreter = interpreter_class(model_path=str(path))
    interpreter.allocate_tensors()
    ops = [op for op in interpreter._get_ops_details() if op["op_name"] != "DELEGATE"]
    unknown = sorted({op["op_name"] for op in ops} - set(SUPPORTED_OPS))
    if unknown:
        raise UserError(f"{path}: cannot rebuild a Keras model from ops {', '.join(unknown)}")
    return ops, interpreter


def rebuild(folder: Path, name: str) -> tuple[object, Contract]:
    """The Keras model equivalent to the folder's float32 TFLite model, and the folder's contract."""
    import keras
    from keras import layers

    path, contract = resolve_model(folder, "float32")
    ops, interpreter = _graph(path)
    inputs = keras.Input(tuple(contract.input_shape))
    x = inputs
    for op in ops:
        kind, weights = op["op_name"], [interpreter.get_tensor(i) for i in op["inputs"][1:]]
        if kind == "CONV_2D":
            kernel, bias = weights
            conv = layers.Conv2D(kernel.shape[0], kernel.shape[1:3], padding="same", activation="relu")
            x = conv(x)
            conv.set_weights([kernel.transpose(1, 2, 3, 0), bias])
        elif kind == "MAX_POOL_2D":
            x = layers.MaxPooling2D(2)(x)
        elif kind == "MEAN":
            x = layers.GlobalAveragePooling2D()(x)
        elif kind == "FULLY_CONNECTED":
            kernel, bias = weights
            dense = layers.Dense(kernel.shape[0])
            x = dense(x)
            dense.set_weights([kernel.T, bias])
        else:
            x = layers.Softmax()(x)
    model = keras.Model(inputs, x, name=name)
    _check_same(model, interpreter, contract, path)
    return model, contract


def _check_same(model: object, interpreter: object, contract: Contract, path: Path) -> None:
    images = np.random.default_rng(0).integers(0, 256, size=(8, *contract.image_size), dtype=np.uint8)
    inputs = contract.normalise(images)[..., None]
    detail_in, detail_out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    expected = []
    for row in inputs:
        interpreter.set_tensor(detail_in["index"], row[None])
        interpreter.invoke()
        expected.append(interpreter.get_tensor(detail_out["index"])[0])
    difference = float(np.abs(model.predict(inputs, verbose=0) - np.array(expected)).max())
    if difference > MAX_DIFFERENCE:
        raise UserError(f"{path}: the rebuilt Keras model differs from the TFLite model by {difference:.4f}")
