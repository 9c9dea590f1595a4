"""Fixtures for pipeline tests: a small synthetic plate on disk and a small real model bundle."""

import shutil

import pytest

from ames_batch.nn import PreprocessSettings, build_model, make_card, save_bundle
from ames_batch.pipeline import write_demo_plate

TASKS = {"sarcomerisation": ["1", "2", "3", "4"], "directionality": ["1", "2", "3", "4"],
         "source": ["adult", "neonatal", "ipsc"]}


@pytest.fixture(scope="session")
def demo_plate_master(tmp_path_factory):
    """2 wells x 1 field x 2 cells, written once per session; copy it before changing it."""
    root = tmp_path_factory.mktemp("demo")
    return write_demo_plate(root / "plate.zarr", n_wells=2, n_fields=1, cells_per_field=2, seed=3)


@pytest.fixture
def demo_plate(demo_plate_master, tmp_path):
    """A private copy of the session's demo plate, with its truth CSV beside it."""
    plate = tmp_path / "plate.zarr"
    shutil.copytree(demo_plate_master.plate, plate)
    shutil.copy(demo_plate_master.truth_csv, tmp_path / "plate-truth.csv")
    return plate


@pytest.fixture(scope="session")
def small_bundle(tmp_path_factory):
    """An untrained but real 2D Keras model (96 x 96 px at 1.2 µm/px), saved as a bundle."""
    settings = PreprocessSettings(input_shape=(96, 96), target_um_per_px=1.2)
    model = build_model("2d", input_shape=settings.input_shape, tasks=TASKS, seed=0)
    card = make_card(name="test-2d", version="0.0", tasks=TASKS, settings=settings,
                     training={"data_fingerprint": "none", "split": {"train": 0}})
    return save_bundle(model, card, tmp_path_factory.mktemp("model") / "bundle")
