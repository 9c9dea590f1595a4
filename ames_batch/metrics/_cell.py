"""All metrics of one cell in one call, with fixed keys (`METRIC_NAMES`)."""

import numpy as np

from ._clipped import extrapolate_clipped
from ._crop import texture_crop
from ._density import _zdisc_density
from ._orientation import _axis_relation, _zdisc_orientation
from ._organisation import _organised_map
from ._pieces import _zdisc_pieces
from ._sarcomere import MIN_CONFIDENCE, _sarcomere_length, _zdisc_normal
from ._shape import _cell_shape
from ._validate import _check_inputs

#: Keys of `cell_metrics`, in CSV column order.
METRIC_NAMES: tuple[str, ...] = (
    "area_um2",
    "length_um",
    "width_um",
    "aspect_ratio",
    "solidity",
    "rectangularity",
    "long_axis_deg",
    "sarcomere_length_um",
    "sarcomere_length_confidence",
    "zdisc_orientation_deg",
    "oop",
    "zdisc_angle_deg",
    "zdisc_axis_alignment",
    "organised_fraction",
    "zdisc_density_per_um",
    "zdisc_length_um",
    "punctate_density_per_um2",
)
#: Version of the metrics' definitions, raised whenever a change moves any metric's values
#: (history in docs/metrics.md): a model fit on another version reads shifted inputs.
METRICS_VERSION: int = 3


def cell_metrics(mip, mask, pixel_size_um: float, *, clipped=None,
                 organised_out: np.ndarray | None = None) -> dict[str, float]:
    """Quantitative sarcomere and shape metrics of one cell crop.

    Parameters
    ----------
    mip : (Y, X) ndarray
        Alpha-actinin maximum projection of the cell crop (any real dtype, value range kept).
    mask : (Y, X) ndarray of bool
        True inside the cell; same shape as `mip` (0/1 integers accepted).
    pixel_size_um : float
        Isotropic pixel size in µm, > 0.
    clipped : (Y, X) ndarray of bool or float, optional
        Pixels the detector clipped (True, or a share >= 1/2 of clipped pixels beneath, as
        ``FieldData.clipped``): the texture metrics read them as domes that continue the
        image's slope at the clip (`extrapolate_clipped`). None: nothing clipped.
    organised_out : (Y, X) ndarray of bool, optional
        Receives the organised map behind ``organised_fraction`` (see `organised_map`), so a
        caller that shows it need not compute it again.

    Returns
    -------
    metrics : dict of str to float
        Exactly the keys of `METRIC_NAMES`, NaN where undefined:

        - ``area_um2``, ``length_um``, ``width_um``, ``aspect_ratio``, ``solidity``,
          ``rectangularity``, ``long_axis_deg``:
          see `cell_shape` (angles in [0, 180) from x towards y, as in ``ames_batch.synth``).
        - ``sarcomere_length_um``: z-disc spacing from the global spectrum (NaN if no clear
          peak); ``sarcomere_length_confidence``: its ``1 - background / peak`` in [0, 1).
        - ``zdisc_orientation_deg``: nematic mean z-disc line angle; ``oop``: orientation order
          parameter, 0 isotropic .. 1 all parallel (see `zdisc_orientation`).
        - ``zdisc_angle_deg``: angle between the mean z-disc line and the long axis, 0–90°
          (90 = stripes across the cell, the mature pattern).
        - ``zdisc_axis_alignment``: strength-weighted mean of ``cos 2(theta - long axis)`` over
          the cell, -1 (all stripes across) .. 0 (random) .. +1 (all along the axis); unlike the
          angle it stays meaningful when order is low.
        - ``organised_fraction``: share of the area with clear 1.4–2.6 µm periodicity.
        - ``zdisc_density_per_um``: z-disc line length per area (µm/µm²), see `zdisc_density`.
        - ``zdisc_length_um``: median z-disc line length (µm, about the myofibril width);
          ``punctate_density_per_um2``: z-body-like puncta per µm² (see `zdisc_pieces`).

    Raises
    ------
    TypeError
        If `mip` or `mask` is not an array, or `pixel_size_um` not a number.
    ValueError
        If either is not 2-D, shapes differ, `mask` is empty or holds values other than 0/1,
        `mip` holds NaN/Inf, or `pixel_size_um` <= 0.

    Notes
    -----
    Eager, on one in-memory crop, float32 (sums over the cell and spectral profiles in
    float64). The filtered images are computed once and shared: one line residual for the
    structure tensor and the organised map, one high-pass for length and density, one
    structure tensor for orientation, axis relation and organisation (which picks its own
    spacing, see `organised_map`), one distance transform for the taper and the comb.
    Cost grows with the crop's pixels (~0.5 s per megapixel, one core): the pipeline
    measures cells at ``ames_batch.image.WORKING_PIXEL_SIZE_UM`` (0.16 µm/px, see
    `ames_batch.image.to_working_scale`), where the numbers agree with those at 3D-SIM
    pixel sizes (docs/metrics.md, "Working scale"). Shape metrics are measured on `mask` as
    given; the texture metrics of a crop coarser than `MAX_TEXTURE_PIXEL_UM` on the crop
    interpolated by a whole factor to that size or finer (`texture_crop`: the filters need
    pixels finer than the z-discs). FFTs use scipy.fft's worker count
    (``scipy.fft.set_workers``; one by default).

    Examples
    --------
    >>> y, x = np.mgrid[:96, :192]
    >>> mip = np.exp(-((x % 12) - 6.0) ** 2 / 4.0).astype(np.float32)  # stripes across
    >>> mask = ((y - 48) / 40.0) ** 2 + ((x - 96) / 90.0) ** 2 < 1
    >>> m = cell_metrics(mip, mask, 0.15)
    >>> sorted(m) == sorted(METRIC_NAMES), round(m["sarcomere_length_um"], 1), round(m["zdisc_angle_deg"])
    (True, 1.8, 90)
    """
    arr, m, px = _check_inputs(mip, mask, pixel_size_um)
    if organised_out is not None and (not isinstance(organised_out, np.ndarray) or organised_out.dtype != bool
                                      or organised_out.shape != m.shape):
        raise ValueError(f"`organised_out` must be a bool array of the mask's shape {m.shape}")
    out = dict.fromkeys(METRIC_NAMES, float("nan"))
    out.update(_cell_shape(m, px))
    if clipped is not None:
        arr = extrapolate_clipped(arr, clipped)
    crop, k = texture_crop(arr, m, px)
    angle, oop = _zdisc_orientation(crop.tensor_in_cell)
    any_length, conf = _sarcomere_length(crop, min_confidence=0.0,
                                         zdisc_normal_deg=_zdisc_normal(angle, oop))
    out["sarcomere_length_um"] = any_length if conf >= MIN_CONFIDENCE else float("nan")
    out["sarcomere_length_confidence"] = conf
    out["zdisc_orientation_deg"] = angle
    out["oop"] = oop
    out["zdisc_angle_deg"], out["zdisc_axis_alignment"] = _axis_relation(
        crop.tensor_in_cell, angle, out["long_axis_deg"])
    organised, _ = _organised_map(crop)
    out["organised_fraction"] = float(organised.sum() / crop.mask.sum())
    if organised_out is not None:  # on the caller's grid: the majority of each k x k block
        ny, nx = m.shape
        organised_out[...] = organised.reshape(ny, k, nx, k).mean(axis=(1, 3)) >= 0.5
    out["zdisc_density_per_um"] = _zdisc_density(crop)
    out.update(_zdisc_pieces(crop))
    return {k: float(out[k]) for k in METRIC_NAMES}
