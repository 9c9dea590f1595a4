"""write_csv_atomic and read_ratings (the cell ratings CSV), checked against schemas/ratings.schema.json."""

import json
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest

from ames_batch.io import read_ratings, write_csv_atomic

SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "ratings.schema.json"

GOOD = """plate,well,field,label,sarcomerisation,directionality,source,group
exp1.ome.zarr,A/1,0,1,4,1,adult,d1
exp1.ome.zarr,A/1,0,2,1,4,ipsc,d1
exp1.ome.zarr,B/12,3,7,,2,neonatal,d2
exp1.ome.zarr,B/12,3,8,2,,,d2
"""


def _rows(table):
    rows = []
    for rec in table.to_dict(orient="records"):
        rows.append({k: (None if v is pd.NA or (isinstance(v, float) and np.isnan(v)) else
                         int(v) if isinstance(v, (np.integer,)) else v) for k, v in rec.items()})
    return rows


def test_read_good_ratings(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text(GOOD)
    t = read_ratings(path)
    assert list(t["well"]) == ["A/1", "A/1", "B/12", "B/12"]
    assert list(t["field"]) == ["0", "0", "3", "3"]
    assert t["label"].dtype == np.int64 and list(t["label"]) == [1, 2, 7, 8]
    assert str(t["sarcomerisation"].dtype) == "Int64"
    assert t["sarcomerisation"].tolist()[:2] == [4, 1] and t["sarcomerisation"].isna().tolist() == [False, False, True, False]
    assert t["directionality"].isna().tolist() == [False, False, False, True]
    assert t["source"].tolist() == ["adult", "ipsc", "neonatal", None]
    assert t["group"].tolist() == ["d1", "d1", "d2", "d2"]
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    for row in _rows(t):
        validator.validate(row)


def test_one_task_column_is_enough(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("plate,well,field,label,source\np,A/1,0,3,ipsc\n")
    t = read_ratings(path)
    assert t["source"].tolist() == ["ipsc"] and "sarcomerisation" not in t


@pytest.mark.parametrize(
    ("text", "column"),
    [
        ("plate,well,label,sarcomerisation\np,A/1,1,2\n", "field"),
        ("plate,well,field,label,group\np,A/1,0,1,g\n", "sarcomerisation"),
        ("plate,well,field,label,sarcomerisation\np,A/1,0,1,5\n", "sarcomerisation"),
        ("plate,well,field,label,directionality\np,A/1,0,1,two\n", "directionality"),
        ("plate,well,field,label,sarcomerisation\np,A/1,0,1,2.5\n", "sarcomerisation"),
        ("plate,well,field,label,source\np,A/1,0,1,fetal\n", "source"),
        ("plate,well,field,label,source\np,A/1,0,0,adult\n", "label"),
        ("plate,well,field,label,source\np,A/1,0,x,adult\n", "label"),
        ("plate,well,field,label,source\np,A1,0,1,adult\n", "well"),
        ("plate,well,field,label,source\np,A/1,f0,1,adult\n", "field"),
        ("plate,well,field,label,source\n,A/1,0,1,adult\n", "plate"),
        ("plate,well,field,label,source\np,A/1,0,1,adult\np,A/1,0,1,ipsc\n", "label"),
    ],
)
def test_bad_ratings_name_file_and_column(tmp_path, text, column):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=rf"bad\.csv: column '{column}'"):
        read_ratings(path)


def test_bad_value_message_gives_csv_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("plate,well,field,label,sarcomerisation\np,A/1,0,1,2\np,A/1,0,2,9\n")
    with pytest.raises(ValueError, match=r"1\.\.4.*CSV lines 3\)"):
        read_ratings(path)


def test_unreadable_and_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        read_ratings(tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match="empty.csv"):
        read_ratings(tmp_path / "empty.csv")


def test_write_csv_atomic_round_trip_and_replace(tmp_path):
    path = tmp_path / "out.csv"
    t1 = pd.DataFrame({"well": ["A/1", "B/2"], "label": [1, 2], "p": [0.25, 0.5]})
    write_csv_atomic(path, t1)
    pd.testing.assert_frame_equal(pd.read_csv(path), t1)
    t2 = t1.assign(p=[0.75, 1.0])
    write_csv_atomic(path, t2)
    pd.testing.assert_frame_equal(pd.read_csv(path), t2)
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]  # no temp files left


def test_write_csv_atomic_failure_keeps_old_file(tmp_path):
    path = tmp_path / "out.csv"
    write_csv_atomic(path, pd.DataFrame({"a": [1]}))

    class Boom:
        def __str__(self):
            raise RuntimeError("cannot format")

    with pytest.raises(RuntimeError, match="cannot format"):
        write_csv_atomic(path, pd.DataFrame({"a": [Boom()]}))
    assert path.read_text() == "a\n1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]
    with pytest.raises(TypeError, match="table"):
        write_csv_atomic(path, [1, 2])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_csv_atomic(tmp_path / "no" / "x.csv", pd.DataFrame({"a": [1]}))
