"""A 3D model's Grad-CAM is written on the model's voxels: y/x and z coarsened by powers of two.

A small real 3D CNN (88 px at 0.64 µm/px, 1 µm z-steps) on a demo plate of 0.16 µm pixels and 0.25 µm
planes: its maps go on 4 x 4 x 4 blocks of the stack (64x fewer voxels than the stack), placed
over the field by their NGFF scale and translation, and lie on the cells there.
"""

import numpy as np
import pytest

from ames_batch.io import list_fields, read_field, read_heatmap, read_labels
from ames_batch.nn import PreprocessSettings, build_model, load_rater, make_card, save_bundle
from ames_batch.pipeline import run_plate, write_demo_plate
from ames_batch.pipeline._rate import RunSettings, prepare_group

TASKS = {"sarcomerisation": ["1", "2", "3", "4"], "directionality": ["1", "2", "3", "4"],
         "source": ["adult", "neonatal", "ipsc"]}

FIELD = {"z": 0.25, "y": 0.16, "x": 0.16}


@pytest.fixture(scope="module")
def rated_3d(tmp_path_factory):
    root = tmp_path_factory.mktemp("grid3d")
    settings = PreprocessSettings(input_shape=(8, 88, 88), target_um_per_px=0.64, z_step_um=1.0)
    model = build_model("3d", input_shape=settings.input_shape, tasks=TASKS, seed=0)
    card = make_card(name="test-3d", version="0.0", tasks=TASKS, settings=settings,
                     training={"data_fingerprint": "none", "split": {"train": 0}})
    bundle = save_bundle(model, card, root / "bundle")
    demo = write_demo_plate(root / "plate.zarr", n_wells=1, n_fields=1, cells_per_field=1, seed=4, scale_um=FIELD)
    run_plate(demo.plate, model=bundle, explain=("gradcam",), out_csv=root / "r.csv")
    return demo.plate


def test_3d_gradcam_on_the_model_voxels_over_the_cell(rated_3d):
    (key,) = list_fields(rated_3d)
    heat = read_heatmap(rated_3d, key, "gradcam")
    cells, _ = read_labels(rated_3d, key, "cells")
    nz = heat.shape[1]
    assert heat.dims == ("c", "z", "y", "x")
    assert heat.attrs["scale_um"] == pytest.approx({"z": 4 * FIELD["z"], "y": 4 * FIELD["y"], "x": 4 * FIELD["x"]})
    # the centre of the first 4 x 4 x 4 block of the field's voxels
    assert heat.attrs["translation_um"] == pytest.approx({a: 1.5 * FIELD[a] for a in "zyx"})
    plane = np.asarray(cells.values[0])
    ny, nx = heat.shape[-2:]
    assert (ny, nx) == (plane.shape[0] // 4, plane.shape[1] // 4)
    assert nz == read_field(rated_3d, key).sizes["z"] // 4 >= 2
    # zero on every block of label pixels without a cell, heat on the cell
    inside = (plane[:ny * 4, :nx * 4] > 0).reshape(ny, 4, nx, 4).any(axis=(1, 3))
    values = np.abs(np.asarray(heat.values)).max(axis=(0, 1))
    assert values[~inside].max() == 0.0 and values[inside].max() > 0


def test_a_prepared_3d_field_keeps_its_inputs_not_its_stack(rated_3d):
    """#14: each field of a group waiting to be rated held its (Z, Y, X) stack (130 MB at demo
    scale; three groups in flight), so 3D peak memory grew 1.5x from 4 to 32 fields."""
    keys = list_fields(rated_3d)
    rater = load_rater(rated_3d.parent / "bundle")
    group = prepare_group(rated_3d, keys, rater, RunSettings.for_rater(rater, explain=()))
    (prepared,) = group.fields.values()
    assert not any(isinstance(v, np.ndarray) for v in vars(prepared).values())
    assert prepared.stack_shape == (read_field(rated_3d, keys[0]).sizes["z"], *prepared.shape)
    assert [c.prepared.x.shape for c in prepared.cells] == [(8, 88, 88, 1)] * len(prepared.cells) != []
