"""`convert` then `run` on real cells: SarcGraph's sample_2.avi, beating hiPSC-CMs (146 frames).

Each frame becomes a field; the sheet is found in every frame and rated. What the movie itself
tells us: the cells are iPSC-derived, and their sarcomeres shorten and relax smoothly twice.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "sarcgraph"
PIXEL_SIZE_UM = 0.12  # not published; the ~12 px spacing then reads as a 1.4-1.5 µm sarcomere


@pytest.fixture(scope="module")
def rated_movie(tmp_path_factory):
    pytest.importorskip("av", reason="reading the AVI needs PyAV")
    movie = SHARED / "sample_2.avi"
    if not movie.is_file():
        pytest.skip(f"real test movie not found at {movie}")
    from ames_batch.pipeline import convert_files, run_plate

    plate = tmp_path_factory.mktemp("movie") / "movie.zarr"
    assert convert_files([movie], plate, pixel_size_um=PIXEL_SIZE_UM).ok
    report = run_plate(plate, explain=(), report=False)
    table = pd.read_csv(report.csv, dtype={"field": str, "sarcomerisation": str})
    return report, table.assign(frame=table["field"].astype(int)).sort_values("frame")


def test_every_frame_is_found_and_rated(rated_movie):
    report, table = rated_movie
    assert len(report.results) == 146 and report.n_empty == 0 and not report.failed
    assert (table.groupby("frame").size() == 1).all() and (table.status == "ok").all()
    assert (table.source == "ipsc").mean() >= 0.9  # what these cells are


def test_sarcomere_length_follows_the_beat_smoothly(rated_movie):
    _, table = rated_movie
    lengths = table.sarcomere_length_um.to_numpy(float)
    assert np.isfinite(lengths).all()
    median = float(np.median(lengths))
    jumps = np.abs(np.diff(lengths))
    assert jumps.max() < 0.06 * median and np.percentile(jumps, 90) < 0.02 * median  # no jumps to harmonics
    assert lengths.max() - lengths.min() > 0.05 * median  # the contraction shows
    # the bounds of tests/metrics/test_real_sarcgraph.py, which measures one region without segmenting
    short = lengths < np.percentile(lengths, 90) * 0.96  # shortening by > 4 % below rest
    episodes = np.count_nonzero(short[1:] & ~short[:-1]) + int(short[0])
    assert episodes >= 2  # two beats, at least
