"""Labels and heatmaps of a field; whole-plate validation; opening with ome_zarr.reader."""

import json
import subprocess
import sys

import dask.array as da
import numpy as np
import pytest
import xarray as xr
import zarr
from ome_zarr.io import parse_url
from ome_zarr.reader import Label, Labels, Multiscales, Reader

from ames_batch.errors import NotAPlateError
from ames_batch.io import (
    FieldKey,
    list_heatmaps,
    list_labels,
    read_heatmap,
    read_label_properties,
    read_labels,
    validate_plate,
    write_field,
    write_heatmap,
    write_labels,
)

SCALE = {"z": 0.125, "y": 0.04, "x": 0.04}
KEY = FieldKey("A/1", "0")
TASKS = ["sarcomerisation", "directionality", "source"]


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def zattrs(path):
    return json.loads((path / "zarr.json").read_text())["attributes"]


def make_plate(tmp_path, rng, shape=(2, 4, 40, 48)):
    plate = tmp_path / "p.ome.zarr"
    stack = rng.integers(0, 4096, size=shape, dtype=np.uint16)
    img = xr.DataArray(stack, dims=("c", "z", "y", "x"), coords={"c": ["actinin", "dapi"][: shape[0]]},
                       attrs={"scale_um": dict(SCALE)})
    write_field(plate, KEY, img)
    return plate


def planted_mask(ny, nx):
    mask = np.zeros((ny, nx), np.uint32)
    mask[2:12, 3:20] = 1
    mask[15:30, 25:40] = 2
    mask[33:38, 5:9] = 5
    return mask


PROPS = [{"label-value": 1, "area_um2": 0.27}, {"label-value": 2, "area_um2": 0.36},
         {"label-value": 5, "area_um2": 0.03, "note": "small"}]


@pytest.mark.parametrize("as_dask", [False, True])
def test_2d_labels_stored_once_with_properties(tmp_path, rng, as_dask):
    plate = make_plate(tmp_path, rng)
    mask = planted_mask(40, 48)
    labels = da.from_array(mask, chunks=(16, 16)) if as_dask else mask
    colors = {1: (255, 0, 0, 255), 2: (0, 255, 0, 255), 5: (0, 0, 255, 128)}
    write_labels(plate, KEY, "cells", labels, properties=PROPS, colors=colors, attrs={"method": "watershed"})

    out, props = read_labels(plate, KEY, "cells")
    assert out.dims == ("z", "y", "x") and out.dtype == np.uint32 and out.shape == (1, 40, 48)
    np.testing.assert_array_equal(out.values[0], mask)
    assert out.attrs["scale_um"] == {a: SCALE[a] for a in "yx"}
    assert props == PROPS
    assert read_label_properties(plate, KEY, "cells") == PROPS  # the JSON alone, no array opened
    assert list_labels(plate, KEY) == ["cells"]

    group = zattrs(plate / "A/1/0/labels")
    assert group["ome"] == {"version": "0.5", "labels": ["cells"]}
    meta = zattrs(plate / "A/1/0/labels/cells")
    assert meta["ames"] == {"method": "watershed"}
    il = meta["ome"]["image-label"]
    assert il["version"] == "0.5"
    assert il["source"] == {"image": "../../"}
    assert {c["label-value"]: tuple(c["rgba"]) for c in il["colors"]} == colors
    assert [a["name"] for a in meta["ome"]["multiscales"][0]["axes"]] == ["y", "x"]  # not written Z times
    validate_plate(plate)


def test_3d_labels_and_second_label_image(tmp_path, rng):
    plate = make_plate(tmp_path, rng)
    vol = rng.integers(0, 4, size=(4, 40, 48)).astype(np.uint32)
    write_labels(plate, KEY, "nuclei", vol)
    write_labels(plate, KEY, "cells", planted_mask(40, 48))
    assert list_labels(plate, KEY) == ["nuclei", "cells"]
    out, props = read_labels(plate, KEY, "nuclei")
    np.testing.assert_array_equal(out.values, vol)
    assert props == []
    validate_plate(plate)


