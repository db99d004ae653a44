"""The training input pipeline: augmentation in numpy/OpenCV, outside the saved inference graph.

A `keras.utils.PyDataset` works with every Keras backend. Batches are always full (the remainder is
dropped): TensorFlow's oneDNN CPU kernels have been seen to crash on odd-sized last batches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import keras
import numpy as np

from edge.contract import Contract
from train.data import centre_crops


@dataclass(frozen=True)
class AugmentConfig:
    flip: bool = True
    max_rotation_deg: float = 10.0
    max_shift: float = 0.1
    max_zoom: float = 0.1
    erase_prob: float = 0.25
    mixup_alpha: float = 0.0
    camera: bool = False  # also degrade like a real camera: blur, JPEG, exposure, noise (`camera_degrade`)

    @classmethod
    def for_camera(cls, mixup_alpha: float = 0.0) -> AugmentConfig:
        """Wider framing jitter (any detector's box, any margin) plus the camera degradations."""
        return cls(max_zoom=0.2, max_shift=0.12, mixup_alpha=mixup_alpha, camera=True)

    @classmethod
    def off(cls) -> AugmentConfig:
        return cls(flip=False, max_rotation_deg=0.0, max_shift=0.0, max_zoom=0.0, erase_prob=0.0)


def class_weights(labels: np.ndarray, num_classes: int, mode: str) -> np.ndarray:
    """Per-class loss weights: `balanced` (inverse frequency), `sqrt` (its square root, gentler) or `none`."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    if mode == "none":
        return np.ones(num_classes, dtype=np.float32)
    inverse = np.where(counts > 0, len(labels) / (num_classes * np.maximum(counts, 1)), 0.0)
    weights = inverse if mode == "balanced" else np.sqrt(inverse)
    return (weights / np.average(weights, weights=counts)).astype(np.float32)


def camera_degrade(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What a webcam or IP camera does to a face (gray or colour) that FER-2013's crops rarely show: focus blur,
    JPEG blocks, exposure (brightness, contrast, gamma) and sensor noise, each applied to some images only."""
    out = image
    if rng.random() < 0.3:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.4, 1.2))
    if rng.random() < 0.5:
        gamma = np.exp(rng.uniform(-0.4, 0.4))
        contrast, brightness = rng.uniform(0.7, 1.3), rng.uniform(-25, 25)
        values = 255.0 * (out / 255.0) ** gamma
        out = np.clip((values - 128) * contrast + 128 + brightness, 0, 255).astype(np.uint8)
    if rng.random() < 0.2:
        out = np.clip(out + rng.normal(0, rng.uniform(2, 8), out.shape), 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        quality = int(rng.integers(30, 90))
        out = cv2.imdecode(cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_UNCHANGED)
    return out


def augment_batch(
    images: np.ndarray, config: AugmentConfig, rng: np.random.Generator, contract: Contract, context: float = 1.0
) -> np.ndarray:
    """Random flip, rotation, shift and zoom (one affine warp per image: the zoom and shift also stand for another
    detector's framing), camera degradations if asked, and random erasing, on uint8 images.

    The warp also makes the model's crop: stored images of any size (FER-2013's 48 px rows for a 112 px model) or
    stored with `context` times the crop around it (photos, `train.photos.CONTEXT`) come out in the model's size
    and colour, the zoom taking real pixels from the margin where there is one."""
    size = contract.image_size[0]
    out = np.empty((len(images), size, size, *(() if contract.channels == 1 else (3,))), dtype=np.uint8)
    stored = images.shape[1]
    base = size * context / stored  # output pixels per stored pixel, before the zoom
    centre_in, centre_out = (stored - 1) / 2, (size - 1) / 2
    for i, image in enumerate(images):
        angle = rng.uniform(-config.max_rotation_deg, config.max_rotation_deg)
        scale = base * (1.0 + rng.uniform(-config.max_zoom, config.max_zoom))
        matrix = cv2.getRotationMatrix2D((centre_in, centre_in), angle, scale)
        matrix[:, 2] += centre_out - centre_in + rng.uniform(-config.max_shift, config.max_shift, size=2) * size
        if config.flip and rng.random() < 0.5:
            matrix[0] = -matrix[0]
            matrix[0, 2] += size - 1
        view = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        if config.camera:
            view = camera_degrade(view, rng)
        out[i] = contract.fit_images(view[None])[0]
        if rng.random() < config.erase_prob:
            h, w = rng.integers(size // 8, size // 3, size=2)
            y, x = rng.integers(0, size - h), rng.integers(0, size - w)
            patch = out[i, y : y + h, x : x + w]
            out[i, y : y + h, x : x + w] = rng.integers(0, 256, size=patch.shape, dtype=np.uint8)
    return out


class FerBatches(keras.utils.PyDataset):
    """Shuffled, optionally augmented batches of (normalised images, target probabilities, sample weights).

    Targets are one-hot labels, or a blend with a teacher's probabilities for distillation; with `teacher` (a
    callable on normalised batches, `train.distill.BatchTeacher`) its answer on each augmented batch takes
    `teacher_weight` of every target. `labels` (the hard classes) choose each row's class weight. With
    `shard=(i, n)` this process of n training together feeds the i-th slice of every global batch of
    `batch_size`, cut after augmentation and mixup so the global batch is the one a single process would make.
    """

    def __init__(
        self,
        images: np.ndarray,
        targets: np.ndarray,
        labels: np.ndarray,
        contract: Contract,
        batch_size: int,
        weights: np.ndarray | None = None,
        augment: AugmentConfig | None = None,
        seed: int = 0,
        shard: tuple[int, int] = (0, 1),
        teacher: Callable[[np.ndarray], np.ndarray] | None = None,
        teacher_weight: float = 0.0,
        context: float = 1.0,
        shares: np.ndarray | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if len(images) < batch_size:
            raise ValueError(f"{len(images)} training images is fewer than one batch of {batch_size}")
        self.images, self.targets, self.labels, self.contract = images, targets, labels, contract
        self.batch_size, self.augment, self.seed, self.shard = batch_size, augment, seed, shard
        self.teacher, self.teacher_weight = teacher, teacher_weight
        self.context, self.shares = context, shares
        self.class_weight = weights if weights is not None else np.ones(contract.num_classes, dtype=np.float32)
        self.rows_per_epoch = len(images) if shares is None else max(batch_size, round(float(shares.sum())))
        self.epoch = 0
        self.order = self._order(0)

    def _order(self, epoch: int) -> np.ndarray:
        """The rows of an epoch, shuffled. With `shares`, each row is drawn floor(share) times plus once more with
        the remaining probability, then the draw is cut or topped up to a fixed length (Keras wants a fixed number
        of steps). Seeded by epoch, so a resumed run sees the same batches as an uninterrupted one."""
        rng = np.random.default_rng([self.seed, epoch])
        if self.shares is None:
            return rng.permutation(len(self.images))
        counts = np.floor(self.shares).astype(np.int64) + (rng.random(len(self.shares)) < self.shares % 1)
        drawn = rng.permutation(np.repeat(np.arange(len(self.images)), counts))
        if len(drawn) < self.rows_per_epoch:
            drawn = np.concatenate([drawn, rng.choice(len(self.images), self.rows_per_epoch - len(drawn))])
        return drawn[: self.rows_per_epoch]

    def __len__(self) -> int:
        return self.rows_per_epoch // self.batch_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.order = self._order(epoch)

    def on_epoch_end(self) -> None:
        self.set_epoch(self.epoch + 1)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        images, labels = self.images[rows], self.labels[rows]
        y = self.targets[rows]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        if self.augment is not None:
            images = augment_batch(images, self.augment, rng, self.contract, self.context)
        else:
            images = self.contract.fit_images(centre_crops(images, self.context))
        x = self.contract.tensor(images)
        w = self.class_weight[labels]
        if self.augment is not None and self.augment.mixup_alpha > 0:
            lam = rng.beta(self.augment.mixup_alpha, self.augment.mixup_alpha, size=(len(x), 1)).astype(np.float32)
            partner = rng.permutation(len(x))
            mix = lam.reshape(-1, *([1] * (x.ndim - 1)))
            x = mix * x + (1 - mix) * x[partner]
            y = lam * y + (1 - lam) * y[partner]
            w = lam[:, 0] * w + (1 - lam[:, 0]) * w[partner]
        index, count = self.shard
        size = len(x) // count
        part = slice(index * size, (index + 1) * size)
        x, y, w = x[part], y[part], w[part]
        if self.teacher is not None:
            y = self.teacher_weight * self.teacher(x) + (1 - self.teacher_weight) * y
        return x, y, w
