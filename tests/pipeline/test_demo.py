"""`ames-batch demo`: a synthetic NGFF plate whose truth CSV and truth labels agree."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from ames_batch.io import FieldKey, field_attributes, list_fields, read_field, read_labels, validate_plate
from ames_batch.pipeline import write_demo_plate
from ames_batch.pipeline._demo import demo_wells
from ames_batch.synth import DEMO_SCALE_UM, field_of_view

COARSE = {"z": 1.0, "y": 0.4, "x": 0.4}  # small fields for the tests that write their own plate


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


def test_fields_of_a_plate_share_the_microscope_view(demo_plate_master):
    """Every field has the shape of the fixed view that holds the largest cells the sampler draws."""
    view = field_of_view(DEMO_SCALE_UM, n_cells=2)
    expected = (view.n_z,) + tuple(int(np.ceil(s / DEMO_SCALE_UM["x"])) for s in view.size_um)
    shapes = {read_field(demo_plate_master.plate, key).shape[1:] for key in list_fields(demo_plate_master.plate)}
    assert shapes == {expected}


def test_look_b_renders_the_same_truth_otherwise(tmp_path):
    a = write_demo_plate(tmp_path / "a.zarr", n_wells=2, n_fields=2, cells_per_field=1, seed=4, scale_um=COARSE)
    b = write_demo_plate(tmp_path / "b.zarr", n_wells=2, n_fields=2, cells_per_field=1, seed=4, scale_um=COARSE,
                         look="b")
    truth_a, truth_b = pd.read_csv(a.truth_csv), pd.read_csv(b.truth_csv)
    pd.testing.assert_frame_equal(truth_a.drop(columns="plate"), truth_b.drop(columns="plate"))
    shapes = set()
    for key in a.fields:
        np.testing.assert_array_equal(read_labels(a.plate, key, "truth")[0].values,
                                      read_labels(b.plate, key, "truth")[0].values)
        image_a, image_b = read_field(a.plate, key).values, read_field(b.plate, key).values
        assert image_a.shape == image_b.shape and not np.array_equal(image_a, image_b)
        assert field_attributes(b.plate, key)["synthetic"] == {"seed": 4, "look": "b"}
        shapes.add(image_b.shape)
    assert len(shapes) == 1
    with pytest.raises(ValueError, match="look"):
        write_demo_plate(tmp_path / "c.zarr", n_wells=1, n_fields=1, look="x")


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


def test_the_demo_command_offers_every_look_of_the_generator():
    from ames_batch.cli import main
    from ames_batch.synth import LOOKS

    (look,) = [p for p in main.commands["demo"].params if p.name == "look"]
    assert tuple(look.type.choices) == LOOKS
