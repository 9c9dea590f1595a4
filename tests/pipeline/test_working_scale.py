"""A field finer than the working scale: measured, rated and written at the working scale.

The demo plate here is drawn at 0.08 µm/px, half the working pixel size (0.16 µm): labels and
the organised map stay on the working grid (4x fewer pixels), a model's heatmaps on the level of
it nearest the model's input pixel, each placed over the field by its scale and translation, so
they overlay the truth on the field's own grid; the CSV's µm are the field's.
"""

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage as ndi

from ames_batch.image import WORKING_PIXEL_SIZE_UM
from ames_batch.io import list_fields, read_field, read_heatmap, read_labels
from ames_batch.pipeline import CELL_MARGIN_UM, read_field_data, read_field_window, run_plate, write_demo_plate
from ames_batch.segment import match_labels

FINE = {"z": 1.0, "y": 0.08, "x": 0.08}


@pytest.fixture(scope="module")
def rated_fine(tmp_path_factory, small_bundle):
    root = tmp_path_factory.mktemp("fine")
    demo = write_demo_plate(root / "plate.zarr", n_wells=1, n_fields=1, cells_per_field=1, seed=2, scale_um=FINE)
    run_plate(demo.plate, model=small_bundle, explain=("gradcam", "organised"), out_csv=root / "r.csv")
    return demo.plate, pd.read_csv(root / "r.csv")


def test_labels_lie_on_the_working_grid_and_over_the_truth(rated_fine):
    plate, table = rated_fine
    (key,) = list_fields(plate)
    stored, _ = read_labels(plate, key, "cells")
    assert stored.attrs["scale_um"]["x"] == pytest.approx(WORKING_PIXEL_SIZE_UM)
    assert stored.attrs["translation_um"]["x"] == pytest.approx(0.5 * FINE["x"])
    assert stored.shape[-1] == read_field(plate, key).shape[-1] // 2
    found, _ = read_labels(plate, key, "cells", on_field_grid=True)
    truth, _ = read_labels(plate, key, "truth")
    assert found.shape == truth.shape == (1,) + read_field(plate, key).shape[-2:]  # one plane: masks
    match = match_labels(np.asarray(found[0]), np.asarray(truth[0]), iou_threshold=0.8)
    assert match.recall == 1.0 and match.precision == 1.0
    # the CSV's centroid (µm) is the truth mask's centroid on the field's own grid
    ys, xs = np.nonzero(np.asarray(truth[0]) == 1)
    assert table.centroid_y_um.iloc[0] == pytest.approx(ys.mean() * FINE["y"], abs=0.3)
    assert table.centroid_x_um.iloc[0] == pytest.approx(xs.mean() * FINE["x"], abs=0.3)


def _on_field(truth: np.ndarray, heat) -> np.ndarray:
    """The truth mask (field grid) at the heatmap's pixel centres, placed by its scale and translation."""
    iy, ix = (np.clip(np.round((heat.attrs["translation_um"][a] + np.arange(n) * heat.attrs["scale_um"][a])
                               / FINE[a]).astype(int), 0, m - 1)
              for a, n, m in zip("yx", heat.shape[-2:], truth.shape))
    return truth[np.ix_(iy, ix)]


