"""Classify face crops (48x48 grayscale, or the size and colour the contract names) with a TFLite model, float32 or
full-integer int8.

The interpreter comes from `ai_edge_litert`, else `tflite_runtime`, else `tensorflow.lite` (the
last only as a fallback); quantisation scale and zero-point are read from the model itself.
"""

from __future__ import annotations

import importlib
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from edge.common.errors import UserError
from edge.common.files import file_sha256
from edge.common.options import MAX_THREADS
from edge.common.quiet import quiet_stderr
from edge.contract import Contract
from edge.model_folder import PRECISIONS, resolve_model, resolve_models

MAX_BATCH = 256  # bounds activation memory when classifying many crops at once
INTERPRETER_MODULES = ("ai_edge_litert.interpreter", "tflite_runtime.interpreter", "tensorflow.lite")


def default_threads() -> int:
    """The interpreter's threads when none are given: the cores this process may run on (its CPU affinity, so a
    container's or `taskset`'s share), at most MAX_THREADS. LiteRT's own default is one thread (ai_edge_litert
    turns None into 1), and on 2 cores two threads nearly halve the time per face (docs/performance.md)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_THREADS))


def find_interpreter() -> tuple[type, str]:
    """The first TFLite interpreter that imports, and the module it came from."""
    for module_name in INTERPRETER_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        return module.Interpreter, module_name.split(".")[0]
    raise UserError("no TFLite interpreter found: pip install ai-edge-litert (or tflite-runtime on old Pythons)")


def _quantisation(detail: dict[str, Any]) -> tuple[float, int]:
    scale, zero_point = detail["quantization"]
    return float(scale), int(zero_point)


class Classifier:
    """One TFLite model and its contract; `predict` maps uint8 face crops to class probabilities."""

    def __init__(self, model_path: str | os.PathLike, contract: Contract, threads: int | None = None) -> None:
        """`threads`: the interpreter's; None is `default_threads()`."""
        path = Path(model_path)
        threads = threads or default_threads()
        if not path.is_file():
            raise UserError(f"{path}: model file not found")
        interpreter_class, self.runtime = find_interpreter()
        try:
            with quiet_stderr():  # LiteRT's "Created TensorFlow Lite XNNPACK delegate" line on every start
                self.interpreter = interpreter_class(model_path=str(path), num_threads=threads)
                self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise UserError(f"{path}: not a loadable TFLite model ({str(exc).splitlines()[0][:100]})") from None
        self.path, self.contract = path, contract
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        shape = [int(n) for n in self.input["shape"][1:]]
        if shape != list(contract.input_shape):
            raise UserError(f"{path}: model input {shape} does not match its contract's {contract.input_shape}")
        classes = int(self.output["shape"][-1])
        if classes != contract.num_classes:
            raise UserError(f"{path}: model has {classes} outputs but its contract lists {contract.num_classes} labels")
        self.input_dtype = np.dtype(self.input["dtype"])
        self.output_dtype = np.dtype(self.output["dtype"])
        self.input_quant = _quantisation(self.input)
        self.batch = 1
        self.output_quant = _quantisation(self.output)

    @property
    def quantised(self) -> bool:
        return self.input_dtype != np.float32

    def prepare(self, faces: np.ndarray) -> np.ndarray:
        """uint8 crops (N, H, W) or (N, H, W, 3) to the model's input tensor values, quantised if int8."""
        return self.quantise(self.contract.tensor(faces))

    def quantise(self, values: np.ndarray) -> np.ndarray:
        """Normalised inputs (N, H, W, C) as the model's input tensor: as they are for float32, quantised for int8."""
        if not self.quantised:
            return values
        scale, zero_point = self.input_quant
        info = np.iinfo(self.input_dtype)
        return np.clip(np.round(values / scale) + zero_point, info.min, info.max).astype(self.input_dtype)

    def invoke(self, tensor: np.ndarray) -> np.ndarray:
        """Prepared inputs (N, H, W, C) to float probabilities (N, C); the batch size follows the input."""
        if tensor.shape[0] != self.batch:
            self.interpreter.resize_tensor_input(self.input["index"], list(tensor.shape))
            self.interpreter.allocate_tensors()
            self.batch = tensor.shape[0]
        self.interpreter.set_tensor(self.input["index"], tensor)
        self.interpreter.invoke()
        raw = self.interpreter.get_tensor(self.output["index"])
        if self.output_dtype == np.float32:
            return raw
        scale, zero_point = self.output_quant
        return (raw.astype(np.float32) - zero_point) * scale

    def predict(self, faces: np.ndarray) -> np.ndarray:
        """Class probabilities (N, C) for uint8 face crops, mirror-averaged if the contract says so. Crops of
        another size or colour (48x48 grayscale rows for a 112x112 RGB model) are fitted to the model first."""
        if len(faces) == 0:
            return np.zeros((0, self.contract.num_classes), dtype=np.float32)
        faces = self.contract.fit_images(faces)
        prepared = self.prepare(self.contract.with_flips(faces))
        chunks = [self.invoke(prepared[i : i + MAX_BATCH]) for i in range(0, len(prepared), MAX_BATCH)]
        return self.contract.merge_flips(np.concatenate(chunks))