def test_labels_follow_the_field_pyramid(tmp_path, rng):
    plate = make_plate(tmp_path, rng, shape=(1, 2, 600, 520))
    mask = np.zeros((600, 520), np.uint32)
    mask[100:400, 50:300] = 3
    write_labels(plate, KEY, "cells", mask, properties=[{"label-value": 3}])
    img_ms = zattrs(plate / "A/1/0")["ome"]["multiscales"][0]["datasets"]
    lab_ms = zattrs(plate / "A/1/0/labels/cells")["ome"]["multiscales"][0]["datasets"]
    assert len(lab_ms) == len(img_ms) == 3
    for di, dl in zip(img_ms, lab_ms):
        assert dl["coordinateTransformations"][0]["scale"] == di["coordinateTransformations"][0]["scale"][2:]
    import zarr

    level1 = zarr.open_array(str(plate / "A/1/0/labels/cells/1"), mode="r")[:]
    np.testing.assert_array_equal(level1, mask[::2, ::2])  # nearest: every second pixel
    validate_plate(plate)


def test_failed_label_write_keeps_old_labels(tmp_path, rng):
    plate = make_plate(tmp_path, rng)
    mask = planted_mask(40, 48)
    write_labels(plate, KEY, "cells", mask, properties=PROPS)

    def block(block_info=None):
        loc = block_info[None]["array-location"]
        if loc[0][0] >= 24:
            raise OSError("killed mid-write")
        return np.ones(tuple(b - a for a, b in loc), np.uint32)

    bad = da.map_blocks(block, chunks=((8,) * 5, (48,)), dtype=np.uint32)
    with pytest.raises(OSError, match="killed mid-write"):
        write_labels(plate, KEY, "cells", bad)
    out, props = read_labels(plate, KEY, "cells")
    np.testing.assert_array_equal(out.values[0], mask)
    assert props == PROPS
    assert sorted(p.name for p in (plate / "A/1/0/labels").iterdir()) == ["cells", "zarr.json"]


def test_replacing_labels(tmp_path, rng):
    plate = make_plate(tmp_path, rng)
    write_labels(plate, KEY, "cells", planted_mask(40, 48), properties=PROPS)
    new = np.zeros((40, 48), np.uint32)
    new[0:5, 0:5] = 9
    write_labels(plate, KEY, "cells", new, properties=[{"label-value": 9}])
    out, props = read_labels(plate, KEY, "cells")
    np.testing.assert_array_equal(out.values[0], new)
    assert props == [{"label-value": 9}]
    assert list_labels(plate, KEY) == ["cells"]


@pytest.mark.parametrize(
    ("labels", "kwargs", "exc", "match"),
    [
        (np.zeros((40, 48), np.int32), {}, ValueError, "uint32"),
        (np.zeros((40, 47), np.uint32), {}, ValueError, "shape"),
        (np.zeros((3, 40, 48), np.uint32), {}, ValueError, "shape"),
        (np.zeros((40, 48), np.uint32), {"properties": [{"area": 1}]}, ValueError, "label-value"),
        (np.zeros((40, 48), np.uint32), {"properties": [{"label-value": 1}], "colors": {2: (1, 2, 3, 4)}},
         ValueError, "same label values"),
        (np.zeros((40, 48), np.uint32), {"colors": {1: (1, 2, 300, 4)}}, ValueError, "0..255"),
        ([[0, 1]], {}, TypeError, "labels"),
    ],
)
def test_write_labels_rejects_bad_input(tmp_path, rng, labels, kwargs, exc, match):
    plate = make_plate(tmp_path, rng)
    with pytest.raises(exc, match=match):
        write_labels(plate, KEY, "cells", labels, **kwargs)
    assert list_labels(plate, KEY) == []


def test_missing_labels_and_fields(tmp_path, rng):
    plate = make_plate(tmp_path, rng)
    with pytest.raises(KeyError, match="no labels 'cells'"):
        read_labels(plate, KEY, "cells")
    with pytest.raises(KeyError, match="B/2/0"):
        write_labels(plate, FieldKey("B/2", "0"), "cells", planted_mask(40, 48))
    with pytest.raises(ValueError, match="name"):
        write_labels(plate, KEY, "../evil", planted_mask(40, 48))


@pytest.mark.parametrize("dims", [("c", "y", "x"), ("c", "z", "y", "x")])
def test_heatmap_round_trip(tmp_path, rng, dims):
    plate = make_plate(tmp_path, rng)
    shape = (3, 20, 24) if len(dims) == 3 else (3, 4, 20, 24)
    values = rng.uniform(0, 1, size=shape).astype(np.float32)
    scale = {"y": 0.08, "x": 0.08} if len(dims) == 3 else {"z": 0.125, "y": 0.08, "x": 0.08}
    hm = xr.DataArray(values, dims=dims, coords={"c": TASKS}, attrs={"scale_um": scale})
    write_heatmap(plate, KEY, "gradcam", hm, attrs={"model": "default-1", "layer": "conv3"})
    out = read_heatmap(plate, KEY, "gradcam")
    assert out.dims == dims and out.dtype == np.float32
    np.testing.assert_array_equal(out.values, values)
    assert list(out.coords["c"].values) == TASKS
    assert out.attrs["scale_um"] == scale
    assert out.attrs["ames"] == {"model": "default-1", "layer": "conv3"}
    assert list_heatmaps(plate, KEY) == ["gradcam"]


