"""Invariants of synthesize_field: dtypes, shapes, labels, determinism, placement, checks."""

import dataclasses

import numpy as np
import pytest
from scipy import ndimage as ndi

from ames_batch.synth import (DEMO_SCALE_UM, SIM_SCALE_UM, SOURCES, CellParams, SyntheticField,
                              sample_cell_params, synthesize_field)

SMALL = {"z": 1.0, "y": 0.4, "x": 0.4}  # coarse scale: tiny arrays for invariants


def _small_cells(seed, n):
    return [dataclasses.replace(sample_cell_params(seed + i, source="ipsc"), length_um=24.0, width_um=16.0)
            for i in range(n)]


def test_presets_are_scale_dicts():
    for preset in (SIM_SCALE_UM, DEMO_SCALE_UM):
        assert set(preset) == {"z", "y", "x"} and preset["y"] == preset["x"]
        assert 0.03 <= preset["x"] <= 0.2 and preset["z"] > preset["x"]


def test_dtypes_shapes_and_labels():
    field = synthesize_field(0, scale_um=SMALL, cell_params=_small_cells(0, 1), n_z=6)
    assert isinstance(field, SyntheticField)
    assert field.stack.dtype == np.uint16 and field.stack.ndim == 3 and field.stack.shape[0] == 6
    assert field.cell_labels.dtype == np.uint32 and field.cell_labels.shape == field.stack.shape[1:]
    assert set(np.unique(field.cell_labels)) == {0, 1}
    assert field.scale_um == SMALL and field.scale_um is not SMALL
    cell = field.cells[0]
    assert cell.label == 1 and cell.source in SOURCES and 1 <= cell.sarcomerisation <= 4
    assert isinstance(cell.params, CellParams) and "sarcomere_length_um" in cell.params.as_dict()
    # the whole cell with a margin: no label on the border
    border = np.concatenate([field.cell_labels[0], field.cell_labels[-1],
                             field.cell_labels[:, 0], field.cell_labels[:, -1]])
    assert not border.any()
    # brighter inside the cell than outside
    mip = field.stack.max(axis=0).astype(float)
    assert mip[field.cell_labels == 1].mean() > mip[field.cell_labels == 0].mean()


def test_same_seed_same_bytes_other_seed_differs():
    a = synthesize_field(7, n_cells=2, scale_um=SMALL)
    b = synthesize_field(np.random.default_rng(7), n_cells=2, scale_um=SMALL)
    c = synthesize_field(8, n_cells=2, scale_um=SMALL)
    assert a.stack.tobytes() == b.stack.tobytes()
    assert np.array_equal(a.cell_labels, b.cell_labels) and a.cells == b.cells
    assert a.stack.shape != c.stack.shape or a.stack.tobytes() != c.stack.tobytes()


def test_default_scale_is_sim_and_n_z_follows_cell_height():
    flat = dataclasses.replace(_small_cells(1, 1)[0], length_um=12.0, width_um=8.0, height_um=2.0,
                               nucleus_height_um=0.0)
    field = synthesize_field(1, cell_params=[flat])
    assert field.scale_um == SIM_SCALE_UM
    expected = int(np.ceil((2.0 + 2.0) / SIM_SCALE_UM["z"])) + 1  # body + 1 µm below and above
    assert field.stack.shape[0] == expected
    # a nucleus bulge of 1 µm makes the body up to 1 µm thicker (less where the nucleus is off centre)
    bulged = synthesize_field(1, cell_params=[dataclasses.replace(flat, nucleus_height_um=1.0)])
    assert expected < bulged.stack.shape[0] <= int(np.ceil((3.0 + 2.0) / SIM_SCALE_UM["z"])) + 1


@pytest.mark.parametrize("touching", [False, True])
def test_several_cells_labels_match_cells(touching):
    field = synthesize_field(3, scale_um=SMALL, cell_params=_small_cells(3, 3), n_z=4, touching=touching)
    ids = sorted(int(v) for v in np.unique(field.cell_labels) if v)
    assert ids == [1, 2, 3] == [c.label for c in field.cells]
    for cell in field.cells:  # each label's centroid near its cell's centre
        cy, cx = ndi.center_of_mass(field.cell_labels == cell.label)
        assert np.hypot(cy * SMALL["y"] - cell.centre_yx_um[0], cx * SMALL["x"] - cell.centre_yx_um[1]) < 3.0
    for k in ids:
        grown = ndi.binary_dilation(field.cell_labels == k, iterations=int(np.ceil(2.0 / SMALL["x"])))
        others = np.setdiff1d(np.unique(field.cell_labels[grown]), [0, k])
        if touching:
            near = np.setdiff1d(np.unique(field.cell_labels[ndi.binary_dilation(field.cell_labels == k)]), [0, k])
            assert near.size >= 1  # shares a border with another cell
        else:
            assert others.size == 0  # at least 2 µm of background around every cell


