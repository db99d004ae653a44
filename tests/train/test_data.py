"""The FER-2013 loader: good files load, every kind of bad row is named by its line."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.common.errors import UserError
from edge.contract import FERPLUS_LABELS, LABELS
from tests.conftest import REAL_DATA, error_lines, requires_real_data, run_module
from tests.synthetic import synthetic_images, write_csv, write_votes
from train.data import apply_ferplus, apply_ferplus7, hold_out_validation, load_fer_csv

GOOD_PIXELS = " ".join(["7"] * 2304)


def csv_with(tmp_path: Path, rows: list[str], header: str = "emotion,pixels,Usage") -> Path:
    path = tmp_path / "fer.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_good_file_loads_every_split(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "f.csv", {"Training": 14, "PublicTest": 7, "PrivateTest": 7})
    data = load_fer_csv(path)
    assert data.images.shape == (28, 48, 48) and data.images.dtype == np.uint8
    assert data.splits == ["Training", "PublicTest", "PrivateTest"]
    assert data.class_counts("Training") == [2] * 7
    first = data.split("Training")[0][0]
    assert np.array_equal(first, synthetic_images(np.array([0]), 0)[0])


def test_gzip_and_plain_load_the_same(tmp_path: Path) -> None:
    plain = write_csv(tmp_path / "f.csv", {"Training": 10})
    packed = tmp_path / "f.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert np.array_equal(load_fer_csv(plain).images, load_fer_csv(packed).images)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("0," + " ".join(["7"] * 2303) + ",Training", "2303 pixel values, expected 2304"),
        ("0," + " ".join(["7"] * 2303) + " 256,Training", "pixel value 256 out of range 0..255"),
        ("0," + " ".join(["7"] * 2303) + " -1,Training", "pixel value '-1' is not a non-negative integer"),
        ("0," + " ".join(["7"] * 2303) + " 1.5,Training", "pixel value '1.5' is not a non-negative integer"),
        ("0," + " ".join(["7"] * 2303) + " x,Training", "pixel value 'x' is not a non-negative integer"),
        ("7," + GOOD_PIXELS + ",Training", "emotion '7' is not a label 0..6"),
        ("happy," + GOOD_PIXELS + ",Training", "emotion 'happy' is not a label 0..6"),
        ("3," + GOOD_PIXELS + ",Testing", "Usage 'Testing' is not one of Training, PublicTest, PrivateTest"),
    ],
)
def test_bad_row_is_named_by_line(tmp_path: Path, row: str, message: str) -> None:
    good = f"3,{GOOD_PIXELS},Training"
    path = csv_with(tmp_path, [good, good, row, good])
    with pytest.raises(UserError) as error:
        load_fer_csv(path)
    assert str(error.value) == f"{path} line 4: {message}"


def test_skip_bad_rows_drops_and_reports(tmp_path: Path) -> None:
    good = f"3,{GOOD_PIXELS},Training"
    path = csv_with(tmp_path, [good, "9," + GOOD_PIXELS + ",Training", good, "1,1 2 3,Training"])
    data = load_fer_csv(path, skip_bad_rows=True)
    assert len(data) == 2
    assert [(b.line, b.reason) for b in data.skipped] == [
        (3, "emotion '9' is not a label 0..6"),
        (5, "3 pixel values, expected 2304"),
    ]
    assert data.lines.tolist() == [2, 4]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"emotion,pixels,Usage\n", "no usable rows"),
        (b"label,image\n1,2\n", "missing column(s) emotion, pixels"),
        (bytes(range(256)) * 8, "not a readable CSV"),
    ],
)
def test_bad_files_give_one_line_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_fer_csv(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="file not found"):
        load_fer_csv(tmp_path / "nope.csv")


def test_cli_reports_bad_row_with_exit_code_2(tmp_path: Path) -> None:
    good = f"3,{GOOD_PIXELS},Training"
    path = csv_with(tmp_path, [good] * 1039 + ["0," + " ".join(["7"] * 2303) + ",Training"])
    result = run_module("train", "parse", "--data", str(path))
    assert result.returncode == 2
    assert error_lines(result.stderr) == [f"train: error: {path} line 1041: 2303 pixel values, expected 2304"]


def test_no_usage_column_gets_stratified_validation(tmp_path: Path) -> None:
    data = load_fer_csv(write_csv(tmp_path / "f.csv", {"x": 700}, usage_column=False))
    hold_out_validation(data, fraction=0.1, seed=3)
    assert data.class_counts("Validation") == [10] * 7
    assert data.class_counts("Training") == [90] * 7


def test_ferplus_majority_relabels_and_drops(tmp_path: Path) -> None:
    data = load_fer_csv(write_csv(tmp_path / "f.csv", {"Training": 4}))
    votes = write_votes(
        tmp_path / "fer2013new.csv",
        [
            "Training,a,0,9,1,0,0,0,0,0,0,0",  # happiness -> 3
            "Training,b,0,0,0,0,0,0,0,8,2,0",  # contempt -> dropped
            "Training,c,0,0,0,0,0,0,0,0,0,10",  # not a face -> dropped
            "Training,d,6,0,0,4,0,0,0,0,0,0",  # neutral -> 6
        ],
    )
    apply_ferplus7(data, votes)
    assert data.labels.tolist() == [3, 6]
    assert data.lines.tolist() == [2, 5]
    assert data.class_names == LABELS and data.votes is None


def test_ferplus_eight_labels_follow_the_ferplus_majority_rule(tmp_path: Path) -> None:
    data = load_fer_csv(write_csv(tmp_path / "f.csv", {"Training": 6}))
    votes = write_votes(
        tmp_path / "fer2013new.csv",
        [
            "Training,a,0,0,0,0,0,0,0,8,2,0",  # contempt, a class of its own among eight
            "Training,b,5,5,0,0,0,0,0,0,0,0",  # a tie has no majority: dropped
            "Training,c,4,0,0,3,1,1,1,0,0,0",  # single votes dropped as outliers: neutral has 4 of 7
            "Training,d,4,0,0,3,0,0,0,0,3,0",  # 4 of 10 is no majority: dropped
            "Training,e,0,0,0,0,0,0,0,0,3,7",  # not a face: dropped
            "Training,f,0,1,7,0,0,0,0,0,2,0",  # surprise
        ],
    )
    apply_ferplus(data, votes)
    assert data.class_names == FERPLUS_LABELS
    assert [data.class_names[i] for i in data.labels] == ["Contempt", "Neutral", "Surprise"]
    assert data.lines.tolist() == [2, 4, 7]
    np.testing.assert_allclose(data.votes[1], [4 / 7, 0, 0, 3 / 7, 0, 0, 0, 0])
    np.testing.assert_allclose(data.votes[2], [0, 0, 1, 0, 0, 0, 0, 0])
    assert data.class_counts("Training") == [1, 0, 1, 0, 0, 0, 0, 1]


def test_ferplus_votes_that_are_not_counts_name_their_line(tmp_path: Path) -> None:
    data = load_fer_csv(write_csv(tmp_path / "f.csv", {"Training": 2}))
    votes = write_votes(
        tmp_path / "fer2013new.csv",
        [
            "Training,a,0,9,1,0,0,0,0,0,0,0",
            "Training,b,0,x,1,0,0,0,0,0,0,0",
        ],
    )
    with pytest.raises(UserError, match=r"^.*fer2013new.csv line 3: vote counts must be numbers >= 0$"):
        apply_ferplus(data, votes)


def test_line_numbers_count_blank_lines_and_quoted_line_breaks(tmp_path: Path) -> None:
    """A bad row's line number counts blank lines and line breaks inside quoted fields."""
    good = f"3,{GOOD_PIXELS},Training"
    spanning = '3,"' + " ".join(["7"] * 1000) + "\n" + " ".join(["7"] * 1304) + '",Training'
    bad = "9," + GOOD_PIXELS + ",Training"
    path = tmp_path / "f.csv"
    path.write_text("\n".join(["emotion,pixels,Usage", good, "", good, spanning, "", "", good, bad]) + "\n")
    #                   line:  1                       2     3   4     5-6       7   8   9     10
    with pytest.raises(UserError, match=r"f.csv line 10: emotion '9' is not a label"):
        load_fer_csv(path)
    data = load_fer_csv(path, skip_bad_rows=True)
    assert data.lines.tolist() == [2, 4, 5, 9]
    assert [b.line for b in data.skipped] == [10]


