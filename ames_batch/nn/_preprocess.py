"""Model inputs that keep the physics: one cell, fixed µm/px, long axis along x, robust intensity.

The same :class:`PreprocessSettings` are saved in the model card and applied at prediction time.
Steps for one cell (2D; 3D adds z):

1. centroid and long-axis angle from the mask's second moments (µm);
2. background ``bg`` = 25th percentile of the field around the cell (bbox + margin, outside mask);
3. one anti-aliased resampling (block mean + Gaussian pre-filter, linear interpolation) into a
   window of `input_shape` pixels at `target_um_per_px`, centred on the centroid (3D: on the
   intensity-weighted z centroid) and rotated so the long axis lies along x when
   `align_long_axis`; outside the field it is ``bg`` (padding); a cell larger than the window
   is centre-cropped, never shrunk; the mask goes through the same resampling;
4. in the window, outside the cell the image is pulled towards ``bg``: kept with weight
   `outside_weight` up to `margin_um` from the mask, replaced by ``bg`` beyond (neighbouring
   cells vanish, the cell's outline stays visible);
5. percentile normalisation over the cell's pixels in the window, clipped to [0, 1], float32.
"""

import math
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from .._lazy import ndi
from ..image import cell_bbox, cell_long_axis, normalize_percentile, percentile, resample_frame

__all__ = ["CellGeometry", "PreprocessSettings", "cell_input_2d", "cell_input_3d"]


@dataclass(frozen=True)
class PreprocessSettings:
    """How one cell becomes a model input; stored in the model card.

    Attributes
    ----------
    input_shape : tuple of int
        Model input without the channel axis: ``(H, W)`` for 2D, ``(D, H, W)`` for 3D.
    target_um_per_px : float
        Output pixel size in y and x, µm. Keep <= ~0.4 so a 1.6 µm sarcomere spans >= 4 px.
    z_step_um : float or None
        Output slice spacing in µm (3D only; None for 2D).
    margin_um : float
        Context kept around the mask, µm; beyond it the input is background.
    outside_weight : float
        Weight in [0, 1] of the image between the mask and the margin (0: cut the cell out,
        1: keep the surroundings as they are).
    align_long_axis : bool
        Rotate so the cell's long axis lies along x (directionality becomes an absolute
        orientation). Training augmentation must then keep that axis (flips, 180° turns only).
    percentiles : (float, float)
        Low/high percentiles inside the cell mapped to 0/1.
    clip : bool
        Clip normalised intensities to [0, 1].
    """

    input_shape: tuple[int, ...] = (256, 256)
    target_um_per_px: float = 0.4
    z_step_um: float | None = None
    margin_um: float = 2.0
    outside_weight: float = 0.3
    align_long_axis: bool = True
    percentiles: tuple[float, float] = (1.0, 99.8)
    clip: bool = True

    def __post_init__(self):
        shape = tuple(int(n) for n in self.input_shape)
        object.__setattr__(self, "input_shape", shape)
        object.__setattr__(self, "percentiles", tuple(float(p) for p in self.percentiles))
        if len(shape) not in (2, 3) or min(shape) < 8:
            raise ValueError(f"`input_shape` must be (H, W) or (D, H, W) with sizes >= 8; got {shape}")
        if not (math.isfinite(self.target_um_per_px) and self.target_um_per_px > 0):
            raise ValueError(f"`target_um_per_px` must be > 0; got {self.target_um_per_px}")
        if len(shape) == 3:
            if self.z_step_um is None or not (math.isfinite(self.z_step_um) and self.z_step_um > 0):
                raise ValueError(f"3D settings need `z_step_um` > 0; got {self.z_step_um}")
        elif self.z_step_um is not None:
            raise ValueError(f"2D settings take no `z_step_um`; got {self.z_step_um}; pass None")
        if not (math.isfinite(self.margin_um) and self.margin_um >= 0):
            raise ValueError(f"`margin_um` must be >= 0; got {self.margin_um}")
        if not 0 <= self.outside_weight <= 1:
            raise ValueError(f"`outside_weight` must be in [0, 1]; got {self.outside_weight}")
        low, high = self.percentiles if len(self.percentiles) == 2 else (math.nan, math.nan)
        if not 0 <= low < high <= 100:
            raise ValueError(f"`percentiles` must be (low, high) with 0 <= low < high <= 100; got {self.percentiles}")

    @property
    def ndim(self) -> int:
        """2 for (H, W) inputs, 3 for (D, H, W)."""
        return len(self.input_shape)

    @classmethod
    def default_2d(cls) -> "PreprocessSettings":
        """Defaults for the 2D models: 0.4 µm/px, 256 x 256 px (102 µm), long axis along x."""
        return cls()

    @classmethod
    def default_3d(cls) -> "PreprocessSettings":
        """Defaults for the 3D model: 0.4 µm/px in y/x, 0.5 µm z-step, 16 x 192 x 192 (8 x 77 x 77 µm)."""
        return cls(input_shape=(16, 192, 192), target_um_per_px=0.4, z_step_um=0.5)

    def to_dict(self) -> dict:
        """JSON-ready copy (lists for tuples), as stored in the model card."""
        out = asdict(self)
        out["input_shape"] = list(self.input_shape)
        out["percentiles"] = list(self.percentiles)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "PreprocessSettings":
        """Settings from :meth:`to_dict` output; unknown keys are refused.

        Raises
        ------
        TypeError
            If `data` is not a dict.
        ValueError
            On unknown keys or invalid values.
        """
        if not isinstance(data, dict):
            raise TypeError(f"`data` must be a dict; got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown preprocessing settings {unknown}; known: {sorted(known)}")
        return cls(**data)


