"""User messages show plain strings, never numpy's reprs (`np.str_('NF')`)."""

from __future__ import annotations

from pathlib import Path

from tests.synthetic import write_csv, write_votes
from train.data import apply_ferplus7, load_fer_csv


def test_ferplus_dropped_rows_note_names_plain_labels(tmp_path: Path) -> None:
    data = load_fer_csv(write_csv(tmp_path / "f.csv", {"Training": 3}))
    votes = write_votes(
        tmp_path / "fer2013new.csv",
        [
            "Training,a,0,9,1,0,0,0,0,0,0,0",
            "Training,b,0,0,0,0,0,0,0,8,2,0",  # contempt -> dropped
            "Training,c,0,0,0,0,0,0,0,0,0,10",  # not a face -> dropped
        ],
    )
    apply_ferplus7(data, votes)
    note = data.notes[-1]
    assert "np." not in note and "str_" not in note
    assert note.endswith("dropped 2 rows {'NF': 1, 'contempt': 1}"), note