def test_cli_names_the_real_line_after_a_blank_line(tmp_path: Path) -> None:
    good = f"3,{GOOD_PIXELS},Training"
    path = csv_with(tmp_path, [good] * 98 + ["", "0,1 2 3,Training"])
    result = run_module("train", "parse", "--data", str(path))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"train: error: {path} line 101: 3 pixel values, expected 2304"]


pixel_token = st.one_of(st.integers(0, 255).map(str), st.sampled_from(["256", "-3", "a", "2.5", "999"]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    labels=st.lists(st.integers(-1, 8), min_size=1, max_size=6),
    corrupt=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 2303), pixel_token), max_size=3),
    drop=st.lists(st.integers(0, 5), max_size=2),
    blank_before=st.lists(st.integers(0, 2), min_size=6, max_size=6),
    spans=st.lists(st.booleans(), min_size=6, max_size=6),
)
def test_parser_matches_a_slow_reference(tmp_path: Path, labels, corrupt, drop, blank_before, spans) -> None:
    """Whatever the rows, the loader either returns exactly the good rows or names the first bad line, counted
    as an editor would: blank lines and line breaks inside quoted fields included (the reference is Python's csv)."""
    rows = [[str(v) for v in (np.arange(2304) * (i + 1)) % 256] for i in range(len(labels))]
    for row, position, token in corrupt:
        if row < len(rows):
            rows[row][position] = token
    for row in drop:
        if row < len(rows):
            rows[row] = rows[row][:-1]
    lines = []
    for i, (label, r) in enumerate(zip(labels, rows, strict=True)):
        pixels = " ".join(r)
        if spans[i] and len(r) > 2:  # the same pixels, quoted, with a line break in place of one space
            pixels = '"' + " ".join(r[:2]) + "\n" + " ".join(r[2:]) + '"'
        lines += [""] * blank_before[i] + [f"{label},{pixels},Training"]
    path = csv_with(tmp_path, lines)
    with open(path, newline="") as f:
        reader = csv.reader(f)
        next(reader)
        starts = [reader.line_num - row[1].count("\n") for row in reader if row]  # blank lines read as []

    def row_ok(label: int, r: list[str]) -> bool:
        return 0 <= label < len(LABELS) and len(r) == 2304 and all(t.isdigit() and int(t) <= 255 for t in r)

    bad_lines = [starts[i] for i, (label, r) in enumerate(zip(labels, rows, strict=True)) if not row_ok(label, r)]
    if bad_lines:
        with pytest.raises(UserError, match=f"line {bad_lines[0]}:"):
            load_fer_csv(path)
    else:
        data = load_fer_csv(path)
        assert data.labels.tolist() == labels
        assert data.images.reshape(len(rows), -1).tolist() == [[int(t) for t in r] for r in rows]


@requires_real_data
def test_real_file_counts() -> None:
    data = load_fer_csv(REAL_DATA)
    assert data.class_counts("Training") == [3995, 436, 4097, 7215, 4830, 3171, 4965]
    assert data.class_counts("PublicTest") == [467, 56, 496, 895, 653, 415, 607]
