"""Metrics on real (and SarcGraph's reference synthetic) images from ../shared/data/sarcgraph."""

from pathlib import Path

import numpy as np
import pytest

from ames_batch.metrics import cell_metrics, organised_fraction, sarcomere_length, zdisc_orientation

# not `from conftest import ...`: with several test folders that name finds another conftest
SARCGRAPH = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "sarcgraph"
pytestmark = pytest.mark.skipif(not SARCGRAPH.is_dir(),
                                reason=f"shared real data not found at {SARCGRAPH}")

#: Nominal pixel size for files without one (MANIFEST: ~14–15 px per 1.7–1.9 µm sarcomere).
PX_UM = 0.12


def _read(name):
    path = SARCGRAPH / name
    if not path.is_file():
        pytest.skip(f"{path} missing")
    if path.suffix == ".tif":
        import tifffile
        return tifffile.imread(path)
    import imageio.v3 as iio
    return iio.imread(path)


def _angle_diff(a, b):
    d = (a - b) % 180.0
    return min(d, 180.0 - d)


def test_horizontal_and_vertical_pair():
    """Same spacing (12.37 px peak to peak, MANIFEST) in both; orientations 90° apart."""
    h, v = _read("sample_horizontal.tif"), _read("sample_vertical.tif")
    np.testing.assert_array_equal(np.rot90(h), v)  # the premise of the pair
    px = 0.15  # any value placing 12.37 px in the 1–3.5 µm search band
    results = {}
    for name, img in (("h", h), ("v", v)):
        mask = np.ones(img.shape, bool)
        length_um, conf = sarcomere_length(img, mask, px)
        angle, oop = zdisc_orientation(img, mask, px)
        results[name] = (length_um / px, conf, angle, oop)
    (lh, ch, ah, oh), (lv, cv, av, ov) = results["h"], results["v"]
    assert lh == pytest.approx(12.37, rel=0.03) and lv == pytest.approx(12.37, rel=0.03)
    assert lh == pytest.approx(lv, rel=0.005)
    assert ch > 0.9 and cv > 0.9 and oh > 0.9 and ov > 0.9
    assert _angle_diff(ah, av) == pytest.approx(90.0, abs=1.0)
    # discs are upright in the horizontal image: lines along y, i.e. 90° from x
    assert _angle_diff(ah, 90.0) < 2.0


# Regions picked by eye on a rendering of sample_4.png (row, col of a 200 px square's corner):
# straight striated myofibrils vs. a tangle of fibres and z-bodies with no common order.
ORGANISED = {"A": (800, 700), "G": (1000, 700), "H": (750, 1250)}
#: Organised too, with a shorter spacing (1.61 µm at the nominal 0.12 µm/px, 13.4 px).
DENSE = (150, 900)
DISORDERED = {"B": (1100, 1000)}


def test_sample_4_lengths_and_organisation():
    img = _read("sample_4.png")
    mask = np.ones((200, 200), bool)
    fractions = {}
    for name, (r, c) in {**ORGANISED, **DISORDERED}.items():
        m = cell_metrics(img[r:r + 200, c:c + 200], mask, PX_UM)
        fractions[name] = m["organised_fraction"]
        if name in ORGANISED:
            assert 1.6 <= m["sarcomere_length_um"] <= 2.2, name
            assert m["sarcomere_length_confidence"] > 0.7, name
    assert max(fractions[k] for k in DISORDERED) < min(fractions[k] for k in ORGANISED) - 0.25
    assert min(fractions[k] for k in ORGANISED) > 0.6


def test_sample_4_empty_region_has_no_length_and_dilutes_the_fraction():
    """The empty region on the left (MANIFEST): no spacing; beside organised tissue, no order."""
    img = _read("sample_4.png")
    empty = img[900:1100, 0:200]
    assert np.isnan(sarcomere_length(empty, np.ones(empty.shape, bool), PX_UM)[0])
    r, c = DENSE
    tissue = img[r:r + 200, c:c + 200]
    both = np.concatenate([tissue, empty], axis=1)
    f_tissue = organised_fraction(tissue, np.ones(tissue.shape, bool), PX_UM)
    f_both = organised_fraction(both, np.ones(both.shape, bool), PX_UM)
    assert f_both == pytest.approx(f_tissue / 2, abs=0.1)


def test_sample_2_length_changes_smoothly_over_contractions():
    """Beating cells: bounded frame-to-frame change and a visible periodic shortening."""
    pytest.importorskip("av", reason="reading the AVI needs PyAV (pip install av)")
    import imageio.v3 as iio
    path = SARCGRAPH / "sample_2.avi"
    if not path.is_file():
        pytest.skip(f"{path} missing")
    frames = iio.imread(path, plugin="pyav")[:100, 100:400, 250:400, 0]  # 2 beats, one region
    px = 0.15  # unknown; the spacing (~12 px) in pixels is what we compare
    lengths = np.array([sarcomere_length(f, np.ones(f.shape, bool), px)[0] / px for f in frames])
    assert np.all(np.isfinite(lengths))
    median = float(np.median(lengths))
    jumps = np.abs(np.diff(lengths))
    assert jumps.max() < 0.06 * median  # no jumps to harmonics or noise peaks
    assert np.percentile(jumps, 90) < 0.02 * median
    assert lengths.max() - lengths.min() > 0.05 * median  # contraction is visible
    # periodic: at least two separate episodes of shortening by > 4 % below the resting length
    short = lengths < np.percentile(lengths, 90) * 0.96
    episodes = np.count_nonzero(short[1:] & ~short[:-1]) + int(short[0])
    assert episodes >= 2
