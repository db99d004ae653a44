"""Architectures, registered by name. Keras 3 only (no TensorFlow calls), so any backend can train them.

Normalisation happens outside the model (from the contract), so the int8 model's input is the image.
Keras is imported inside the functions that need it: the registry's names serve `--help` and option checks,
which must not wait for (or print) TensorFlow's start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edge.common.errors import UserError
from edge.contract import INPUT_SHAPE, LABELS, Contract

if TYPE_CHECKING:
    import keras

Builder = Callable[[int], "keras.Model"]  # from the number of classes
ARCHITECTURES: dict[str, Builder] = {}
DEFAULT_ARCH = "edge_vgg"
PREDICT_CHUNK = 2048  # images fitted and classified at a time by `predict`


def register(name: str) -> Callable[[Builder], Builder]:
    def add(builder: Builder) -> Builder:
        ARCHITECTURES[name] = builder
        return builder

    return add


def build(name: str, num_classes: int = len(LABELS)) -> keras.Model:
    """Architecture `name` with one output per class of the contract it is trained for."""
    if name not in ARCHITECTURES:
        raise KeyError(f"unknown architecture {name!r}; choose from {', '.join(sorted(ARCHITECTURES))}")
    return ARCHITECTURES[name](num_classes)


def load(path: Path) -> keras.Model:
    """A saved .keras model for inference, or a one-line UserError for a missing file or one that is not a model."""
    if not path.exists():
        raise UserError(f"{path}: model not found")
    import keras

    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many types for a file that is not a model
        raise UserError(f"{path}: not a Keras model ({type(exc).__name__})") from None


def predict(model: keras.Model, images: np.ndarray, contract: Contract, batch_size: int = 256) -> np.ndarray:
    """Class probabilities for uint8 images (N, H, W), averaged with the mirror image if the contract says so;
    images of another size or colour than the model's are fitted to it first (`Contract.fit_images`), a chunk
    at a time (28,709 rows as 112x112 RGB floats would take 4 GB)."""
    chunks = []
    for start in range(0, len(images), PREDICT_CHUNK):
        inputs = contract.tensor(contract.with_flips(contract.fit_images(images[start : start + PREDICT_CHUNK])))
        chunks.append(contract.merge_flips(model.predict(inputs, batch_size=batch_size, verbose=0)))
    return np.concatenate(chunks) if chunks else np.zeros((0, contract.num_classes), dtype=np.float32)


@register("seed")
def seed(num_classes: int) -> keras.Model:
    """The reference notebook's Sequential CNN: plain conv/pool/dropout blocks and a 1024-unit dense head."""
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input(INPUT_SHAPE),
            layers.Conv2D(32, 3, activation="relu"),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Dropout(0.25),
            layers.Conv2D(128, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(128, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Dropout(0.25),
            layers.Flatten(),
            layers.Dense(1024, activation="relu"),
            layers.Dropout(0.5),
            layers.Dense(num_classes, activation="softmax"),
        ],
        name="seed",
    )


def _conv_bn_relu(x: keras.KerasTensor, filters: int) -> keras.KerasTensor:
    from keras import layers

    x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(x)


def _pooled_classifier(
    inputs: keras.KerasTensor, features: keras.KerasTensor, num_classes: int, dropout: float, name: str
) -> keras.Model:
    """The head every architecture here shares: global average pooling, dropout, one softmax layer."""
    import keras
    from keras import layers

    x = layers.Dropout(dropout)(layers.GlobalAveragePooling2D()(features))
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax")(x), name=name)


def _vgg_bn(
    name: str, num_classes: int, widths: tuple[int, ...], convs: tuple[int, ...], dropout: float
) -> keras.Model:
    """VGG-style blocks (conv-BN-ReLU, max-pool) ending in global average pooling: no giant dense layer."""
    import keras
    from keras import layers

    inputs = keras.Input(INPUT_SHAPE)
    x = inputs
    for width, n_convs in zip(widths, convs, strict=True):
        for _ in range(n_convs):
            x = _conv_bn_relu(x, width)
        x = layers.MaxPooling2D(2)(x)
    return _pooled_classifier(inputs, x, num_classes, dropout, name)


