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
from edge.common.files import atomic_path, file_sha256, inside, probe_folder, read_capped
from edge.contract import CONTRACT_FILENAME, LABELS, PIXEL_SCALE, Contract, read_json

PACKAGE = "@vladmandic/face-api"
PACKAGE_VERSION = "1.7.15"  # the version whose weights and outputs the parity fixture was made with
MANIFEST = "model/face_expression_model-weights_manifest.json"
INPUT_SIZE = 112
MEAN_RGB = (122.782, 117.001, 104.298)
BLOCK_WIDTHS = (32, 64, 128, 256)
# The network's output order (FaceExpressions.ts), as the contract's label names.
FACEAPI_LABELS = ("Neutral", "Happy", "Sad", "Angry", "Fear", "Disgust", "Surprise")
ARCHITECTURE = "faceapi_expression"
OUTPUT_FILES = ("model.keras", CONTRACT_FILENAME)
_DTYPES = {"float32": np.float32, "int32": np.int32, "uint8": np.uint8, "uint16": np.uint16}


def network_shapes() -> dict[str, tuple[int, ...]]:
    """Every weight the graph below takes, by tfjs name, with its shape: what a manifest must describe."""
    shapes: dict[str, tuple[int, ...]] = {}
    channels = 3
    for block, width in enumerate(BLOCK_WIDTHS):
        for i in range(4):
            name = f"dense{block}/conv{i}"
            if block == 0 and i == 0:
                shapes[f"{name}/filters"] = (3, 3, channels, width)
            else:
                shapes[f"{name}/depthwise_filter"] = (3, 3, channels, 1)
                shapes[f"{name}/pointwise_filter"] = (1, 1, channels, width)
            shapes[f"{name}/bias"] = (width,)
            channels = width
    shapes["fc/weights"] = (BLOCK_WIDTHS[-1], len(FACEAPI_LABELS))
    shapes["fc/bias"] = (len(FACEAPI_LABELS),)
    return shapes


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _checked_entries(manifest_path: Path, entries: list) -> list[tuple[str, tuple[int, ...], np.dtype, dict | None]]:
    """(name, shape, stored dtype, quantisation) of each manifest entry, once each name, shape and quantisation
    number is the network's: a wrong one would otherwise reach Keras as a KeyError or a shape traceback."""
    expected = network_shapes()
    checked, seen = [], set()
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise UserError(f"{manifest_path}: not a tfjs weights manifest (an entry without a name)")
        name, shape, quantization = entry["name"], entry.get("shape"), entry.get("quantization")
        where = f"{manifest_path}: weight {name}"
        if name not in expected:
            raise UserError(f"{where}: not a weight of face-api's expression network")
        if name in seen:
            raise UserError(f"{where}: listed twice")
        seen.add(name)
        if not isinstance(shape, list) or not all(isinstance(n, int) and not isinstance(n, bool) for n in shape):
            raise UserError(f"{where}: shape {shape!r} is not a list of whole numbers")
        if tuple(shape) != expected[name]:
            raise UserError(f"{where}: shape {shape}, the network needs {list(expected[name])}")
        if quantization is not None and not (
            isinstance(quantization, dict)
            and all(_is_number(quantization.get(key)) and np.isfinite(quantization[key]) for key in ("min", "scale"))
        ):
            raise UserError(f"{where}: its quantization's min and scale must be finite numbers")
        dtype = _DTYPES.get((quantization or entry).get("dtype"))
        if dtype is None:
            raise UserError(f"{where}: dtype {(quantization or entry).get('dtype')!r} is not one tfjs stores")
        checked.append((name, tuple(shape), np.dtype(dtype), quantization))
    missing = [name for name in expected if name not in seen]
    if missing:
        raise UserError(f"{manifest_path}: weight {missing[0]} is missing ({len(missing)} of the network's missing)")
    return checked