@pytest.mark.parametrize("bounds", [(0.0, 1.0), (-2.0, 3.0)])
def test_a_bounded_heatmap_is_stored_in_8_bits_and_read_back_within_half_a_step(tmp_path, rng, bounds):
    plate = make_plate(tmp_path, rng)
    lo, hi = bounds
    values = rng.uniform(lo, hi, size=(3, 2, 1100, 1040)).astype(np.float32)  # over 1024 px: two levels
    values[0, 0, :2, :2] = [[lo, hi], [lo, hi]]  # both ends of the range are stored exactly
    hm = xr.DataArray(values, dims=("c", "z", "y", "x"), coords={"c": TASKS},
                      attrs={"scale_um": {"z": 0.5, "y": 0.08, "x": 0.08}, "value_range": bounds})
    write_heatmap(plate, KEY, "gradcam", hm, attrs={"model": "m"})
    array = zarr.open_array(plate / KEY.path / "heatmaps" / "gradcam" / "0", mode="r")
    assert array.dtype == np.uint8  # a quarter of float32's bytes, before compression
    out = read_heatmap(plate, KEY, "gradcam")
    assert out.dtype == np.float32
    step = (hi - lo) / 255
    assert np.abs(out.values - values).max() <= step / 2 + 1e-6
    np.testing.assert_array_equal(out.values[0, 0, :2, :2], [[lo, hi], [lo, hi]])
    assert out.attrs["ames"] == {"model": "m", "encoding": {"dtype": "uint8", "value_range": [lo, hi]}}
    # level 1 is the 2 x 2 mean of level 0, in steps
    level1 = read_heatmap(plate, KEY, "gradcam", level=1).values
    mean = values.reshape(3, 2, 550, 2, 520, 2).mean(axis=(3, 5))
    assert np.abs(level1 - mean).max() <= step + 1e-6
    validate_plate(plate)


def test_napari_opens_an_8_bit_heatmap_over_the_field_with_its_full_range_shown(tmp_path, rng):
    from napari.layers import Layer
    from napari_ome_zarr import napari_get_reader

    plate = make_plate(tmp_path, rng)
    values = np.zeros((3, 10, 12), np.float32)
    values[:, 4, 5] = [1.0, 0.5, 0.25]
    scale, origin = {"y": 0.32, "x": 0.32}, {"y": 0.12, "x": 0.12}  # 4 x 4 blocks of the 0.08 µm field
    write_heatmap(plate, KEY, "gradcam", xr.DataArray(values, dims=("c", "y", "x"), coords={"c": TASKS}, attrs={
        "scale_um": scale, "translation_um": origin, "value_range": (0.0, 1.0)}))
    layers = [Layer.create(d, m, k) for d, m, k in napari_get_reader(str(plate / KEY.path / "heatmaps" / "gradcam"))()]
    assert [layer.name for layer in layers] == [f"gradcam: {t}" for t in TASKS]
    for layer, peak in zip(layers, [255, 128, 64]):
        level0 = layer.data[0] if layer.multiscale else layer.data
        assert level0.dtype == np.uint8 and int(np.asarray(level0).max()) == peak
        np.testing.assert_allclose(layer.scale[-2:], [0.32, 0.32])
        assert tuple(layer.contrast_limits) == (0, 255)  # the omero window: 0 and 1 of the map
        # the peak block's centre (field pixels 16..19 in y, 20..23 in x) shows the peak: napari-ome-zarr
        # 0.11 drops the translation, a shift under half a heatmap pixel (docs/plate-layout.md)
        assert layer.get_value((0.12 + 4 * 0.32, 0.12 + 5 * 0.32), world=True) == peak


