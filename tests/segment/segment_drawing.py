"""Striated synthetic cells drawn for the segmentation tests (a module name no other test folder uses)."""

import numpy as np


def draw_cells(
    rng: np.random.Generator,
    shape: tuple[int, int],
    pixel_size_um: float,
    cells: list[tuple[float, float, float, float, float]],
    *,
    period_um: float = 1.8,
    background: float = 200.0,
    brightness: float = 1500.0,
    noise: float = 30.0,
    nucleus: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """A float32 MIP of striated elliptical cells plus its uint32 truth labels.

    `cells` holds ``(cy_um, cx_um, semi_long_um, semi_short_um, angle_deg)`` per cell.
    Z-disc stripes (period `period_um`) run perpendicular to each cell's long axis,
    broken into myofibrils of ~1 µm with ~0.6 µm gaps; an unstained nucleus sits in
    the middle. Overlapping pixels belong to the cell whose ellipse they lie deeper in.
    """
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float64) * pixel_size_um
    signal = np.zeros(shape)
    depth = np.full(shape, np.inf)
    truth = np.zeros(shape, np.uint32)
    for label, (cy, cx, a, b, angle) in enumerate(cells, start=1):
        t = np.deg2rad(angle)
        u = (xx - cx) * np.cos(t) + (yy - cy) * np.sin(t)  # along the long axis
        v = -(xx - cx) * np.sin(t) + (yy - cy) * np.cos(t)
        r = (u / a) ** 2 + (v / b) ** 2
        inside = r < 1
        closer = inside & (r < depth)
        truth[closer] = label
        depth[closer] = r[closer]
        discs = np.cos(np.pi * u / period_um) ** 8  # thin bright z-discs
        fibrils = (np.mod(v, 1.6) < 1.0).astype(float)
        stain = discs * fibrils
        if nucleus:
            stain[(u / (0.25 * a)) ** 2 + (v / (0.5 * b)) ** 2 < 1] = 0.0
        signal = np.maximum(signal, np.where(inside, 0.15 + stain, 0.0))
    image = background + brightness * signal + rng.normal(0.0, noise, shape)
    return image.astype(np.float32), truth
