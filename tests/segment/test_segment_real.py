"""segment_cells on a real crowded field: SarcGraph's sample_4.png (hiPSC-CMs, alpha-actinin)."""

import numpy as np
import pytest

from ames_batch.segment import segment_cells

PIXEL_SIZE_UM = 0.12  # estimate from the 14-15 px z-disc spacing (MANIFEST.md)


@pytest.fixture(scope="module")
def sample_4():
    from pathlib import Path

    import imageio.v3 as iio

    path = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "sarcgraph" / "sample_4.png"
    if not path.is_file():
        pytest.skip(f"real test image not found at {path}")
    image = iio.imread(path)
    assert image.shape == (1736, 1776) and image.dtype == np.uint16
    return image


def test_crowded_field_labels_cells_and_leaves_empty_region(sample_4):
    labels = segment_cells(sample_4, PIXEL_SIZE_UM)
    assert labels.shape == sample_4.shape and labels.dtype == np.uint32
    assert labels.max() >= 1
    # The empty region on the left (rows 600-1200, columns 0-300 hold no cell: its
    # brightest pixels stay at the camera background) must stay background.
    empty = (slice(600, 1200), slice(0, 300))
    assert np.percentile(sample_4[empty], 99) < 300  # the data's own claim, checked
    assert not labels[empty].any()
    # The right half is a dense sheet of cells: nearly all of it is foreground.
    assert (labels[:, 900:] > 0).mean() > 0.85


def test_every_label_is_a_cell_sized_object(sample_4):
    labels = segment_cells(sample_4, PIXEL_SIZE_UM)
    areas_um2 = np.bincount(labels.ravel())[1:] * PIXEL_SIZE_UM**2
    assert areas_um2.min() >= 100.0  # the default min_area_um2
    values = np.unique(labels)
    np.testing.assert_array_equal(values, np.arange(values.size))  # sequential


def test_downsampled_copy_gives_the_same_foreground(sample_4):
    # The same field binned 2 × 2 (0.24 µm/px) must give nearly the same cell area.
    ny, nx = (s // 2 * 2 for s in sample_4.shape)
    binned = sample_4[:ny, :nx].astype(np.float32).reshape(ny // 2, 2, nx // 2, 2).mean(axis=(1, 3))
    full = segment_cells(sample_4, PIXEL_SIZE_UM)[:ny:2, :nx:2] > 0
    half = segment_cells(binned, 2 * PIXEL_SIZE_UM) > 0
    assert (full == half).mean() > 0.97


def test_a_sheet_filling_most_of_the_field_is_found():
    """SarcGraph's sample_2.avi: beating hiPSC-CMs covering ~90 % of each frame. The background
    plane, fitted to the dim cells between the bright ones, had flattened the sheet below the
    contrast test: every frame came out empty."""
    from pathlib import Path

    pytest.importorskip("av", reason="reading the AVI needs PyAV")
    import imageio.v3 as iio

    path = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "sarcgraph" / "sample_2.avi"
    if not path.is_file():
        pytest.skip(f"real test movie not found at {path}")
    for t in (0, 73, 145):
        frame = iio.imread(path, index=t, plugin="pyav")[..., 0]
        labels = segment_cells(frame, PIXEL_SIZE_UM)
        assert (labels[100:300, 200:350] > 0).all()  # the striated sheet right of centre
        corner = (slice(0, 40), slice(0, 40))  # a dark corner: the camera background
        assert np.percentile(frame[corner], 99) < 0.7 * np.median(frame[100:300, 200:350])
        assert not labels[corner].any()
