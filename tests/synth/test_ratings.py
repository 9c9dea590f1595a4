"""Rating rules and the class-conditional sampler."""

import itertools

import numpy as np
import pytest

from ames_batch.synth import (DIRECTIONALITY_EDGES_DEG, SARCOMERISATION_EDGES, SOURCES, CellParams,
                              rate_cell, sample_cell_params)


@pytest.mark.parametrize(("source", "sarc", "direc"), list(itertools.product(SOURCES, (1, 2, 3, 4), (1, 2, 3, 4))))
def test_requested_class_is_what_the_rules_rate(source, sarc, direc):
    rng = np.random.default_rng(hash((source, sarc, direc)) % 2**32)
    for _ in range(5):
        p = sample_cell_params(rng, source=source, sarcomerisation=sarc, directionality=direc)
        assert rate_cell(p) == {"sarcomerisation": sarc, "directionality": direc, "source": source}
        assert p.length_um >= 1.3 * p.width_um  # a long axis exists
        assert -90.0 <= p.zdisc_angle_deg <= 90.0 and 0.0 <= p.long_axis_deg < 180.0


def test_rules_follow_documented_edges():
    p = sample_cell_params(0, source="neonatal")
    import dataclasses
    for f, want in [(0.05, 1), (SARCOMERISATION_EDGES[0], 2), (0.5, 3), (0.99, 4)]:
        assert rate_cell(dataclasses.replace(p, organised_fraction=f))["sarcomerisation"] == want
    for a, want in [(0.0, 1), (-30.0, 2), (DIRECTIONALITY_EDGES_DEG[1], 3), (-89.0, 4), (90.0, 4)]:
        assert rate_cell(dataclasses.replace(p, zdisc_angle_deg=a))["directionality"] == want
    # source is where the cell came from, whatever its size or shape
    for length, width in ((120.0, 20.0), (30.0, 20.0)):
        assert rate_cell(dataclasses.replace(p, length_um=length, width_um=width))["source"] == "neonatal"


def test_unconditional_draws_cover_all_classes_and_vary():
    rng = np.random.default_rng(1)
    draws = [sample_cell_params(rng) for _ in range(300)]
    ratings = [rate_cell(p) for p in draws]
    assert {r["source"] for r in ratings} == set(SOURCES)
    assert {r["sarcomerisation"] for r in ratings} == {1, 2, 3, 4}
    assert {r["directionality"] for r in ratings} == {1, 2, 3, 4}
    lengths = np.array([p.sarcomere_length_um for p in draws])
    assert lengths.min() >= 1.6 and lengths.max() <= 2.2 and lengths.std() > 0.05
    assert len({p.detail_seed for p in draws}) == len(draws)


def test_rater_noise_grows_disagreement():
    rng = np.random.default_rng(2)
    draws = [sample_cell_params(rng) for _ in range(300)]
    clean = [rate_cell(p) for p in draws]
    def disagreement(noise):
        g = np.random.default_rng(3)
        return np.mean([rate_cell(p, rater_noise=noise, rng=g) != c for p, c in zip(draws, clean)])
    low, high = disagreement(0.2), disagreement(1.0)
    assert 0.0 < low < high < 0.9


def test_sampler_and_rater_reject_bad_input():
    with pytest.raises(ValueError, match="source"):
        sample_cell_params(0, source="rat")
    with pytest.raises(ValueError, match="sarcomerisation"):
        sample_cell_params(0, sarcomerisation=5)
    with pytest.raises(TypeError, match="directionality"):
        sample_cell_params(0, directionality="4")
    with pytest.raises(TypeError, match="rng"):
        sample_cell_params(None)
    p = sample_cell_params(0)
    with pytest.raises(ValueError, match="rng"):
        rate_cell(p, rater_noise=0.5)
    with pytest.raises(ValueError, match="rater_noise"):
        rate_cell(p, rater_noise=-0.1)
    with pytest.raises(TypeError, match="params"):
        rate_cell(p.as_dict())
    assert isinstance(p, CellParams)


@pytest.mark.parametrize(("change", "match"), [
    (dict(source="rat"), "source"),
    (dict(width_um=500.0), "width_um"),
    (dict(organised_fraction=0.0), "organised_fraction"),
    (dict(sarcomere_length_um=-1.0), "sarcomere_length_um"),
    (dict(zdisc_angle_deg=120.0), "zdisc_angle_deg"),
    (dict(diffuse_level=float("nan")), "diffuse_level"),
    (dict(fibril_layers=0), "fibril_layers"),
    (dict(fibril_layers=1.5), "fibril_layers"),
    (dict(nucleus_height_um=-1.0), "nucleus_height_um"),
])
def test_cell_params_reject_bad_values(change, match):
    import dataclasses
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(sample_cell_params(0), **change)