def test_organised_truth_map_matches_each_cells_fraction():
    """The organised map is the truth behind `organised_fraction`, cell by cell, and only in cells."""
    params = [dataclasses.replace(p, organised_fraction=f)
              for p, f in zip(_small_cells(7, 3), (0.15, 0.5, 0.85))]
    field = synthesize_field(7, scale_um=SMALL, cell_params=params, n_z=4, touching=True)
    assert field.organised.dtype == bool and field.organised.shape == field.cell_labels.shape
    assert not field.organised[field.cell_labels == 0].any()
    for cell in field.cells:
        inside = field.cell_labels == cell.label
        share = field.organised[inside].mean()
        assert share == pytest.approx(cell.params.organised_fraction, abs=2.0 / inside.sum())  # quantile: exact to a pixel
        # one smooth region per domain scale, not salt and pepper
        assert ndi.label(field.organised & inside)[1] <= 6


def test_field_size_is_respected_and_overfull_field_fails():
    field = synthesize_field(4, scale_um=SMALL, cell_params=_small_cells(4, 2), field_size_um=(60.0, 80.0), n_z=3)
    assert field.cell_labels.shape == (150, 200)
    assert sorted(np.unique(field.cell_labels)) == [0, 1, 2]
    with pytest.raises(ValueError, match="field_size_um"):
        synthesize_field(4, scale_um=SMALL, cell_params=_small_cells(4, 3), field_size_um=(20.0, 20.0))


def test_rater_noise_changes_some_labels_only():
    params = [sample_cell_params(i) for i in range(40)]
    from ames_batch.synth import rate_cell
    clean = [rate_cell(p) for p in params]
    noisy = [rate_cell(p, rater_noise=1.0, rng=np.random.default_rng(i)) for i, p in enumerate(params)]
    changed = sum(c != n for c, n in zip(clean, noisy))
    assert 0 < changed < len(params)


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    (dict(n_cells=0), ValueError, "n_cells"),
    (dict(n_cells=1.5), TypeError, "n_cells"),
    (dict(scale_um={"y": 0.1, "x": 0.1}), ValueError, "scale_um"),
    (dict(scale_um={"z": 0.1, "y": 0.1, "x": -1.0}), ValueError, "scale_um"),
    (dict(scale_um={"z": 0.1, "y": 0.1, "x": 0.2}), ValueError, "square"),
    (dict(scale_um=[0.1, 0.1, 0.1]), TypeError, "scale_um"),
    (dict(n_z=0), ValueError, "n_z"),
    (dict(field_size_um=(10.0,)), ValueError, "field_size_um"),
    (dict(cell_params=["nope"]), TypeError, "cell_params"),
    (dict(n_cells=3, cell_params=[]), ValueError, "cell_params"),
    (dict(rater_noise=-1.0), ValueError, "rater_noise"),
    (dict(touching="yes"), TypeError, "touching"),
])
def test_bad_arguments_are_rejected(kwargs, error, match):
    with pytest.raises(error, match=match):
        synthesize_field(0, **kwargs)


def test_bad_rng_is_rejected():
    with pytest.raises(TypeError, match="rng"):
        synthesize_field("seed")


def test_field_rater_noise_reaches_cell_truth():
    params = [sample_cell_params(i, sarcomerisation=2) for i in range(12)]
    from ames_batch.synth import rate_cell
    noisy = []
    for i, p in enumerate(params):
        field = synthesize_field(i, scale_um=SMALL, cell_params=[p], n_z=2, rater_noise=2.0)
        noisy.append(field.cells[0].sarcomerisation)
        assert field.cells[0].params == p
    assert all(rate_cell(p)["sarcomerisation"] == 2 for p in params)
    assert any(s != 2 for s in noisy)
