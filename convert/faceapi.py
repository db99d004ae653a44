"""Import face-api's face-expression network (npm `@vladmandic/face-api`, MIT) as a Keras model and contract.

The network was trained on web photos, so it knows the closed-mouth smiles that FER-2013's labels call Neutral;
it is a zoo model of its own (`--model faceapi`) and a teacher for our 48x48 students (`train teach`). Its
weights ship in the npm package as `model/face_expression_model-weights_manifest.json` and one `.bin` shard: each
weight stored as uint8 with a per-tensor `min` and `scale` (tfjs `decodeWeights`: value = min + scale * q), biases
as float32. The graph is the package's own TypeScript, rebuilt layer for layer:

- `src/faceFeatureExtractor/FaceFeatureExtractor.ts`: 112x112 RGB, minus the mean RGB (122.782, 117.001,
  104.298), divided by 255; four `denseBlock4`s (32, 64, 128, 256 channels, each halving the size: 56, 28, 14,
  7); a 7x7 average pool.
- `denseBlock.ts`: out1 = relu(conv0(x)) (a plain 3x3 conv in the first block, a depthwise-separable one after),
  out2 = sep(out1), out3 = sep(relu(out1 + out2)), out4 = sep(relu(out1 + out2 + out3)),
  result relu(out1 + out2 + out3 + out4); every conv "same" padded with a bias.
- `src/faceProcessor/FaceProcessor.ts` and `faceExpressionNet/`: one fully connected layer and a softmax over
  neutral, happy, sad, angry, fearful, disgusted, surprised, reordered here into the contract's labels.

The mean is subtracted inside the graph (a Normalization layer), so the contract's scale (1/255) and offset (0)
stay scalars and the int8 model's input is the image. Nothing is downloaded: the user points `--package` at an
unpacked `npm pack @vladmandic/face-api`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.common.errors import UserError
from edge.common.files import atomic_path, file_sha256
from edge.contract import LABELS, PIXEL_SCALE, Contract, read_json

PACKAGE = "@vladmandic/face-api"
PACKAGE_VERSION = "1.7.15"  # the version whose weights and outputs the parity fixture was made with
MANIFEST = "model/face_expression_model-weights_manifest.json"
INPUT_SIZE = 112
MEAN_RGB = (122.782, 117.001, 104.298)
BLOCK_WIDTHS = (32, 64, 128, 256)
# The network's output order (FaceExpressions.ts), as the contract's label names.
FACEAPI_LABELS = ("Neutral", "Happy", "Sad", "Angry", "Fear", "Disgust", "Surprise")
ARCHITECTURE = "faceapi_expression"
_DTYPES = {"float32": np.float32, "int32": np.int32, "uint8": np.uint8, "uint16": np.uint16}


def read_weights(package: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The dequantised weights by tfjs name, and the sha256 of each file read (provenance)."""
    manifest_path = package / MANIFEST
    if not manifest_path.is_file():
        raise UserError(f"{manifest_path}: not found; --package must be an unpacked `npm pack {PACKAGE}` folder")
    groups = read_json(manifest_path, "tfjs weights manifest")
    try:
        paths = [manifest_path.parent / name for group in groups for name in group["paths"]]
        entries = [entry for group in groups for entry in group["weights"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{manifest_path}: not a tfjs weights manifest ({exc})") from None
    for path in paths:
        if not path.is_file():
            raise UserError(f"{path}: weight shard named by the manifest is missing")
    buffer = b"".join(path.read_bytes() for path in paths)
    try:
        stored = [np.dtype(_DTYPES[(e.get("quantization") or e)["dtype"]]) for e in entries]
        counts = [int(np.prod(e["shape"])) for e in entries]
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{manifest_path}: not a tfjs weights manifest ({exc})") from None
    described = sum(count * dtype.itemsize for count, dtype in zip(counts, stored, strict=True))
    if described != len(buffer):
        raise UserError(f"{manifest_path}: the shards hold {len(buffer)} bytes, the manifest describes {described}")
    weights, offset = {}, 0
    for entry, dtype, count in zip(entries, stored, counts, strict=True):
        raw = np.frombuffer(buffer, dtype=dtype, count=count, offset=offset)
        offset += count * dtype.itemsize
        quantization = entry.get("quantization")
        values = raw * quantization["scale"] + quantization["min"] if quantization else raw
        weights[entry["name"]] = np.asarray(values, dtype=np.float32).reshape(entry["shape"])
    checksums = {str(path.relative_to(package)): file_sha256(path) for path in [manifest_path, *paths]}
    return weights, checksums


def build(weights: dict[str, np.ndarray], labels: tuple[str, ...] = LABELS):
    """The Keras graph of FaceExpressionNet with the package's weights, its outputs in `labels`' order."""
    import keras
    from keras import layers

    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3))
    x = layers.Normalization(axis=-1, mean=[m / 255 for m in MEAN_RGB], variance=[1.0] * 3, name="mean_rgb")(inputs)
    for block, width in enumerate(BLOCK_WIDTHS):
        prefix = f"dense{block}"
        convs = []
        for i in range(4):
            name, stride = f"{prefix}/conv{i}", 2 if i == 0 else 1
            if block == 0 and i == 0:
                conv = layers.Conv2D(width, 3, strides=stride, padding="same", name=name.replace("/", "_"))
                source = x
                conv.build(source.shape)
                conv.set_weights([weights[f"{name}/filters"], weights[f"{name}/bias"]])
            else:
                conv = layers.SeparableConv2D(width, 3, strides=stride, padding="same", name=name.replace("/", "_"))
                source = x if i == 0 else convs[0] if i == 1 else layers.ReLU()(layers.Add()(convs))
                conv.build(source.shape)
                conv.set_weights(
                    [weights[f"{name}/depthwise_filter"], weights[f"{name}/pointwise_filter"], weights[f"{name}/bias"]]
                )
            convs.append(layers.ReLU()(conv(source)) if i == 0 else conv(source))
        x = layers.ReLU()(layers.Add()(convs))
    x = layers.GlobalAveragePooling2D()(x)  # the 7x7 average pool over the 7x7 map
    order = [FACEAPI_LABELS.index(label) for label in labels]
    head = layers.Dense(len(labels), activation="softmax", name="fc")
    head.build(x.shape)
    head.set_weights([weights["fc/weights"][:, order], weights["fc/bias"][order]])
    return keras.Model(inputs, head(x), name=ARCHITECTURE)


