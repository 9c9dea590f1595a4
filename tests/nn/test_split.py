"""Leakage-free splitting: disjoint cells, whole groups, stratified, seeded."""

from collections import Counter

import numpy as np
import pytest

from ames_batch.nn._split import split_cells


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def _cells(rng, n=120):
    ids = np.array([f"plate/A/{i % 3 + 1}/0/{i + 1}" for i in range(n)])
    strata = {"source": rng.integers(0, 3, n), "sarcomerisation": rng.integers(0, 4, n)}
    return ids, strata


def test_no_cell_in_two_splits_and_all_cells_used(rng):
    ids, strata = _cells(rng)
    s = split_cells(ids, strata, seed=1)
    sets = [set(ids[s.train]), set(ids[s.val]), set(ids[s.test])]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    assert set().union(*sets) == set(ids.tolist())
    assert s.test.size == pytest.approx(0.15 * ids.size, abs=2)
    assert s.val.size == pytest.approx(0.15 * ids.size, abs=2)


def test_split_is_stratified(rng):
    ids = np.array([f"c{i}" for i in range(200)])
    y = np.repeat([0, 1, 2, 3], [20, 40, 60, 80])  # unbalanced classes
    s = split_cells(ids, {"sarcomerisation": y}, seed=3)
    for part in (s.train, s.val, s.test):
        frac = np.bincount(y[part], minlength=4) / part.size
        np.testing.assert_allclose(frac, [0.1, 0.2, 0.3, 0.4], atol=0.04)  # ~1 cell of 30


def test_split_is_seeded(rng):
    ids, strata = _cells(rng)
    a, b = split_cells(ids, strata, seed=5), split_cells(ids, strata, seed=5)
    c = split_cells(ids, strata, seed=6)
    np.testing.assert_array_equal(a.test, b.test)
    np.testing.assert_array_equal(a.val, b.val)
    assert not np.array_equal(a.test, c.test)


def test_groups_never_straddle_splits(rng):
    n = 150
    ids = np.array([f"c{i}" for i in range(n)])
    groups = np.array([f"donor{i % 10}" for i in range(n)])
    y = rng.integers(0, 3, n)
    s = split_cells(ids, {"source": y}, groups=groups, seed=2)
    g = [set(groups[p]) for p in (s.train, s.val, s.test)]
    assert all(g) and not (g[0] & g[1]) and not (g[0] & g[2]) and not (g[1] & g[2])
    assert s.train.size + s.val.size + s.test.size == n
    summary = s.summary({"source": y})
    assert summary["by_group"] and set(summary["test"]["groups"]) == g[2]
    assert sum(summary["train"]["classes"]["source"].values()) == s.train.size


def test_repeated_cell_id_is_rejected():
    with pytest.raises(ValueError, match="unique"):
        split_cells(["a", "b", "c", "a"])


def test_too_few_groups_is_rejected():
    with pytest.raises(ValueError, match="groups"):
        split_cells([f"c{i}" for i in range(10)], groups=["g1"] * 5 + ["g2"] * 5)


@pytest.mark.parametrize("val, test", [(0.0, 0.2), (0.5, 0.5), (0.2, 1.2)])
def test_bad_fractions_are_rejected(val, test):
    with pytest.raises(ValueError, match="fraction"):
        split_cells([f"c{i}" for i in range(10)], val_fraction=val, test_fraction=test)
