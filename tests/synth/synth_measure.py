"""Independent image measurements for the synth tests (numpy FFT and moments only)."""

import numpy as np


def mip_float(stack):
    return stack.max(axis=0).astype(np.float64)


def dominant_period(mip, mask, pixel_um, band_um=(1.2, 3.0), pad=1024):
    """Period (µm) and wave-vector angle (deg, from x towards y, mod 180) of the strongest
    spectral peak in a period band, from a Hann-windowed, mean-removed crop of the cell."""
    ys, xs = np.nonzero(mask)
    sl = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    img = mip[sl].copy()
    m = mask[sl]
    img[~m] = img[m].mean()
    img -= img[m].mean()
    win = np.outer(np.hanning(img.shape[0]), np.hanning(img.shape[1]))
    size = max(pad, *img.shape)
    spec = np.abs(np.fft.fftshift(np.fft.fft2(img * win, s=(size, size)))) ** 2
    f = np.fft.fftshift(np.fft.fftfreq(size, d=pixel_um))
    fy, fx = np.meshgrid(f, f, indexing="ij")
    fr = np.hypot(fy, fx)
    band = (fr > 1 / band_um[1]) & (fr < 1 / band_um[0])
    spec[~band] = 0
    iy, ix = np.unravel_index(np.argmax(spec), spec.shape)
    return 1.0 / fr[iy, ix], np.rad2deg(np.arctan2(fy[iy, ix], fx[iy, ix])) % 180.0


def striated_fraction(mip, mask, pixel_um, tile_um=6.0, band_um=(1.5, 2.5), ratio=10.0):
    """Fraction of half-overlapping tiles inside the cell whose local spectrum has a clear
    peak in the sarcomere band, relative to the power just below and above the band."""
    from scipy import ndimage as ndi

    img = ndi.gaussian_filter(np.asarray(mip, np.float64), 1.0)
    n = int(round(tile_um / pixel_um))
    win = np.outer(np.hanning(n), np.hanning(n))
    f = np.fft.fftfreq(n, d=pixel_um)
    fr = np.hypot(*np.meshgrid(f, f, indexing="ij"))
    band = (fr > 1 / band_um[1]) & (fr < 1 / band_um[0])
    rest = ((fr > 1 / 5.0) & (fr < 1 / 2.9)) | ((fr > 1 / 1.3) & (fr < 1 / 0.9))
    hits = total = 0
    for y in range(0, img.shape[0] - n + 1, n // 2):
        for x in range(0, img.shape[1] - n + 1, n // 2):
            if mask[y:y + n, x:x + n].mean() < 0.9:
                continue
            tile = img[y:y + n, x:x + n]
            p = np.abs(np.fft.fft2((tile - tile.mean()) * win)) ** 2
            total += 1
            hits += p[band].max() > ratio * p[rest].mean()
    return hits / max(total, 1)


def mask_orientation_deg(mask):
    """Long-axis angle (deg, from x towards y, mod 180) from second central moments."""
    ys, xs = np.nonzero(mask)
    dx, dy = xs - xs.mean(), ys - ys.mean()
    mu20, mu02, mu11 = (dx * dx).mean(), (dy * dy).mean(), (dx * dy).mean()
    return np.rad2deg(0.5 * np.arctan2(2 * mu11, mu20 - mu02)) % 180.0


def angle_diff(a, b, period=180.0):
    d = (a - b) % period
    return min(d, period - d)