def contract(checksums: dict[str, str]) -> Contract:
    """RGB 112x112, the mean inside the graph; no framing: the crop is the detector's box, as face-api crops."""
    return Contract(
        architecture=ARCHITECTURE,
        labels=list(LABELS),
        input_shape=[INPUT_SIZE, INPUT_SIZE, 3],
        pixel_scale=PIXEL_SCALE,
        pixel_offset=0.0,
        color="rgb",
        extra={"imported_from": {"package": PACKAGE, "version": PACKAGE_VERSION, "sha256": checksums}},
    )


def package_version(package: Path) -> str:
    meta = read_json(package / "package.json", "package.json")
    if not isinstance(meta, dict) or not isinstance(meta.get("version"), str):
        raise UserError(f"{package / 'package.json'}: has no version string")
    return meta["version"]


def import_network(package: Path, out: Path) -> Path:
    """Write OUT/model.keras and OUT/contract.json from the unpacked package; `python -m convert` takes it on."""
    weights, checksums = read_weights(package)
    version = package_version(package)
    if version != PACKAGE_VERSION:
        raise UserError(f"{package}: {PACKAGE} {version}; this importer was checked against {PACKAGE_VERSION}")
    model = build(weights)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "model.keras", suffix=".keras") as tmp:
        model.save(tmp)
    contract(checksums).save(out)
    return out / "model.keras"
