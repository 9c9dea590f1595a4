"""segment_cells on synthetic 3D-SIM fields from ames_batch.synth, scored with match_labels.

Seeds here (100+) were not used to choose the defaults (those were measured on seeds 0-11,
see docs/segmentation.md). Fields are rendered at DEMO_SCALE_UM (0.16 µm/px) and projected.
"""

import numpy as np
import pytest

from ames_batch.segment import match_labels, segment_cells

synth = pytest.importorskip("ames_batch.synth", reason="ames_batch.synth not available")


def _field(seed: int, sources: tuple[str, ...], *, touching: bool = False):
    cells = [synth.sample_cell_params(seed * 10 + i, source=s) for i, s in enumerate(sources)]
    return synth.synthesize_field(
        seed, cell_params=cells, scale_um=synth.DEMO_SCALE_UM, touching=touching
    )


def _score(fields):
    """Pooled recall and precision at IoU 0.5 over fields, plus the per-field matches."""
    matches = []
    for field in fields:
        mip = field.stack.max(axis=0)
        labels = segment_cells(mip, field.scale_um["x"])
        assert labels.shape == field.cell_labels.shape and labels.dtype == np.uint32
        matches.append(match_labels(labels, field.cell_labels, iou_threshold=0.5))
    tp = sum(m.n_matched for m in matches)
    recall = tp / sum(m.n_truth for m in matches)
    precision = tp / max(1, sum(m.n_predicted for m in matches))
    return recall, precision, matches


@pytest.mark.parametrize("source", ["adult", "neonatal", "ipsc"])
def test_one_cell_per_field_gives_one_label(source):
    fields = [_field(seed, (source,)) for seed in (100, 101)]
    recall, precision, matches = _score(fields)
    assert [m.n_predicted for m in matches] == [1, 1]
    assert recall == 1.0 and precision == 1.0
    assert min(iou for m in matches for *_, iou in m.pairs) > 0.8


def test_three_separate_cells_of_all_sources():
    fields = [_field(seed, synth.SOURCES) for seed in (100, 101)]
    recall, precision, _ = _score(fields)
    # since 2026-12 adults include spread cultured cells (here one of 108 x 39 µm with a waist,
    # cut in two: 6 of 7 labels match); pooled over 42 cells (slow test) precision is 0.98
    assert recall == 1.0 and precision >= 0.85


def test_touching_cells_of_all_sources():
    fields = [_field(seed, synth.SOURCES, touching=True) for seed in (100, 101)]
    recall, precision, matches = _score(fields)
    assert recall >= 0.9 and precision >= 0.9
    assert min(iou for m in matches for *_, iou in m.pairs) > 0.6


def test_empty_synthetic_background_gives_no_labels():
    field = _field(100, ("ipsc",))
    mip = field.stack.max(axis=0)
    background = mip[field.cell_labels == 0]
    # Keep the acquisition's own background and noise; drop the cell.
    empty = np.where(field.cell_labels > 0, np.median(background), mip).astype(mip.dtype)
    assert not segment_cells(empty, field.scale_um["x"]).any()


@pytest.mark.slow
def test_many_seeded_fields():
    separate = [_field(seed, synth.SOURCES) for seed in range(110, 120)]
    single = [_field(seed, (s,)) for seed in range(110, 114) for s in synth.SOURCES]
    recall, precision, _ = _score(separate + single)
    assert recall >= 0.9 and precision >= 0.9
    touching = [_field(seed, synth.SOURCES, touching=True) for seed in range(110, 120)]
    recall, precision, _ = _score(touching)
    # Measured on these seeds: recall 0.93, precision 0.88 with the generator of 2026-12 (0.87 /
    # 0.90 before; docs/segmentation.md): a very dim cell beside a bright one can be missed or
    # cut, a spread adult cell with a waist cut in two; the 0.9 target is not met here.
    assert recall >= 0.85 and precision >= 0.85