@dataclass(frozen=True, eq=False)
class CellGeometry:
    """Where a model input came from: maps crop-frame arrays back into the field.

    Attributes
    ----------
    matrix : (n, n) ndarray
        ``field_index = matrix @ crop_index + offset`` (n = 2 for y/x, 3 for z/y/x).
    offset : (n,) ndarray
    crop_shape : tuple of int
        Shape of the model input without channel axis.
    field_shape : tuple of int
        Shape of the field the cell came from, ``(Y, X)`` or ``(Z, Y, X)``.
    bbox : tuple of slice
        The cell mask's bounding box in the field (y, x).
    mask : (h, w) ndarray of bool
        The cell mask inside `bbox`.
    centroid_yx : (float, float)
        Cell centroid, field pixels.
    angle_rad : float
        Rotation applied (long-axis angle; 0 when not aligned).
    extra : dict
        ``"background"`` (the level used for padding, raw intensity units), ``"crop_mask"``
        (bool, the cell in the crop frame, shape `crop_shape`) and, for 3D, ``"centroid_z"``.
    """

    matrix: np.ndarray
    offset: np.ndarray
    crop_shape: tuple[int, ...]
    field_shape: tuple[int, ...]
    bbox: tuple[slice, slice]
    mask: np.ndarray = field(repr=False)
    centroid_yx: tuple[float, float]
    angle_rad: float
    extra: dict = field(default_factory=dict, repr=False)

    def to_field(self, array: np.ndarray, field_shape_yx: tuple[int, ...]) -> np.ndarray:
        """Map a crop-frame array (e.g. a heatmap) back into field coordinates.

        Parameters
        ----------
        array : (H, W), (H, W, 1), (D, H, W) or (D, H, W, 1) ndarray
            Values on the model-input grid. A 2D array of a 3D input (e.g. a heatmap projected
            over depth) maps to (Y, X).
        field_shape_yx : tuple of int
            ``(Y, X)`` of the field, or ``(Z, Y, X)`` to map a 3D array to a 3D field.

        Returns
        -------
        out : ndarray of float32
            `field_shape_yx`; linear interpolation of `array` (inverse rotation, scaling and
            translation), zero outside the cell mask and outside the crop window.

        Raises
        ------
        ValueError
            If shapes do not match this geometry.
        """
        field_shape = tuple(int(n) for n in field_shape_yx)
        out = np.zeros(field_shape, np.float32)
        out[self.region] = self.to_region(array, field_shape)
        return out

    def to_region(self, array: np.ndarray, field_shape_yx: tuple[int, ...], *,
                  step: tuple[int, ...] | None = None) -> np.ndarray:
        """``to_field(array, field_shape_yx)[self.region]`` (the rest is zero) without a
        field-sized array: (h, w) or (Z, h, w) float32.

        With `step` (field pixels per output pixel along each axis of `field_shape_yx`), the
        values on that coarser grid instead, in ``self.region_on(step)``: output pixel ``k``
        covers field pixels ``k * step`` to ``k * step + step - 1`` and holds the map at their
        centre times the cell's share of them (a heatmap has no finer detail than its model's
        input pixel; a 3D map on the working grid cost ~1 s per cell and task).
        """
        array = np.asarray(array, dtype=np.float32)
        if array.ndim == len(self.crop_shape) + 1 and array.shape[-1] == 1:
            array = array[..., 0]
        field_shape = tuple(int(n) for n in field_shape_yx)
        if field_shape[-2:] != tuple(self.field_shape[-2:]):
            raise ValueError(
                f"`field_shape_yx` must end with the cell's field shape {self.field_shape[-2:]}; got {field_shape}"
            )
        if array.ndim == 2 and array.shape == tuple(self.crop_shape[-2:]):
            matrix, offset = self.matrix[-2:, -2:], self.offset[-2:]
            if len(field_shape) != 2:
                raise ValueError(f"a 2D `array` maps to a (Y, X) field; got field shape {field_shape}")
        elif array.ndim == 3 and array.shape == tuple(self.crop_shape) and len(field_shape) == 3:
            matrix, offset = self.matrix, self.offset
            if field_shape[0] != self.field_shape[0]:
                raise ValueError(f"field depth must be {self.field_shape[0]}; got {field_shape[0]}")
        else:
            raise ValueError(
                f"`array` must have the crop shape {self.crop_shape} (or its last two axes) with a "
                f"field shape of matching rank; got {array.shape} and {field_shape}"
            )
        steps = np.array(step if step is not None else (1,) * len(field_shape), float)
        if steps.shape != (len(field_shape),) or (steps < 1).any() or (steps % 1).any():
            raise ValueError(f"`step` must hold one integer >= 1 per axis of {field_shape}; got {step}")
        box = self.region_on(tuple(int(n) for n in steps), field_shape)[1:]
        starts = np.array([0] * (len(field_shape) - 2) + [b.start for b in box], float)
        region = tuple(n // int(f) for n, f in zip(field_shape[:-2], steps[:-2])) + tuple(b.stop - b.start for b in box)
        if 0 in region:  # the cell lies in the partial last block, which the coarse grid drops
            return np.zeros(region, np.float32)
        # output index k -> field index steps * k + (steps - 1) / 2 (block centre) -> crop index
        inverse = np.linalg.inv(matrix)
        local = _affine_linear(array, inverse @ np.diag(steps), inverse @ (steps * starts + (steps - 1) / 2 - offset),
                               region)
        local *= self._share(box, steps[-2:].astype(int))
        return local

    def _share(self, box: tuple[slice, slice], step: tuple[int, int]) -> np.ndarray:
        """The cell's share of each (step_y, step_x) block of `box` (block units)."""
        if tuple(step) == (1, 1):
            return self.mask
        (sy, sx), (by, bx) = step, box
        window = np.zeros(((by.stop - by.start) * sy, (bx.stop - bx.start) * sx), np.float32)
        y0, x0 = self.bbox[0].start - by.start * sy, self.bbox[1].start - bx.start * sx
        h, w = self.mask.shape
        window[y0:y0 + h, x0:x0 + w] = self.mask[:window.shape[0] - y0, :window.shape[1] - x0]
        return window.reshape(window.shape[0] // sy, sy, window.shape[1] // sx, sx).mean(axis=(1, 3))

    def region_on(self, step: tuple[int, ...], field_shape: tuple[int, ...]) -> tuple:
        """Index of the cell's bounding box in a field array coarsened by `step` (blocks of
        `step` field pixels per axis of `field_shape`; a partial last block dropped)."""
        (sy, sx), (ny, nx) = step[-2:], field_shape[-2:]
        ys, xs = self.bbox
        return (Ellipsis, slice(ys.start // sy, min(-(-ys.stop // sy), ny // sy)),
                slice(xs.start // sx, min(-(-xs.stop // sx), nx // sx)))

    @property
    def region(self) -> tuple:
        """Index of the cell's bounding box in a (Y, X) or (Z, Y, X) field array."""
        return (Ellipsis,) + tuple(self.bbox)


def _affine_linear(array: np.ndarray, matrix: np.ndarray, offset: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``ndi.affine_transform(array, matrix, offset, shape, order=1, mode="constant")``, float32.

    A 3D map whose z does not mix with y/x (a cell's crop turns in the y/x plane only) is
    interpolated along z first, then plane by plane in y/x: the same values, a third less time
    than 8-neighbour trilinear steps (a 3D demo cell's map: 5 ms against 7.7).
    """
    if array.ndim != 3 or matrix[0, 1:].any() or matrix[1:, 0].any():
        return ndi.affine_transform(array, matrix, offset=offset, output_shape=shape, order=1, mode="constant", cval=0.0)
    out = np.zeros(shape, np.float32)
    n = array.shape[0]
    for plane, z in zip(out, matrix[0, 0] * np.arange(shape[0]) + offset[0]):
        if not -1e-9 <= z <= n - 1 + 1e-9:  # "constant": nothing is interpolated beyond the edge planes
            continue
        lo = min(int(z), n - 2) if n > 1 else 0
        weight = np.float32(z - lo)
        source = array[lo] if n == 1 or weight == 0 else array[lo] * (1 - weight) + array[lo + 1] * weight
        ndi.affine_transform(source, matrix[1:, 1:], offset=offset[1:], output_shape=shape[1:], order=1,
                             mode="constant", cval=0.0, output=plane)
    return out


def _check_settings(settings, ndim: int) -> PreprocessSettings:
    if not isinstance(settings, PreprocessSettings):
        raise TypeError(f"`settings` must be a PreprocessSettings; got {type(settings).__name__}")
    if settings.ndim != ndim:
        raise ValueError(
            f"`settings` are for {settings.ndim}D inputs {settings.input_shape}; this call needs {ndim}D"
        )
    return settings


def _check_inputs(image, cell_mask, ndim: int, name: str):
    if not isinstance(image, np.ndarray):
        raise TypeError(f"`{name}` must be a numpy ndarray; got {type(image).__name__}; compute the field first")
    if image.ndim != ndim or image.dtype.kind not in "uif":
        raise ValueError(f"`{name}` must be a {ndim}D real array; got shape {image.shape}, dtype {image.dtype}")
    if not isinstance(cell_mask, np.ndarray) or cell_mask.dtype != bool:
        raise ValueError(
            f"`cell_mask` must be a bool ndarray; got {getattr(cell_mask, 'dtype', type(cell_mask).__name__)}; "
            "pass labels == label"
        )
    if cell_mask.shape != image.shape[-2:]:
        raise ValueError(f"`cell_mask` must match the (Y, X) shape {image.shape[-2:]}; got {cell_mask.shape}")
    if not cell_mask.any():
        raise ValueError("`cell_mask` is empty (no True pixel)")


def _prepare(image, cell_mask, sy, sx, settings):
    """Shared y/x steps: centroid, angle, bounding box, background level."""
    (cy, cx), angle, _ = cell_long_axis(cell_mask, pixel_size_um=(sy, sx))
    if not settings.align_long_axis:
        angle = 0.0
    bbox = cell_bbox(cell_mask, pixel_size_um=(sy, sx))
    region = cell_bbox(cell_mask, pixel_size_um=(sy, sx), margin_um=settings.margin_um + 2 * max(sy, sx))
    # a strided look is enough for a percentile and keeps big SIM fields cheap
    step = max(1, int(settings.target_um_per_px / max(sy, sx) / 2))
    look = (Ellipsis, slice(region[0].start, region[0].stop, step), slice(region[1].start, region[1].stop, step))
    sub, mask = image[look], cell_mask[look[1:]]
    outside = sub[..., ~mask]
    bg = percentile(outside, 25) if outside.size else float(sub.min())
    return (cy, cx), angle, bbox, bg


def _mask_frame(cell_mask, common: dict, settings: PreprocessSettings):
    """Cell mask in the crop frame (soft, 0..1) and the intensity weight of each crop pixel.

    Inside the cell the weight is 1; up to `margin_um` from it `outside_weight`; beyond, 0
    (pure background). Done on the output grid, so no field-sized distance transform is needed.
    """
    soft = resample_frame(cell_mask.view(np.uint8), cval=0.0, **common)[0]
    soft = np.clip(soft, 0.0, 1.0)
    inside = soft > 0.5
    if inside.any():
        distance = ndi.distance_transform_edt(~inside, sampling=settings.target_um_per_px)
    else:
        distance = np.full(soft.shape, np.inf)
    ring = np.where(distance <= settings.margin_um, settings.outside_weight, 0.0)
    weight = (soft + (1.0 - soft) * ring).astype(np.float32)
    return inside, weight


def cell_input_2d(
    mip: np.ndarray, cell_mask: np.ndarray, pixel_size_um: float, settings: PreprocessSettings
) -> tuple[np.ndarray, CellGeometry]:
    """One cell of a field MIP as a 2D model input, at a fixed µm/px.

    Parameters
    ----------
    mip : (Y, X) ndarray
        Alpha-actinin maximum projection of the field; value range kept until normalisation.
    cell_mask : (Y, X) ndarray of bool
        True inside this cell (``labels == label``).
    pixel_size_um : float
        Isotropic field pixel size in µm, > 0.
    settings : PreprocessSettings
        2D settings (``len(input_shape) == 2``).

    Returns
    -------
    x : (H, W, 1) ndarray of float32
        Normalised input, in [0, 1] when ``settings.clip``.
    geometry : CellGeometry
        Maps crop-frame arrays back into the field.

    Raises
    ------
    TypeError
        If `mip` is not a numpy array or `settings` is not a PreprocessSettings.
    ValueError
        On shape mismatch, an empty or non-bool mask, `pixel_size_um` <= 0 or 3D settings.

    Examples
    --------
    >>> mip = np.zeros((64, 64), np.float32); mip[20:40, 10:50] = 1
    >>> x, geo = cell_input_2d(mip, mip > 0, 0.4, PreprocessSettings(input_shape=(32, 32)))
    >>> x.shape, x.dtype
    ((32, 32, 1), dtype('float32'))
    """
    settings = _check_settings(settings, 2)
    _check_inputs(mip, cell_mask, 2, "mip")
    if not (math.isfinite(pixel_size_um) and pixel_size_um > 0):
        raise ValueError(f"`pixel_size_um` must be > 0; got {pixel_size_um}")
    s = float(pixel_size_um)
    (cy, cx), angle, bbox, bg = _prepare(mip, cell_mask, s, s, settings)
    t = settings.target_um_per_px
    common = dict(
        axes="yx", scale_um={"y": s, "x": s}, target_um={"y": t, "x": t},
        center_px={"y": cy, "x": cx}, output_shape=settings.input_shape, angle_rad=angle,
    )
    raw, matrix, offset = resample_frame(mip, cval=bg, **common)
    crop_mask, weight = _mask_frame(cell_mask, common, settings)
    x = bg + weight * (raw - bg)
    low, high = settings.percentiles
    x = normalize_percentile(x, low=low, high=high, mask=crop_mask, clip=settings.clip)
    geometry = CellGeometry(
        matrix=matrix, offset=offset, crop_shape=settings.input_shape,
        field_shape=tuple(mip.shape), bbox=bbox, mask=cell_mask[bbox].copy(),
        centroid_yx=(cy, cx), angle_rad=angle, extra={"background": bg, "crop_mask": crop_mask},
    )
    return x[..., None], geometry


def cell_input_3d(
    stack: np.ndarray, cell_mask: np.ndarray, scale_um: dict, settings: PreprocessSettings
) -> tuple[np.ndarray, CellGeometry]:
    """One cell of a field stack as a 3D model input, at a fixed µm/px and z-step.

    Parameters
    ----------
    stack : (Z, Y, X) ndarray
        Alpha-actinin stack of the field.
    cell_mask : (Y, X) ndarray of bool
        True inside this cell (the 2D mask applies to every slice).
    scale_um : dict
        ``{"z": ..., "y": ..., "x": ...}`` in µm, each > 0.
    settings : PreprocessSettings
        3D settings (``input_shape == (D, H, W)`` and `z_step_um` set).

    Returns
    -------
    x : (D, H, W, 1) ndarray of float32
        Normalised input; the window is centred in z on the cell's intensity-weighted z centroid.
    geometry : CellGeometry
        Maps crop-frame arrays back into the field ((D, H, W) -> (Z, Y, X), (H, W) -> (Y, X)).

    Raises
    ------
    TypeError, ValueError
        As :func:`cell_input_2d`; also for a `scale_um` without z, y, x.
    """
    settings = _check_settings(settings, 3)
    _check_inputs(stack, cell_mask, 3, "stack")
    if not isinstance(scale_um, dict) or not {"z", "y", "x"} <= set(scale_um):
        raise ValueError(f"`scale_um` must be a dict with z, y, x in µm; got {scale_um!r}")
    sz, sy, sx = (float(scale_um[a]) for a in "zyx")
    if not all(math.isfinite(v) and v > 0 for v in (sz, sy, sx)):
        raise ValueError(f"`scale_um` values must be > 0; got {scale_um}")
    (cy, cx), angle, bbox, bg = _prepare(stack, cell_mask, sy, sx, settings)
    profile = np.clip(stack[:, cell_mask].astype(np.float32) - bg, 0, None).sum(axis=1)
    total = profile.sum()
    cz = float((profile * np.arange(len(profile))).sum() / total) if total > 0 else (len(profile) - 1) / 2
    t, tz = settings.target_um_per_px, settings.z_step_um
    raw, matrix, offset = resample_frame(
        stack, axes="zyx", scale_um={"z": sz, "y": sy, "x": sx}, target_um={"z": tz, "y": t, "x": t},
        center_px={"z": cz, "y": cy, "x": cx}, output_shape=settings.input_shape, angle_rad=angle, cval=bg,
    )
    common = dict(
        axes="yx", scale_um={"y": sy, "x": sx}, target_um={"y": t, "x": t},
        center_px={"y": cy, "x": cx}, output_shape=settings.input_shape[1:], angle_rad=angle,
    )
    crop_mask2, weight = _mask_frame(cell_mask, common, settings)
    x = bg + weight[None] * (raw - bg)
    # slices whose centre lies inside the stack
    z_in = matrix[0, 0] * np.arange(settings.input_shape[0]) + offset[0]
    in_stack = (z_in >= -0.5) & (z_in <= stack.shape[0] - 0.5)
    crop_mask = crop_mask2[None] & in_stack[:, None, None]
    low, high = settings.percentiles
    x = normalize_percentile(x, low=low, high=high, mask=crop_mask, clip=settings.clip)
    geometry = CellGeometry(
        matrix=matrix, offset=offset, crop_shape=settings.input_shape,
        field_shape=tuple(stack.shape), bbox=bbox, mask=cell_mask[bbox].copy(),
        centroid_yx=(cy, cx), angle_rad=angle,
        extra={"background": bg, "crop_mask": crop_mask, "centroid_z": cz},
    )
    return x[..., None], geometry