@pytest.mark.parametrize(("method", "factor"), [("organised", 1), ("gradcam", 8)])
def test_heatmaps_lie_over_the_cell_on_the_grid_they_have(rated_fine, method, factor):
    """The organised map stays on the working grid (the metrics'); Grad-CAM goes on the working
    grid's pyramid level nearest the model's input pixel (1.2 µm: 8 x 0.16 µm, 64x fewer pixels)."""
    plate, table = rated_fine
    (key,) = list_fields(plate)
    data = read_field_data(plate, key)
    assert data.pixel_size_um == pytest.approx(WORKING_PIXEL_SIZE_UM) and data.ratio == pytest.approx(2.0)
    truth, _ = read_labels(plate, key, "truth")
    heat = read_heatmap(plate, key, method)
    assert heat.shape[-2:] == tuple(n // factor for n in data.mip.shape)
    assert heat.attrs["scale_um"]["x"] == pytest.approx(factor * WORKING_PIXEL_SIZE_UM)
    # the centre of its first factor x factor working pixels, each the centre of 2 field pixels
    assert heat.attrs["translation_um"]["x"] == pytest.approx(0.5 * FINE["x"] + (factor - 1) / 2 * WORKING_PIXEL_SIZE_UM)
    inside = _on_field(np.asarray(truth[0]), heat) == 1
    values = np.asarray(heat.values).max(axis=0)
    # on the cell: the peak within the cell's crop margin (and a heatmap pixel), more heat inside than outside
    near = ndi.binary_dilation(inside, iterations=int(CELL_MARGIN_UM / heat.attrs["scale_um"]["x"]) + 1)
    assert values[inside].max() > 0 and values[~near].max() <= values[near].max()
    assert values[inside].mean() > values[~inside].mean()


def test_the_organised_map_is_the_cells_organised_fraction(rated_fine):
    plate, table = rated_fine
    (key,) = list_fields(plate)
    organised = np.asarray(read_heatmap(plate, key, "organised").values[0])
    found = np.asarray(read_labels(plate, key, "cells")[0][0])  # on the working grid already
    share = organised[found == table.label.iloc[0]].mean()
    assert share == pytest.approx(table.organised_fraction.iloc[0], abs=0.02)  # same map, resampled labels


def test_a_picture_reads_the_pyramid_level_at_the_working_scale_onto_the_same_grid(rated_fine):
    """The report's pictures read level 1 of this 0.08 µm field (its 0.16 µm level): the same grid as
    level 0 brought to the working scale, a quarter of the bytes, nearly the same picture."""
    plate, _ = rated_fine
    (key,) = list_fields(plate)
    full, coarse = read_field_data(plate, key), read_field_data(plate, key, level="working")
    assert read_field(plate, key, level=1).attrs["scale_um"]["x"] == pytest.approx(WORKING_PIXEL_SIZE_UM)
    assert coarse.field_shape == read_field(plate, key, level=1).shape[-2:]  # level 1 was read
    assert coarse.mip.shape == full.mip.shape and coarse.pixel_size_um == full.pixel_size_um
    assert coarse.translation_um == pytest.approx(full.translation_um)
    assert np.corrcoef(coarse.mip.ravel(), full.mip.ravel())[0, 1] > 0.95
    # a cell's window of it (the gallery's read) is that box of level 1, at the same µm
    box = (slice(40, 200), slice(13, 170))
    window = read_field_window(plate, key, box)
    np.testing.assert_array_equal(window.mip, coarse.mip[box])
    assert window.translation_um == pytest.approx({a: coarse.translation_um[a] + b.start * WORKING_PIXEL_SIZE_UM
                                                   for a, b in zip("yx", box)})


def test_a_3d_stack_comes_from_the_pyramid_level_at_the_working_scale_onto_the_mips_grid(rated_fine):
    """The stack of this 0.08 µm field is its level 1 (0.16 µm): on the working MIP's grid, each plane
    nearly the level-0 plane brought to the working scale (the 3D model resamples them to 0.4 µm)."""
    from ames_batch.image import to_working_scale

    plate, _ = rated_fine
    (key,) = list_fields(plate)
    data = read_field_data(plate, key, with_stack=True)
    level0, level1 = read_field(plate, key).isel(c=0).values, read_field(plate, key, level=1).isel(c=0).values
    assert data.stack.shape == (level0.shape[0], *data.mip.shape) and data.stack.dtype == level1.dtype
    np.testing.assert_array_equal(data.stack, level1)
    assert data.mip.shape == read_field_data(plate, key).mip.shape
    np.testing.assert_array_equal(data.mip, read_field_data(plate, key).mip)  # the MIP still from level 0
    filtered = np.stack([to_working_scale(p, FINE["x"])[0] for p in level0])
    assert np.corrcoef(data.stack.ravel(), filtered.ravel())[0, 1] > 0.95


def test_a_stack_at_the_working_scale_is_read_as_it_is_chunk_by_chunk(tmp_path):
    """A 0.16 µm field's stack is its level 0 as stored (uint16: half of float32's memory), read
    chunk by chunk (more planes than one chunk holds), with the MIP from the same read."""
    demo = write_demo_plate(tmp_path / "p.zarr", n_wells=1, n_fields=1, cells_per_field=1, seed=3)
    (key,) = list_fields(demo.plate)
    image = read_field(demo.plate, key)
    assert image.data.chunks[1][0] < image.sizes["z"]  # several z-chunks
    data = read_field_data(demo.plate, key, with_stack=True)
    assert data.stack.dtype == np.uint16
    np.testing.assert_array_equal(data.stack, image.isel(c=0).values)
    # the MIP comes from the same read: equal to the one read without the stack
    np.testing.assert_array_equal(data.mip, read_field_data(demo.plate, key).mip)
    assert data.scale_um == read_field_data(demo.plate, key).scale_um


@pytest.mark.parametrize("px", [WORKING_PIXEL_SIZE_UM, 0.08])
def test_a_stack_in_memory_is_brought_to_the_working_scale_with_its_mip(rng, px):
    """An in-memory stack (a synthetic field, the training path) at the working scale is kept as
    it is; a finer one is resampled plane by plane to float32; the MIP is that of the raw stack."""
    from ames_batch.image import to_working_scale
    from ames_batch.io import FieldKey
    from ames_batch.pipeline._field_input import FieldData

    stack = rng.integers(100, 4000, (5, 64, 48), dtype=np.uint16)
    field = FieldData.from_arrays(FieldKey("A/1", "0"), stack.max(axis=0), {"z": 0.5, "y": px, "x": px}, stack=stack)
    if px == WORKING_PIXEL_SIZE_UM:
        assert field.stack.dtype == np.uint16
        np.testing.assert_array_equal(field.stack, stack)
    else:
        assert field.stack.dtype == np.float32 and field.stack.shape == (5, 32, 24)
        np.testing.assert_allclose(field.stack[2], to_working_scale(stack[2], px)[0], rtol=1e-6)
    np.testing.assert_array_equal(field.mip, to_working_scale(stack.max(axis=0), px)[0])


def test_a_cells_clipped_share_is_that_of_its_raw_pixels_at_the_working_scale(rng):
    """At 0.04 µm/px (four field pixels per working pixel a side) the share of a cell's pixels the
    detector clipped is measured on the raw projection and carried to the working grid: a cell
    clipped at its 80th percentile reads 20 %, its unclipped neighbour 0."""
    from ames_batch.io import FieldKey
    from ames_batch.pipeline import FieldData, extract_cells

    px = 0.04
    y, x = np.mgrid[:1024, :1024]
    cells = np.zeros((1024, 1024), np.uint32)
    cells[(y - 300) ** 2 + (x - 300) ** 2 < 220 ** 2] = 1
    cells[(y - 700) ** 2 + (x - 700) ** 2 < 220 ** 2] = 2
    stripes = 1 + np.cos(2 * np.pi * x * px / 1.8)
    raw = 300 + np.where(cells == 1, 3000, np.where(cells == 2, 1000, 0)) * stripes + rng.normal(0, 30, cells.shape)
    level = np.percentile(raw[cells == 1], 80)
    mip = np.rint(np.minimum(raw, level)).astype(np.uint16)
    field = FieldData.from_arrays(FieldKey("A/1", "0"), mip, {"z": 1.0, "y": px, "x": px})
    assert field.pixel_size_um == pytest.approx(WORKING_PIXEL_SIZE_UM) and field.clipped.shape == field.mip.shape
    records = extract_cells(field, field.labels_from_field(cells))
    expected = {t: float(np.mean(mip[cells == t] == mip.max())) for t in (1, 2)}
    assert expected[1] == pytest.approx(0.20, abs=0.01) and expected[2] == 0
    got = {r.label: r.saturated_fraction for r in records}
    assert got[1] == pytest.approx(expected[1], abs=0.01) and got[2] < 0.001
    assert [r.saturated for r in records] == [True, False]


def test_a_clipped_cells_texture_is_measured_through_its_clipped_pixels(rng):
    """The run hands the clipped pixels to the metrics: z-disc stripes a 12-bit camera clipped at
    the cell's 90th percentile keep their z-disc density (read as flat mesas, they lose ~half)."""
    from ames_batch.io import FieldKey
    from ames_batch.metrics import cell_metrics
    from ames_batch.pipeline import FieldData, extract_cells

    y, x = np.mgrid[:400, :400]
    cell = ((y - 200) / 120) ** 2 + ((x - 200) / 180) ** 2 < 1
    d = (x * 0.16 / 1.8) % 1.0 - 0.5
    raw = 100 + np.where(cell, 50 * np.exp(-(d * 1.8) ** 2 / (2 * 0.1 ** 2)), 0) + rng.normal(0, 15, cell.shape)
    level = np.percentile(raw[cell], 90)
    clean = cell_metrics(raw.astype(np.float32), cell, 0.16)["zdisc_density_per_um"]
    flat = cell_metrics(np.minimum(raw, level).astype(np.float32), cell, 0.16)["zdisc_density_per_um"]
    mip = np.rint(np.minimum(raw, level) * 4095 / level).astype(np.uint16)  # the camera's limit: 4095
    field = FieldData.from_arrays(FieldKey("A/1", "0"), mip, {"z": 1.0, "y": 0.16, "x": 0.16})
    (record,) = extract_cells(field, field.labels_from_field(cell.astype(np.uint32)))
    assert record.saturated and abs(flat - clean) > 0.3 * clean
    assert record.metrics["zdisc_density_per_um"] == pytest.approx(clean, rel=0.1)


def test_a_window_refused_alone_is_left_to_a_read_of_its_field(tmp_path, rng):
    """A saturated cell fills its own box at the file's maximum, not its field: the window read
    declines (None) and the whole field, which a run accepted, is read instead."""
    import xarray as xr

    from ames_batch.io import FieldKey, write_field

    stack = rng.integers(100, 4000, size=(1, 3, 400, 400), dtype=np.uint16)
    stack[..., :60, :60] = 65535  # 2 % of the field, all of the window
    key = FieldKey("A/1", "0")
    write_field(tmp_path / "p.zarr", key, xr.DataArray(stack, dims=("c", "z", "y", "x"), coords={"c": ["actinin"]},
                                                       attrs={"scale_um": {"z": 1.0, "y": 0.16, "x": 0.16}}))
    assert read_field_window(tmp_path / "p.zarr", key, (slice(0, 50), slice(0, 50))) is None
    assert read_field_window(tmp_path / "p.zarr", key, (slice(100, 150), slice(0, 50))).mip.shape == (50, 50)
    assert read_field_data(tmp_path / "p.zarr", key).mip.shape == (400, 400)