# Ops whose multiply-adds are counted: per output value, the filter's size over the input it reads.
_WEIGHTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def multiply_adds(model_path: str | os.PathLike) -> int:
    """Multiply-adds of one invoke (batch 1), counted from the model's graph: convolutions, depthwise
    convolutions and dense layers (pooling, adds and activations are a few percent more). Unlike a time it is
    the same on every machine, so it is what the zoo reports beside a time measured on one."""
    interpreter_class, runtime = find_interpreter()
    module = importlib.import_module(f"{runtime}.interpreter" if runtime != "tensorflow" else "tensorflow.lite")
    resolver = getattr(module, "OpResolverType", None) or module.experimental.OpResolverType
    with quiet_stderr():  # without XNNPACK, which would hide the graph's ops inside one delegate node
        interpreter = interpreter_class(
            model_path=str(model_path),
            experimental_op_resolver_type=resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        )
        interpreter.allocate_tensors()
    shapes = {detail["index"]: detail["shape"] for detail in interpreter.get_tensor_details()}
    total = 0
    for op in interpreter._get_ops_details():  # the graph's ops and their tensors; no public API lists them
        if op["op_name"] not in _WEIGHTED_OPS:
            continue
        outputs = int(np.prod(shapes[op["outputs"][0]]))
        weights = shapes[op["inputs"][1]]
        if op["op_name"] == "CONV_2D":
            total += outputs * int(np.prod(weights[1:]))  # [out, kh, kw, in]
        elif op["op_name"] == "DEPTHWISE_CONV_2D":
            total += outputs * int(weights[1] * weights[2])  # [1, kh, kw, channels]
        else:
            total += outputs * int(weights[-1])  # [out, in]
    return total


def delegate_partitions(model_path: str | os.PathLike) -> dict[str, Any]:
    """How the model's graph runs under LiteRT's default XNNPACK delegate: the number of partitions it takes, and
    the ops it leaves to the reference kernels, by name (those between partitions: every tensor they read comes
    from a partition or the graph's input, and every one they write goes to a partition or the graph's output).

    Why: one partition means the whole graph runs in XNNPACK's optimised kernels; every op outside it runs in
    LiteRT's slower reference kernels and costs a hand-over each way (face-api's int8 graph: 9 partitions around
    8 RELUs that the converter left unfused)."""
    interpreter_class, _ = find_interpreter()
    with quiet_stderr():
        interpreter = interpreter_class(model_path=str(model_path), num_threads=1)
        interpreter.allocate_tensors()
    ops = interpreter._get_ops_details()
    delegates = [op for op in ops if op["op_name"] == "DELEGATE"]
    produced = {t for op in delegates for t in op["outputs"]} | {d["index"] for d in interpreter.get_input_details()}
    consumed = {t for op in delegates for t in op["inputs"]} | {d["index"] for d in interpreter.get_output_details()}
    outside: dict[str, int] = {}
    for op in ops:
        if op["op_name"] == "DELEGATE" or not delegates:
            continue
        reads = [t for t in op["inputs"] if t in produced]
        writes = list(op["outputs"])
        if reads and all(t in consumed and t not in produced for t in writes):
            outside[op["op_name"]] = outside.get(op["op_name"], 0) + 1
    return {"partitions": len(delegates), "outside": dict(sorted(outside.items()))}


AUTO = "auto"  # --precision auto: the faster of the folder's models on this CPU, timed once at load
PRECISION_CHOICES = (AUTO, *PRECISIONS)
_CHOSEN: dict[tuple, tuple[str, dict[str, float]]] = {}  # open_model's choices in this process
AUTO_ROUNDS = 3  # alternating rounds of AUTO_CALLS timed calls each, after one warm-up call
AUTO_CALLS = 5


def fastest(classifiers: dict[str, Classifier]) -> tuple[str, dict[str, float]]:
    """The precision whose model answers one face fastest on this CPU, and each one's median milliseconds.

    Why at load and not from a table: which precision is faster depends on the model and the CPU (face-api's
    network is 3x faster in float32 on an AVX2 CPU without 8-bit dot products; a CNN of plain 3x3 convolutions is
    faster in int8 on a CPU with VNNI), and a Pi differs from the machine that converted the model. Timing both
    costs a few dozen invokes (well under a second for the zoo's models), in alternating rounds so a burst of
    other work on the machine does not favour one."""
    samples: dict[str, list[float]] = {name: [] for name in classifiers}
    tensors = {}
    for name, classifier in classifiers.items():
        height, width = classifier.contract.image_size
        face = np.zeros((1, height, width, *(() if classifier.contract.channels == 1 else (3,))), dtype=np.uint8)
        tensors[name] = classifier.prepare(face)
        classifier.invoke(tensors[name])
    for _ in range(AUTO_ROUNDS):
        for name, classifier in classifiers.items():
            for _ in range(AUTO_CALLS):
                started = time.perf_counter()
                classifier.invoke(tensors[name])
                samples[name].append(time.perf_counter() - started)
    medians = {name: float(np.median(times)) * 1000 for name, times in samples.items()}
    return min(medians, key=medians.__getitem__), medians


def open_model(
    model: str | os.PathLike | None, precision: str = AUTO, threads: int | None = None
) -> tuple[Classifier, dict[str, float]]:
    """The classifier of a model at `precision`; with `auto` (the default) the faster of its models on this CPU
    (`fastest`), and the milliseconds each took (empty when there was no choice to make)."""
    if precision not in PRECISION_CHOICES:
        raise ValueError(f"precision {precision!r} is not one of {', '.join(PRECISION_CHOICES)}")
    if precision != AUTO:
        path, contract = resolve_model(model, precision)
        return Classifier(path, contract, threads=threads), {}
    present, contract = resolve_models(model)
    classifiers = {name: Classifier(path, contract, threads=threads) for name, path in present.items()}
    if len(classifiers) == 1:
        return next(iter(classifiers.values())), {}
    # Timed once per process for the same files and threads: two pipelines of one program run the same model.
    key = (tuple((name, str(path), file_sha256(path)) for name, path in sorted(present.items())), threads)
    if key not in _CHOSEN:
        _CHOSEN[key] = fastest(classifiers)
    chosen, timings = _CHOSEN[key]
    return classifiers[chosen], timings
