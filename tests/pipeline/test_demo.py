"""`ames-batch demo`: a synthetic NGFF plate whose truth CSV and truth labels agree."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from ames_batch.io import FieldKey, list_fields, read_field, read_labels, validate_plate
from ames_batch.pipeline import write_demo_plate
from ames_batch.pipeline._demo import demo_wells


def test_demo_plate_is_valid_and_truth_matches_labels(demo_plate_master):
    plate, truth = demo_plate_master.plate, pd.read_csv(demo_plate_master.truth_csv)
    validate_plate(plate)
    keys = list_fields(plate)
    assert keys == [FieldKey("A/1", "0"), FieldKey("A/2", "0")]
    for key in keys:
        image = read_field(plate, key)
        assert image.dims == ("c", "z", "y", "x") and image.dtype == np.uint16
        assert set(image.attrs["scale_um"]) == {"z", "y", "x"}
        labels, properties = read_labels(plate, key, "truth")
        rows = truth[(truth.well == key.well) & (truth.field.astype(str) == key.field)]
        assert sorted(rows.label) == sorted(set(np.unique(labels.values)) - {0}) == [1, 2]
        for p in properties:
            row = rows[rows.label == p["label-value"]].iloc[0]
            assert (p["source"], p["sarcomerisation"], p["directionality"]) == (
                row.source, row.sarcomerisation, row.directionality)
    assert truth.sarcomerisation.between(1, 4).all() and truth.directionality.between(1, 4).all()
    assert set(truth.source) <= {"adult", "neonatal", "ipsc"}


def test_same_seed_same_voxels(demo_plate_master, tmp_path):
    again = write_demo_plate(tmp_path / "again.zarr", n_wells=2, n_fields=1, cells_per_field=2, seed=3)
    for key in again.fields:
        np.testing.assert_array_equal(read_field(again.plate, key).values,
                                      read_field(demo_plate_master.plate, key).values)


def test_wells_fill_a_96_well_plate_row_by_row():
    assert demo_wells(13)[:2] == ["A/1", "A/2"] and demo_wells(13)[11:] == ["A/12", "B/1"]
    with pytest.raises(ValueError, match="n_wells"):
        demo_wells(97)


def test_demo_refuses_an_existing_path(tmp_path):
    with pytest.raises(FileExistsError, match="already exists"):
        write_demo_plate(tmp_path, n_wells=1)


def test_cli_help_and_version():
    out = subprocess.run([sys.executable, "-m", "ames_batch.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "ames-batch" in out.stdout
    for command in ("demo", "convert", "run", "train", "evaluate"):
        help_ = subprocess.run([sys.executable, "-m", "ames_batch.cli", command, "--help"],
                               capture_output=True, text=True)
        assert help_.returncode == 0 and "Usage:" in help_.stdout, command
