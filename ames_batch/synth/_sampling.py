"""Draw cell parameters, optionally for a requested class (balanced training sets)."""

from typing import NamedTuple

import numpy as np

from ._params import SOURCES, CellParams
from ._validate import _as_generator

__all__ = ["sample_cell_params", "MAX_LENGTH_UM", "MAX_BODY_HEIGHT_UM"]

# organised fraction drawn per sarcomerisation rating: inside the rating's bin with a
# margin to the edges (0.20 / 0.45 / 0.70), so that noise-free labels are unambiguous
_SARC_RANGES = {1: (0.05, 0.18), 2: (0.22, 0.43), 3: (0.47, 0.68), 4: (0.72, 0.95)}
# stripe-to-long-axis angle (degrees, folded) per directionality rating (edges 22.5/45/67.5)
_DIR_RANGES = {1: (0.0, 20.0), 2: (25.0, 42.5), 3: (47.5, 65.0), 4: (70.0, 90.0)}
# prior over ratings when none is requested: what each source usually looks like
_SARC_PRIOR = {"adult": (0.05, 0.10, 0.30, 0.55), "neonatal": (0.15, 0.30, 0.35, 0.20),
               "ipsc": (0.35, 0.30, 0.25, 0.10)}
_DIR_PRIOR = {"adult": (0.05, 0.05, 0.15, 0.75), "neonatal": (0.20, 0.25, 0.25, 0.30),
              "ipsc": (0.25, 0.25, 0.25, 0.25)}


