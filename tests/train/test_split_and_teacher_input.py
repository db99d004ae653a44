"""Distillation from a teacher whose input differs from the student's, and `--split-by`'s division of a class
group's target by another teacher."""

from __future__ import annotations

import numpy as np

from edge.classifier import Classifier
from edge.contract import INPUT_SHAPE, Contract
from edge.model_folder import INT8_FILE, MODEL_NAMES
from train.distill import BatchTeacher, split_within


def test_split_within_keeps_the_groups_mass_and_takes_the_judges_share() -> None:
    targets = np.array([[0.1, 0.0, 0.0, 0.2, 0.0, 0.0, 0.7], [0.5, 0.5, 0, 0, 0, 0, 0]], dtype=np.float32)
    judge = np.array([[0, 0, 0, 0.6, 0.1, 0, 0.2], [0, 0, 0, 0, 0, 1.0, 0]], dtype=np.float32)
    out = split_within(targets, judge, [3, 6])  # Happy, Neutral
    np.testing.assert_allclose(out[0], [0.1, 0, 0, 0.9 * 0.75, 0, 0, 0.9 * 0.25], rtol=1e-6)
    np.testing.assert_allclose(out[1], targets[1])  # no mass on the group: nothing to divide
    np.testing.assert_allclose(out.sum(1), targets.sum(1), rtol=1e-6)


def test_a_colour_teacher_judges_the_gray_view_the_student_sees() -> None:
    folder = MODEL_NAMES["faceapi"]
    student = Contract(architecture="student", input_shape=list(INPUT_SHAPE))
    teacher = BatchTeacher(folder, student)
    assert not teacher.same_input
    pixels = np.random.default_rng(0).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    batch = student.tensor(pixels)  # what FerBatches gives the teacher: normalised, (N, 48, 48, 1)
    got = teacher(batch)
    contract = Contract.load(folder)
    contract.flip_average = True
    expected = Classifier(folder / INT8_FILE, contract).predict(pixels)
    assert got.shape == (4, 7)
    np.testing.assert_allclose(got, expected, atol=1e-6)