def read_weights(package: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The dequantised weights by tfjs name, and the sha256 of each file read (provenance).

    Everything the manifest says is checked before a shard is read: the shards are files inside the package's
    model/ folder (`inside`: no `..`, absolute path or link out), regular, and together exactly the size the
    manifest's weights need (from their sizes on disk, so a huge shard or a device is never read)."""
    manifest_path = package / MANIFEST
    if not manifest_path.is_file():
        raise UserError(f"{manifest_path}: not found; --package must be an unpacked `npm pack {PACKAGE}` folder")
    groups = read_json(manifest_path, "tfjs weights manifest")
    try:
        names = [name for group in groups for name in group["paths"]]
        entries = [entry for group in groups for entry in group["weights"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{manifest_path}: not a tfjs weights manifest ({exc})") from None
    if not all(isinstance(name, str) for name in names):
        raise UserError(f"{manifest_path}: not a tfjs weights manifest (a shard path that is not a string)")
    checked = _checked_entries(manifest_path, entries)
    paths = [inside(manifest_path.parent, name, "weight shard") for name in names]
    for path in paths:
        if not path.is_file():
            raise UserError(f"{path}: weight shard named by the manifest is missing or not a regular file")
    described = sum(int(np.prod(shape)) * dtype.itemsize for _, shape, dtype, _ in checked)
    held = sum(path.stat().st_size for path in paths)
    if described != held:
        raise UserError(f"{manifest_path}: the shards hold {held} bytes, the manifest describes {described}")
    buffer = b"".join(read_capped(path, "weight shard", described) for path in paths)
    if len(buffer) != described:  # a shard that changed while it was read
        raise UserError(f"{manifest_path}: the shards hold {len(buffer)} bytes, the manifest describes {described}")
    weights, offset = {}, 0
    for name, shape, dtype, quantization in checked:
        count = int(np.prod(shape))
        raw = np.frombuffer(buffer, dtype=dtype, count=count, offset=offset).astype(np.float64)
        offset += count * dtype.itemsize
        values = raw * quantization["scale"] + quantization["min"] if quantization else raw
        with np.errstate(over="ignore", invalid="ignore"):
            weights[name] = np.asarray(values, dtype=np.float32).reshape(shape)
        if not np.isfinite(weights[name]).all():
            raise UserError(f"{manifest_path}: weight {name} is not finite (NaN or infinite) in the package")
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


def check_out(out: Path) -> None:
    """Refuse, before anything is read, an --out that is a file, lies under one, or holds anything but this
    importer's own earlier output (writing there would break a converted model folder or mix a training run)."""
    for folder in [out, *out.parents]:
        if folder.exists() and not folder.is_dir():
            raise UserError(f"{out}: {folder} is not a folder; --out names the folder for {OUTPUT_FILES[0]}")
    if out.is_dir():
        held = sorted(path.name for path in out.iterdir())
        earlier = set(held) <= set(OUTPUT_FILES) and _imported_here(out)
        if held and not earlier:
            raise UserError(
                f"{out}: holds {', '.join(held[:5])}{', ...' if len(held) > 5 else ''}, which are not an earlier"
                f" import's {' and '.join(OUTPUT_FILES)}; choose an empty or new --out"
            )
    existing = next(folder for folder in [out, *out.parents] if folder.exists())
    probe_folder(existing, out, "imported model")  # nothing created yet: a refused run leaves no empty --out


def _imported_here(out: Path) -> bool:
    """Whether `out`'s contract (if any) is one this importer wrote: then replacing it loses nothing."""
    if not (out / CONTRACT_FILENAME).exists():
        return True
    try:
        return "imported_from" in Contract.load(out).extra
    except UserError:
        return False


def import_network(package: Path, out: Path) -> Path:
    """Write OUT/model.keras and OUT/contract.json from the unpacked package; `python -m convert` takes it on."""
    check_out(out)
    weights, checksums = read_weights(package)
    version = package_version(package)
    if version != PACKAGE_VERSION:
        raise UserError(f"{package}: {PACKAGE} {version}; this importer was checked against {PACKAGE_VERSION}")
    model = build(weights)
    with atomic_path(out / OUTPUT_FILES[0], suffix=".keras") as tmp:
        model.save(tmp)
    contract(checksums).save(out)
    return out / OUTPUT_FILES[0]