def _check_rating(name: str, value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an int 1..4 or None; got {type(value).__name__}")
    if not 1 <= int(value) <= 4:
        raise ValueError(f"`{name}` must be in 1..4; got {value}")


class _Morphology(NamedTuple):
    """Ranges (µm unless noted) of one cell morphology; lengths are drawn log-uniform."""

    weight: float  # share of the source's cells
    length_um: tuple[float, float]
    aspect: tuple[float, float]
    width_um: tuple[float, float]  # the width length / aspect is clipped to
    shape_exponent: tuple[float, float]
    roughness: tuple[float, float]
    polygonality: tuple[float, float]
    height_um: tuple[float, float]
    nucleus_height_um: tuple[float, float]
    fibril_layers: tuple[int, int]  # inclusive


# Sizes overlap between sources as in culture (references in docs/synthetic-cells.md): adult rods
# (length/width ~5, Korecky & Rakusan 1978) next to adult cells that spread in culture (Eppenberger
# et al. 1994); neonatal cells spread up to ~5000 µm² (Simpson et al. 1982); iPSC-derived cells of
# ~300-2000 µm² and aspect 1-8 (Ribeiro et al. 2015; Pardon et al. 2024). Source stays visible in
# texture and form: sarcomere length, fibril width and layers, z-bodies, outline, thickness.
_MORPHOLOGIES: dict[str, tuple[_Morphology, ...]] = {
    # weight, length, aspect, width, exponent, roughness, polygonality, height, nucleus bulge, layers
    "adult": (
        _Morphology(0.65, (60.0, 140.0), (3.0, 7.0), (12.0, 35.0), (3.0, 6.0), (0.005, 0.03), (0.0, 0.02),
                    (4.0, 7.0), (0.0, 0.5), (2, 4)),  # rod, as plated
        _Morphology(0.35, (40.0, 110.0), (1.3, 3.0), (15.0, 45.0), (2.0, 3.5), (0.02, 0.06), (0.02, 0.07),
                    (3.0, 5.5), (0.5, 2.0), (1, 3)),  # spread in culture
    ),
    "neonatal": (
        _Morphology(1.0, (25.0, 110.0), (1.3, 4.0), (10.0, 45.0), (1.7, 3.0), (0.02, 0.07), (0.03, 0.08),
                    (2.5, 5.0), (0.5, 2.5), (1, 2)),  # spread, polygonal
    ),
    "ipsc": (
        _Morphology(0.7, (20.0, 90.0), (1.3, 3.0), (10.0, 40.0), (1.8, 2.6), (0.02, 0.10), (0.0, 0.06),
                    (2.5, 5.0), (0.8, 2.5), (1, 2)),  # round or irregular
        _Morphology(0.3, (50.0, 120.0), (3.5, 7.0), (10.0, 25.0), (2.5, 4.5), (0.01, 0.05), (0.0, 0.03),
                    (2.5, 4.5), (0.5, 2.0), (1, 2)),  # elongated: micropatterned or long in culture
    ),
}
_LAYER_SPACING_UM = 1.5  # at most one myofibril layer per this much body height

#: The longest cell and the thickest body (nucleus bulge included) the sampler draws, in µm.
MAX_LENGTH_UM: float = max(m.length_um[1] for ms in _MORPHOLOGIES.values() for m in ms)
MAX_BODY_HEIGHT_UM: float = max(m.height_um[1] + m.nucleus_height_um[1]
                                for ms in _MORPHOLOGIES.values() for m in ms)


def _shape(rng: np.random.Generator, source: str) -> dict:
    """Outline, body and myofibril layers of one cell, from one of the source's morphologies."""
    options = _MORPHOLOGIES[source]
    m = options[int(rng.choice(len(options), p=[o.weight for o in options]))]
    length = float(np.exp(rng.uniform(*np.log(m.length_um))))
    width = float(np.clip(length / rng.uniform(*m.aspect), *m.width_um))
    height = rng.uniform(*m.height_um)
    most = min(m.fibril_layers[1], max(1, int(height // _LAYER_SPACING_UM)))
    return dict(length_um=length, width_um=width, height_um=height,
                nucleus_height_um=rng.uniform(*m.nucleus_height_um),
                shape_exponent=rng.uniform(*m.shape_exponent), roughness=rng.uniform(*m.roughness),
                polygonality=rng.uniform(*m.polygonality),
                fibril_layers=int(rng.integers(min(m.fibril_layers[0], most), most + 1)))


def sample_cell_params(rng: np.random.Generator | int, *, source: str | None = None,
                       sarcomerisation: int | None = None,
                       directionality: int | None = None) -> CellParams:
    """Draw the parameters of one cell, optionally of a requested class.

    Parameters
    ----------
    rng : numpy.random.Generator or int
        Random source (an int seeds a new generator).
    source : {"adult", "neonatal", "ipsc"}, optional
        Requested source; drawn uniformly when None.
    sarcomerisation, directionality : int 1..4, optional
        Requested ratings; when None they follow the source's prior (adult cells are
        mostly 3-4 / perpendicular, iPSC-derived cells mostly 1-2, any direction).

    Returns
    -------
    params : CellParams
        A cell whose noise-free :func:`rate_cell` equals the requested classes.

    Raises
    ------
    TypeError
        If `rng` is neither a Generator nor an int, or a rating is not an int.
    ValueError
        If `source` is unknown or a rating is outside 1..4.

    Notes
    -----
    Class-defining quantities are drawn inside their bin with a margin to its edges;
    everything else (size, outline, fibril width and gaps, stripe profile and
    contrast, z-bodies, diffuse stain, brightness) is randomised widely so that a
    model cannot learn a class from a nuisance parameter. Maturity shifts a few
    nuisance ranges (longer myofibril runs and less disorder when sarcomerisation is
    high) the way real cells do. Sizes of the sources overlap (adult cells as rods or
    spread in culture, iPSC-derived cells round or elongated); the source shows in
    texture and form (sarcomere length, fibril width and layers, z-bodies, outline).

    Examples
    --------
    >>> p = sample_cell_params(0, source="ipsc", sarcomerisation=1)
    >>> p.source, p.organised_fraction < 0.2
    ('ipsc', True)
    """
    rng = _as_generator(rng)
    if source is not None and source not in SOURCES:
        raise ValueError(f"`source` must be one of {SOURCES} or None; got {source!r}")
    _check_rating("sarcomerisation", sarcomerisation)
    _check_rating("directionality", directionality)

    if source is None:
        source = SOURCES[int(rng.integers(len(SOURCES)))]
    if sarcomerisation is None:
        sarcomerisation = int(rng.choice(4, p=_SARC_PRIOR[source])) + 1
    if directionality is None:
        directionality = int(rng.choice(4, p=_DIR_PRIOR[source])) + 1
    sarc, direc = int(sarcomerisation), int(directionality)

    shape = _shape(rng, source)
    fraction = rng.uniform(*_SARC_RANGES[sarc])
    angle = rng.uniform(*_DIR_RANGES[direc]) * rng.choice([-1.0, 1.0])
    maturity = (sarc - 1) / 3.0  # 0 .. 1
    max_disorder = {"adult": 6.0, "neonatal": 12.0, "ipsc": 16.0}[source] * (1.3 - 0.6 * maturity)
    sarcomere = {"adult": (1.8, 2.2), "neonatal": (1.7, 2.1), "ipsc": (1.6, 2.0)}[source]
    fibril_width = {"adult": (1.0, 2.0), "neonatal": (0.6, 1.6), "ipsc": (0.5, 1.3)}[source]
    zbody_density = {"adult": (0.05, 0.35), "neonatal": (0.1, 0.5), "ipsc": (0.2, 0.7)}[source]
    out_of_plane = {"adult": (2.0, 8.0), "neonatal": (4.0, 14.0), "ipsc": (6.0, 18.0)}[source]
    sarcomere_length = rng.uniform(*sarcomere)
    return CellParams(
        source=source,
        long_axis_deg=rng.uniform(0.0, 180.0),
        **shape,
        sarcomere_length_um=sarcomere_length,
        sarcomere_jitter_um=rng.uniform(0.01, 0.06) * sarcomere_length,
        zdisc_thickness_um=rng.uniform(0.1, 0.3),
        zdisc_angle_deg=float(angle),
        orientation_disorder_deg=rng.uniform(0.0, max_disorder),
        organised_fraction=float(fraction),
        fibril_width_um=rng.uniform(*fibril_width),
        fibril_gap_um=rng.uniform(0.3, 0.9) + rng.uniform(0.0, 0.6) * (1 - maturity),
        fibril_fill=rng.uniform(0.6, 0.8) + 0.15 * maturity,
        fibril_branching=rng.uniform(0.1, 0.5),
        fibril_bend_um=rng.uniform(0.1, 0.8),
        fibril_bend_period_um=rng.uniform(25.0, 60.0),
        register_jitter_um=rng.uniform(0.06, 0.2) * sarcomere_length * (1.5 - maturity),
        domain_size_um=rng.uniform(6.0, 15.0) * (0.7 + 0.6 * maturity),
        stripe_contrast=rng.uniform(0.85, 0.98),
        stripe_sharpness=rng.uniform(1.6, 4.0),
        zdisc_brightness_cv=rng.uniform(0.25, 0.6),
        zdisc_tilt_deg=rng.uniform(3.0, 12.0),
        zdisc_out_of_plane_deg=rng.uniform(*out_of_plane),
        zbody_density_per_um2=rng.uniform(*zbody_density),
        zbody_size_um=rng.uniform(0.08, 0.2),
        zbody_brightness=rng.uniform(0.2, 0.6),
        diffuse_level=rng.uniform(0.01, 0.06),
        brightness=float(rng.lognormal(0.0, 0.3)),
        detail_seed=int(rng.integers(2**31 - 1)),
    )
