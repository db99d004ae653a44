"""Per-face classification latency and interpreter memory, for each model file and thread count."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from edge.classifier import Classifier
from edge.common.timing import percentiles
from edge.contract import Contract

MEMORY_PROBE = """
import json, resource, sys
import numpy as np
from edge.classifier import Classifier, find_interpreter
from edge.contract import Contract

def rss_mb():
    # Current resident memory (Linux); ru_maxrss is a high-water mark the imports may already have set.
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

find_interpreter()
before = rss_mb()
classifier = Classifier(sys.argv[1], Contract.load(sys.argv[2]), threads=1)
classifier.predict(np.zeros((4, 48, 48), np.uint8))
after = rss_mb()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"peak_rss_mb": peak, "interpreter_mb": after - before}))
"""


def interpreter_memory(model: Path, contract_dir: Path) -> dict:
    """Peak resident memory added by loading and running the interpreter, measured in a fresh process."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(model), str(contract_dir)],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    return {k: round(v, 1) for k, v in json.loads(result.stdout.splitlines()[-1]).items()}


def time_calls(call, repeats: int) -> list[float]:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def summarise(samples: list[float]) -> dict:
    return {
        **percentiles(samples, digits=4),
        "mean_ms": round(float(np.mean(samples)), 4),
        "n": len(samples),
    }


def random_face(contract: Contract | None = None) -> np.ndarray:
    """The one face every latency figure is timed on: uint8 noise in the model's input size and colour ((1, 48, 48)
    for FER-2013's models, (1, 112, 112, 3) for face-api's), the same in every run; the crop the edge cuts."""
    height, width = contract.image_size if contract else (48, 48)
    colour = (3,) if contract and contract.channels == 3 else ()
    return np.random.default_rng(0).integers(0, 256, size=(1, height, width, *colour), dtype=np.uint8)


def warmed(classifier: Classifier, face: np.ndarray, warmup: int = 20) -> Classifier:
    """The classifier after `warmup` predictions, so first-call costs stay out of the figures."""
    for _ in range(warmup):
        classifier.predict(face)
    return classifier


def model_latency(
    models: dict[str, Path], contract: Contract, thread_counts: list[int], rounds: int, repeats: int, warmup: int = 20
) -> dict:
    """Alternating rounds over every (model, threads): per-face latency including preprocessing and, if the
    contract asks for it, the mirror image; also a bare single `invoke` for comparison with other tools."""
    face = random_face(contract)
    classifiers = {
        (name, threads): warmed(Classifier(path, contract, threads=threads), face, warmup)
        for name, path in models.items()
        for threads in thread_counts
    }
    per_face: dict = {key: [] for key in classifiers}
    invoke: dict = {key: [] for key in classifiers}
    for _ in range(rounds):
        for key, classifier in classifiers.items():
            per_face[key] += time_calls(lambda c=classifier: c.predict(face), repeats)
            tensor = classifier.prepare(face)
            invoke[key] += time_calls(lambda c=classifier, t=tensor: c.invoke(t), repeats)
    results: dict = {}
    for (name, threads), samples in per_face.items():
        results.setdefault(name, {})[f"threads_{threads}"] = {
            "per_face": summarise(samples),
            "invoke": summarise(invoke[(name, threads)]),
        }
    return results
