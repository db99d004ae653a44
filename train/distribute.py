"""`--distribute data-parallel`: one global batch split across every device, through Keras 3's distribution API.

JAX backend only (`KERAS_BACKEND=jax`): `keras.distribution.DataParallel` places a copy of the model on every
device and shards each batch along its first axis; gradients and BatchNorm statistics are reduced over the whole
global batch, so a run gives the same result as on one device up to float rounding (and may resume on another
machine). Several hosts join through `keras.distribution.initialize()`, which reads Keras's standard variables
KERAS_DISTRIBUTION_JOB_ADDRESSES (the coordinator's host:port), KERAS_DISTRIBUTION_NUM_PROCESSES and
KERAS_DISTRIBUTION_PROCESS_ID; each process then feeds its own slice of every global batch.

Every check here runs before any training: the backend, the variables, and a batch size that divides evenly.
A process other than 0 first waits for the coordinator to accept a connection, for at most COORDINATOR_TIMEOUT_S,
and says so in one line if it never does (JAX itself aborts the process with a C++ stack trace); JAX's own wait
for every process to join is bounded by the same time.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from dataclasses import dataclass

import numpy as np

from edge.common.errors import UserError
from edge.common.quiet import quiet_native

CHOICES = ("none", "data-parallel")
NUM_PROCESSES = "KERAS_DISTRIBUTION_NUM_PROCESSES"
PROCESS_ID = "KERAS_DISTRIBUTION_PROCESS_ID"
JOB_ADDRESSES = "KERAS_DISTRIBUTION_JOB_ADDRESSES"
COORDINATOR_TIMEOUT_S = 300  # JAX's own default for initialization_timeout


@dataclass(frozen=True)
class Devices:
    """The devices of every process taking part, and which process this one is."""

    names: list[str]
    processes: int = 1
    process: int = 0

    @property
    def shard(self) -> tuple[int, int]:
        """(this process, processes): which slice of each global batch this process feeds."""
        return self.process, self.processes


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit():
        raise UserError(f"{name}={text!r} is not an integer >= 0")
    return int(text)


def coordinator_address(processes: int) -> str:
    """Process 0's HOST:PORT from KERAS_DISTRIBUTION_JOB_ADDRESSES (its first entry), checked as Keras would not."""
    text = os.environ.get(JOB_ADDRESSES, "").strip()
    if not text:
        raise UserError(
            f"{NUM_PROCESSES}={processes} needs {JOB_ADDRESSES}=HOST:PORT, the address of process 0 (the coordinator)"
        )
    addresses = [address.strip() for address in text.split(",")]
    if len(addresses) > 1 and len(addresses) != processes:
        raise UserError(
            f"{JOB_ADDRESSES}={text!r} lists {len(addresses)} addresses but {NUM_PROCESSES}={processes}; give one"
            " per process, or only the coordinator's"
        )
    host, _, port = addresses[0].rpartition(":")
    if not host.strip("[]") or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(
            f"{JOB_ADDRESSES}={text!r}: the coordinator's address must be HOST:PORT, with a port from 1 to 65535"
        )
    return addresses[0]


def wait_for_coordinator(address: str, timeout: float) -> None:
    """Return once process 0 accepts connections at `address`; one line if it does not within `timeout` seconds."""
    host, _, port = address.rpartition(":")
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=max(0.1, min(5.0, timeout))):
                return
        except socket.gaierror as exc:
            raise UserError(f"{JOB_ADDRESSES}={address!r}: cannot resolve the host ({exc.strerror})") from None
        except OSError:
            if time.monotonic() >= deadline:
                raise UserError(
                    f"{JOB_ADDRESSES}={address!r}: the coordinator (process 0) did not answer in {timeout:g} s;"
                    " start it first, or check the address and the firewall"
                ) from None
            time.sleep(0.25)


def devices_for(mode: str, batch_size: int, quiet: bool = True) -> Devices | None:
    """The devices to split batches across, or None to train as usual; refuses what cannot work, in one line.

    One device in all falls back to an ordinary run with a note on stderr, so a recipe written for a
    multi-GPU machine still runs (with the same result) on a laptop.
    """
    if mode == "none":
        return None
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if backend != "jax":
        raise UserError(f"--distribute {mode} needs the JAX backend (this is {backend}); run with KERAS_BACKEND=jax")
    processes, process = _env_int(NUM_PROCESSES, 1), _env_int(PROCESS_ID, 0)
    if processes < 1 or process >= processes:
        raise UserError(f"{PROCESS_ID}={process} must be below {NUM_PROCESSES}={processes}")
    if batch_size % processes:
        raise UserError(f"--batch-size {batch_size} cannot be split evenly across {processes} processes")
    address = coordinator_address(processes) if processes > 1 else ""
    with quiet_native(quiet):  # what JAX's start-up prints
        import keras

        if processes > 1:
            _join(address, processes, process)
        names = keras.distribution.list_devices()
    if batch_size % len(names):
        raise UserError(
            f"--batch-size {batch_size} cannot be split evenly across {len(names)} devices"
            f" ({', '.join(names)}); use a multiple of {len(names)}"
        )
    if len(names) == 1:
        print(f"--distribute {mode}: one device ({names[0]}), so this is an ordinary run", file=sys.stderr)
        return None
    where = f" in {processes} processes" if processes > 1 else ""
    print(
        f"--distribute {mode}: each batch of {batch_size} split across {len(names)} devices{where}"
        f" ({', '.join(names)})",
        file=sys.stderr,
    )
    return Devices(names, processes, process)


def _join(address: str, processes: int, process: int) -> None:
    """What `keras.distribution.initialize()` does on JAX, with the address checked and the waits bounded.

    Keras's own call would also agree on a random seed across processes; `train.fit` sets the seed on each.
    """
    import jax

    started = time.monotonic()
    if process != 0:
        wait_for_coordinator(address, COORDINATOR_TIMEOUT_S)
    left = max(1, round(COORDINATOR_TIMEOUT_S - (time.monotonic() - started)))
    jax.distributed.initialize(
        coordinator_address=address, num_processes=processes, process_id=process, initialization_timeout=left
    )


def padded_validation(
    x: np.ndarray, y: np.ndarray, devices: Devices | None
) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validation data whose last batch still splits evenly across the devices.

    JAX cannot shard a batch unevenly, so rows of weight 0 fill the last batch: they leave val_accuracy (which
    picks the best epoch) exact; val_loss counts them in its denominator, at most devices-1 rows in all.
    """
    if devices is None or len(x) % len(devices.names) == 0:
        return x, y
    pad = len(devices.names) - len(x) % len(devices.names)
    weights = np.concatenate([np.ones(len(x), np.float32), np.zeros(pad, np.float32)])
    fill = np.arange(pad) % len(x)
    return np.concatenate([x, x[fill]]), np.concatenate([y, y[fill]]), weights
