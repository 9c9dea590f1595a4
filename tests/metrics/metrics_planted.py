"""Planted striated cells for the metrics tests (blurred stripes, known spacing and angles)."""

import numpy as np


def planted_cell(rng, *, shape=(200, 320), pixel_size_um=0.16, period_um=1.8,
                 zdisc_line_deg=90.0, long_axis_deg=0.0, length_um=44.0, width_um=20.0,
                 zdisc_sigma_um=0.15, noise=0.3):
    """Blurred z-disc stripes of a known spacing and line angle in an elliptical cell, plus noise.

    Angles run from the x axis towards the y axis (rows), as in ``ames_batch.synth``. Returns
    (mip float32, mask bool). The stripe profile is a Gaussian line of `zdisc_sigma_um`.
    """
    ny, nx = shape
    y, x = np.mgrid[:ny, :nx].astype(np.float64)
    yc, xc = (ny - 1) / 2, (nx - 1) / 2
    # distance across the z-disc lines: along the line normal (line angle + 90°)
    n = np.deg2rad(zdisc_line_deg + 90.0)
    u = ((x - xc) * np.cos(n) + (y - yc) * np.sin(n)) * pixel_size_um
    d = (u / period_um) % 1.0 - 0.5
    stripes = np.exp(-((d * period_um) ** 2) / (2 * zdisc_sigma_um ** 2))
    a = np.deg2rad(long_axis_deg)
    p = ((x - xc) * np.cos(a) + (y - yc) * np.sin(a)) * pixel_size_um
    q = (-(x - xc) * np.sin(a) + (y - yc) * np.cos(a)) * pixel_size_um
    mask = (p / (length_um / 2)) ** 2 + (q / (width_um / 2)) ** 2 < 1.0
    mip = np.where(mask, stripes, 0.0) + noise * rng.standard_normal(shape)
    return (100 + 50 * mip).astype(np.float32), mask