def test_a_heatmap_outside_its_value_range_is_refused_and_the_old_one_kept(tmp_path, rng):
    plate = make_plate(tmp_path, rng)
    good = xr.DataArray(np.full((3, 20, 24), 0.5, np.float32), dims=("c", "y", "x"), coords={"c": TASKS},
                        attrs={"scale_um": {"y": 0.08, "x": 0.08}, "value_range": (0.0, 1.0)})
    write_heatmap(plate, KEY, "gradcam", good)
    bad = good.copy(data=np.where(np.arange(24) == 3, 1.2, 0.5).astype(np.float32) * np.ones((3, 20, 1), np.float32))
    with pytest.raises(ValueError, match=r"outside its value_range \[0.0, 1.0\]: 0.5 to 1.2"):
        write_heatmap(plate, KEY, "gradcam", bad)
    with pytest.raises(ValueError, match="value_range"):
        write_heatmap(plate, KEY, "gradcam", good.assign_attrs(value_range=(1.0, 1.0)))
    nan = good.copy(data=good.values.copy())
    nan.values[2, 19, 23] = np.nan  # in the last plane
    with pytest.raises(ValueError, match=r"outside its value_range \[0.0, 1.0\]: nan to nan"):
        write_heatmap(plate, KEY, "gradcam", nan)
    np.testing.assert_allclose(read_heatmap(plate, KEY, "gradcam").values, 128 / 255)
    assert list_heatmaps(plate, KEY) == ["gradcam"]


def test_a_coarse_heatmap_lies_over_the_field_by_scale_and_translation(tmp_path, rng):
    """A heatmap on a 4x coarser grid (the model's scale) keeps its first pixel centre where
    the 4 x 4 field pixels it stands for have theirs, at every pyramid level."""
    plate = make_plate(tmp_path, rng)
    fine = {"y": 0.08, "x": 0.08}
    coarse = {a: 4 * s for a, s in fine.items()}
    origin = {a: 1.5 * s for a, s in fine.items()}  # centre of field pixels 0..3
    hm = xr.DataArray(rng.uniform(0, 1, (3, 1100, 1040)).astype(np.float32), dims=("c", "y", "x"),
                      coords={"c": TASKS}, attrs={"scale_um": coarse, "translation_um": origin})
    write_heatmap(plate, KEY, "gradcam", hm)
    out = read_heatmap(plate, KEY, "gradcam")
    assert out.attrs["scale_um"] == pytest.approx(coarse) and out.attrs["translation_um"] == pytest.approx(origin)
    level1 = read_heatmap(plate, KEY, "gradcam", level=1)
    assert level1.attrs["translation_um"]["x"] == pytest.approx(origin["x"] + 0.5 * coarse["x"])
    validate_plate(plate)


def test_a_heatmap_up_to_1024_px_a_side_is_one_level_and_a_larger_one_a_pyramid(tmp_path, rng):
    plate = make_plate(tmp_path, rng)
    for shape, levels in [((3, 1024, 700), ["0"]), ((3, 1030, 2100), ["0", "1"])]:
        hm = xr.DataArray(np.zeros(shape, np.float32), dims=("c", "y", "x"), coords={"c": TASKS},
                          attrs={"scale_um": {"y": 0.32, "x": 0.32}, "value_range": (0.0, 1.0)})
        write_heatmap(plate, KEY, "gradcam", hm)
        group = zarr.open_group(plate / KEY.path / "heatmaps" / "gradcam", mode="r")
        assert sorted(group.array_keys()) == levels
        assert [d["path"] for d in group.attrs["ome"]["multiscales"][0]["datasets"]] == levels
    validate_plate(plate)


def test_heatmap_rejects_bad_input(tmp_path, rng):
    plate = make_plate(tmp_path, rng)
    hm = xr.DataArray(np.zeros((3, 20, 24), np.float64), dims=("c", "y", "x"), coords={"c": TASKS},
                      attrs={"scale_um": {"y": 0.08, "x": 0.08}})
    with pytest.raises(ValueError, match="float32"):
        write_heatmap(plate, KEY, "gradcam", hm)
    with pytest.raises(ValueError, match="dims"):
        write_heatmap(plate, KEY, "gradcam", hm.astype(np.float32).transpose("y", "c", "x"))
    with pytest.raises(ValueError, match="scale_um"):
        write_heatmap(plate, KEY, "gradcam", hm.astype(np.float32).assign_attrs(scale_um={"y": 0.08}))
    with pytest.raises(KeyError, match="no heatmap"):
        read_heatmap(plate, KEY, "gradcam")