@register("edge_vgg")
def edge_vgg(num_classes: int) -> keras.Model:
    """The edge default: about 1.2 M parameters, one conv at full 48x48 resolution to keep per-face cost low."""
    return _vgg_bn("edge_vgg", num_classes, widths=(32, 64, 128, 256), convs=(1, 2, 2, 2), dropout=0.4)


@register("edge_vgg_small")
def edge_vgg_small(num_classes: int) -> keras.Model:
    """Half the width of edge_vgg (about 0.3 M parameters) for the slowest devices."""
    return _vgg_bn("edge_vgg_small", num_classes, widths=(16, 32, 64, 128), convs=(1, 2, 2, 2), dropout=0.3)


@register("edge_vgg_mid")
def edge_vgg_mid(num_classes: int) -> keras.Model:
    """Between small and edge_vgg (about 0.7 M parameters): the `fast` model's size, about a quarter of the
    default's per-face cost without mirror averaging."""
    return _vgg_bn("edge_vgg_mid", num_classes, widths=(24, 48, 96, 192), convs=(1, 2, 2, 2), dropout=0.3)


@register("tiny")
def tiny(num_classes: int) -> keras.Model:
    """A few thousand parameters: trains in seconds, for tests and smoke runs."""
    return _vgg_bn("tiny", num_classes, widths=(8, 16), convs=(1, 1), dropout=0.0)


@register("edge_vgg_deep")
def edge_vgg_deep(num_classes: int) -> keras.Model:
    """edge_vgg with a third conv in the last block (about 1.76 M parameters, int8 file under 2 MB)."""
    return _vgg_bn("edge_vgg_deep", num_classes, widths=(32, 64, 128, 256), convs=(1, 2, 2, 3), dropout=0.4)


@register("edge_vgg_wide")
def edge_vgg_wide(num_classes: int) -> keras.Model:
    """edge_vgg_deep at 1.25x width in the first three blocks (about 1.8 M parameters)."""
    return _vgg_bn("edge_vgg_wide", num_classes, widths=(40, 80, 160, 240), convs=(1, 2, 2, 3), dropout=0.4)


def _dense_block(x: keras.KerasTensor, width: int, stride: int, first: bool) -> keras.KerasTensor:
    """face-api's denseBlock4 with batch normalisation: four 3x3 convs (a plain one first in the network, else
    depthwise-separable), each fed the ReLU of the sum of the block's earlier outputs."""
    from keras import layers

    def conv(source: keras.KerasTensor, strides: int, plain: bool) -> keras.KerasTensor:
        layer = layers.Conv2D if plain else layers.SeparableConv2D
        return layers.BatchNormalization()(layer(width, 3, strides=strides, padding="same", use_bias=False)(source))

    outputs = [layers.ReLU()(conv(x, stride, plain=first))]
    for _ in range(3):
        source = outputs[0] if len(outputs) == 1 else layers.ReLU()(layers.Add()(outputs))
        outputs.append(conv(source, 1, plain=False))
    return layers.ReLU()(layers.Add()(outputs))


def _dense_net(name: str, num_classes: int, widths: tuple[int, ...], first_stride: int, dropout: float) -> keras.Model:
    """The family of face-api's expression network (four densely connected blocks of depthwise-separable convs,
    global pooling, one dense layer) on our 48x48 grayscale input: a student that can imitate it cheaply."""
    import keras

    inputs = keras.Input(INPUT_SHAPE)
    x = inputs
    for i, width in enumerate(widths):
        x = _dense_block(x, width, first_stride if i == 0 else 2, first=i == 0)
    return _pooled_classifier(inputs, x, num_classes, dropout, name)


@register("edge_dense")
def edge_dense(num_classes: int) -> keras.Model:
    """face-api's expression network scaled to our input: its widths (32, 64, 128, 256) and its strided first
    conv, so the blocks run at 24, 12, 6 and 3 px; about 10 M multiply-adds per invoke (face-api's is 52 M at
    112 px, edge_vgg_wide's 150 M) and 0.33 M parameters. At full 48 px resolution it would cost 37 M and train
    three times slower on a CPU (depthwise convolutions' gradients are slow there)."""
    return _dense_net("edge_dense", num_classes, widths=(32, 64, 128, 256), first_stride=2, dropout=0.3)
