"""vizarr opens a fresh demo plate: the plate view and a field view draw the image, at rdefs.defaultZ.

vizarr's plate view lays out the first field of every well on one grid and refuses fields of
different shapes ("Grid data is not same shape."); it opens a stack at ``omero.rdefs.defaultZ``
(0 without it) with each channel's ``window`` as its contrast. It shows no NGFF 0.5 labels.
"""

import io
import json
import re
import time

import numpy as np
import pytest

from ames_batch.io import list_fields

# only the canvas stays visible in screenshots: vizarr's control panel sits over the image
CANVAS_ONLY = "body * { visibility: hidden !important; } canvas { visibility: visible !important; }"


def attrs(group) -> dict:
    return json.loads((group / "zarr.json").read_text())["attributes"]


@pytest.fixture(scope="module")
def demo_plate(tmp_path_factory):
    """What `ames-batch demo --wells 2 --fields 2 --cells-per-field 1` writes: wells A/1 and A/2."""
    from ames_batch.pipeline import write_demo_plate

    plate = tmp_path_factory.mktemp("demo") / "demo.ome.zarr"
    write_demo_plate(plate, n_wells=2, n_fields=2, cells_per_field=1, seed=0)
    return plate


def level_shapes(field) -> list:
    ome = attrs(field)["ome"]
    datasets = ome["multiscales"][0]["datasets"]
    return [json.loads((field / d["path"] / "zarr.json").read_text())["shape"] for d in datasets]


def test_demo_fields_have_what_vizarr_needs(demo_plate):
    # the part of vizarr's needs a test can check without a browser
    fields = [demo_plate / key.path for key in list_fields(demo_plate)]
    assert len(fields) == 4
    shapes = {json.dumps(level_shapes(f)) for f in fields}
    assert len(shapes) == 1, f"the plate view needs one shape (every level) for every field; got {shapes}"
    for field in fields:
        omero = attrs(field)["ome"]["omero"]
        n_z = level_shapes(field)[0][1]
        assert 0 <= omero["rdefs"].get("defaultZ", 0) < n_z
        for channel in omero["channels"]:
            assert channel["label"] and re.fullmatch(r"[0-9A-F]{6}", channel["color"])
            assert channel["window"]["start"] < channel["window"]["end"], (field, channel)


def canvas_pixels(page, timeout_s: float = 60.0) -> np.ndarray:
    """(H, W, 3) screenshot of vizarr's canvas once something is drawn on it (or at the timeout)."""
    from PIL import Image

    page.add_style_tag(content=CANVAS_ONLY)
    deadline = time.monotonic() + timeout_s
    while True:
        shot = np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("RGB"))
        if (shot.max(axis=2) > 16).mean() > 0.02 or time.monotonic() > deadline or page.errors:
            time.sleep(1.0)  # finer tiles follow the first coarse ones
            return np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("RGB"))
        time.sleep(0.25)


def z_shown(page) -> int:
    """The z index vizarr's slider shows ("Z: 5/14")."""
    text = page.get_by_text(re.compile(r"^Z: \d+/\d+$")).first.text_content(timeout=30_000)
    return int(re.match(r"Z: (\d+)/", text).group(1))


def drawn(region: np.ndarray) -> float:
    """Share of pixels that are not black."""
    return float((region.max(axis=2) > 16).mean())


def test_vizarr_plate_view_draws_every_well(demo_plate, serve, page):
    page.goto(serve(demo_plate.parent, demo_plate.name))
    pixels = canvas_pixels(page)
    assert not page.errors, page.errors
    assert drawn(pixels) > 0.05
    assert len(np.unique(pixels.max(axis=2))) > 32  # an image, not a flat fill
    # wells A/1 and A/2 side by side: both halves of the drawn grid hold image
    cols = np.flatnonzero((pixels.max(axis=2) > 16).any(axis=0))
    middle = (cols[0] + cols[-1]) // 2
    assert drawn(pixels[:, cols[0]:middle]) > 0.02 and drawn(pixels[:, middle:cols[-1]]) > 0.02
    first = demo_plate / list_fields(demo_plate)[0].path
    assert z_shown(page) == attrs(first)["ome"]["omero"]["rdefs"].get("defaultZ", 0)


def test_vizarr_field_view_draws_the_field(demo_plate, serve, page):
    key = list_fields(demo_plate)[-1]
    page.goto(serve(demo_plate.parent, f"{demo_plate.name}/{key.path}"))
    pixels = canvas_pixels(page)
    assert not page.errors, page.errors
    assert drawn(pixels) > 0.05
    assert len(np.unique(pixels.max(axis=2))) > 32
    assert z_shown(page) == attrs(demo_plate / key.path)["ome"]["omero"]["rdefs"].get("defaultZ", 0)