def _full_plate(tmp_path, rng):
    plate = make_plate(tmp_path, rng)
    write_labels(plate, KEY, "cells", planted_mask(40, 48), properties=PROPS)
    hm = xr.DataArray(rng.uniform(size=(3, 40, 48)).astype(np.float32), dims=("c", "y", "x"),
                      coords={"c": TASKS}, attrs={"scale_um": {"y": 0.04, "x": 0.04}})
    write_heatmap(plate, KEY, "gradcam", hm)
    return plate


def test_whole_plate_passes_ome_zarr_models_cli(tmp_path, rng):
    plate = _full_plate(tmp_path, rng)
    validate_plate(plate)
    cli = [sys.executable, "-c", "from ome_zarr_models._cli import main; main()", "validate", str(plate)]
    res = subprocess.run(cli, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Valid OME-Zarr" in res.stdout
    # the field on its own and the heatmap on its own are valid NGFF 0.5 images too
    import ome_zarr_models
    from ome_zarr_models.v05.image import Image

    for sub in ["A/1/0", "A/1/0/heatmaps/gradcam"]:
        assert isinstance(ome_zarr_models.open_ome_zarr(str(plate / sub), version="0.5"), Image), sub


def test_validator_sees_the_labels_group_version(tmp_path, rng):
    # the known pitfall: a labels group without "version" makes the plate invalid
    plate = _full_plate(tmp_path, rng)
    meta = json.loads((plate / "A/1/0/labels/zarr.json").read_text())
    del meta["attributes"]["ome"]["version"]
    (plate / "A/1/0/labels/zarr.json").write_text(json.dumps(meta))
    with pytest.raises(NotAPlateError, match="not an NGFF 0.5 HCS plate"):
        validate_plate(plate)


def test_ome_zarr_reader_finds_image_labels_and_heatmap(tmp_path, rng):
    plate = _full_plate(tmp_path, rng)
    nodes = list(Reader(parse_url(str(plate / "A/1/0")))())
    image = nodes[0]
    assert image.specs and isinstance(image.specs[0], Multiscales)
    assert image.metadata["channel_names"] == ["actinin", "dapi"]
    assert image.data[0].shape == (2, 4, 40, 48)
    assert any(isinstance(s, Labels) for n in nodes for s in n.specs)
    label_nodes = [n for n in nodes if any(isinstance(s, Label) for s in n.specs)]
    assert len(label_nodes) == 1
    np.testing.assert_array_equal(np.asarray(label_nodes[0].data[0]), planted_mask(40, 48))

    hm_nodes = list(Reader(parse_url(str(plate / "A/1/0/heatmaps/gradcam")))())
    assert hm_nodes[0].metadata["channel_names"] == TASKS
    assert hm_nodes[0].data[0].shape == (3, 40, 48)


def test_ome_zarr_reader_opens_the_plate_mosaic(tmp_path):
    plate = tmp_path / "p.ome.zarr"
    for well, value in [("A/1", 1), ("B/3", 2)]:
        for field in ("0", "1"):
            img = xr.DataArray(np.full((1, 2, 32, 40), value * 10 + int(field), np.uint16), dims=("c", "z", "y", "x"),
                               coords={"c": ["actinin"]}, attrs={"scale_um": dict(SCALE)})
            write_field(plate, FieldKey(well, field), img)
    node = list(Reader(parse_url(str(plate)))())[0]
    mosaic = np.asarray(node.data[0])
    # 2 rows (A, B) x 2 columns (1, 3) of 32 x 40 tiles, field 0 of each well; no well at A/3, B/1
    assert mosaic.shape == (1, 2, 64, 80)
    assert (mosaic[..., :32, :40] == 10).all() and (mosaic[..., 32:, 40:] == 20).all()
    assert (mosaic[..., :32, 40:] == 0).all() and (mosaic[..., 32:, :40] == 0).all()


# ---- one colouring per task (write_cell_labels) ----

RUN_ROWS = [
    {"label": 1, "sarcomerisation": "4", "directionality": "1", "source": "adult", "area_um2": 0.27},
    {"label": 2, "sarcomerisation": "2", "directionality": None, "source": "ipsc", "area_um2": 0.36},
    {"label": 5, "sarcomerisation": None, "directionality": "3", "source": "neonatal", "area_um2": None},
]


def napari_labels_layers(path):
    """napari Labels layers as napari-ome-zarr's reader makes them (no viewer, no Qt needed)."""
    from napari.layers import Layer
    from napari_ome_zarr import napari_get_reader

    return {layer.name: layer for layer in (Layer.create(data, meta, kind)
                                            for data, meta, kind in napari_get_reader(str(path))()
                                            if kind == "labels")}


def test_napari_shows_one_colouring_per_task(tmp_path, rng):
    from ames_batch.io import write_cell_labels
    from ames_batch.vocabulary import RATING_COLOURS

    plate = make_plate(tmp_path, rng)
    mask = planted_mask(40, 48)
    names = write_cell_labels(plate, KEY, mask, RUN_ROWS)
    assert names == ["cells", "cells-directionality", "cells-source"]
    assert list_labels(plate, KEY) == names
    validate_plate(plate)

    layers = napari_labels_layers(plate / "A/1/0")
    assert sorted(layers) == sorted(names)
    grey = np.array([128, 128, 128, 255]) / 255
    for name, task in [("cells", "sarcomerisation"), ("cells-directionality", "directionality"),
                       ("cells-source", "source")]:
        layer = layers[name]
        level0 = layer.data[0] if layer.multiscale else layer.data
        np.testing.assert_array_equal(np.asarray(level0), mask)  # same cells in every colouring
        for row in RUN_ROWS:
            rating = row[task]
            want = np.array(RATING_COLOURS[task][rating]) / 255 if rating is not None else grey
            np.testing.assert_allclose(layer.colormap.map(np.array([row["label"]]))[0], want, atol=1e-6)
        assert layer.colormap.map(np.array([0]))[0][3] == 0  # background transparent
        features = layer.features.set_index("label_value")
        assert [features.loc[r["label"], task] for r in RUN_ROWS if r[task]] == [r[task] for r in RUN_ROWS if r[task]]
    assert layers["cells"].features.set_index("label_value").loc[2, "area_um2"] == 0.36  # whole rows on cells

    # stored once as (y, x): in a viewer with the field's stack, the same cells on every slice
    from napari.components import ViewerModel
    from napari_ome_zarr import napari_get_reader

    viewer = ViewerModel()
    for data, meta, kind in napari_get_reader(str(plate / "A/1/0"))():
        viewer._add_layer_from_data(data, meta, kind)
    assert viewer.dims.ndim == 3 and layers["cells"].ndim == 2
    viewer.layers["cells"].visible = True  # napari-ome-zarr opens labels hidden
    y, x = np.argwhere(mask == RUN_ROWS[0]["label"])[0]
    for z in range(4):
        viewer.dims.set_point(0, z * SCALE["z"])
        where = (z * SCALE["z"], y * SCALE["y"], x * SCALE["x"])
        assert viewer.layers["cells"].get_value(where, world=True) == RUN_ROWS[0]["label"], z
    assert "area_um2" not in layers["cells-source"].features.columns


def test_a_rerun_rating_fewer_tasks_removes_the_old_colourings(tmp_path, rng):
    from ames_batch.io import write_cell_labels

    plate = make_plate(tmp_path, rng)
    write_cell_labels(plate, KEY, planted_mask(40, 48), RUN_ROWS)
    only = [{"label": 9, "sarcomerisation": "3"}]
    new = np.zeros((40, 48), np.uint32)
    new[0:5, 0:5] = 9
    assert write_cell_labels(plate, KEY, new, only) == ["cells"]
    assert list_labels(plate, KEY) == ["cells"]
    assert sorted(p.name for p in (plate / "A/1/0/labels").iterdir()) == ["cells", "zarr.json"]
    out, props = read_labels(plate, KEY, "cells")
    np.testing.assert_array_equal(out.values[0], new)
    assert props == [{"label-value": 9, **only[0]}]
    validate_plate(plate)


def test_failed_cell_label_write_keeps_every_old_colouring(tmp_path, rng):
    from ames_batch.io import write_cell_labels

    plate = make_plate(tmp_path, rng)
    write_cell_labels(plate, KEY, planted_mask(40, 48), RUN_ROWS)
    with pytest.raises(ValueError, match="shape"):
        write_cell_labels(plate, KEY, np.zeros((40, 47), np.uint32), RUN_ROWS)
    with pytest.raises(ValueError, match="'label'"):
        write_cell_labels(plate, KEY, planted_mask(40, 48), [{"sarcomerisation": "1"}])
    assert list_labels(plate, KEY) == ["cells", "cells-directionality", "cells-source"]
    out, _ = read_labels(plate, KEY, "cells-source")
    np.testing.assert_array_equal(out.values[0], planted_mask(40, 48))
