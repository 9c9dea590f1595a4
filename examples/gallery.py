"""Gallery of synthetic cardiomyocytes beside real alpha-actinin images, at one µm/px.

Run ``python examples/gallery.py [OUT_DIR]`` (default ``examples/output/``). Writes

- ``gallery_ratings.png``: one MIP per sarcomerisation (rows) x directionality (columns);
- ``gallery_sources.png``: one MIP per source (adult, neonatal, iPSC-derived);
- ``gallery_zoom.png``: 24 µm crops of synthetic cells beside crops of the real
  SarcGraph images ``sample_4.png`` (about 0.12 µm/px, an estimate) and ``sample_5.png``
  (pixel size unknown, taken as the same), all resampled to the demo scale.

Every panel carries a µm scale bar. Real images are read from ``../shared/data``
beside the repository and skipped with a note when absent.
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import ndimage as ndi  # noqa: E402

from ames_batch.synth import DEMO_SCALE_UM, sample_cell_params, synthesize_field  # noqa: E402

PIXEL_UM = DEMO_SCALE_UM["x"]
REAL_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "sarcgraph"
REAL_PIXEL_UM = 0.12  # estimate: z-disc spacing of ~15 px at ~1.8 µm sarcomeres


def _display(img: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(img, [1.0, 99.8])
    return np.clip((img - lo) / max(hi - lo, 1e-9), 0, 1)


def _window(mip: np.ndarray, centre_px: tuple[float, float], size_px: int) -> np.ndarray:
    """A square crop centred on a point, padded with the image's border median outside."""
    border = np.concatenate([mip[0], mip[-1], mip[:, 0], mip[:, -1]])
    out = np.full((size_px, size_px), np.median(border), np.float64)
    y0, x0 = int(round(centre_px[0])) - size_px // 2, int(round(centre_px[1])) - size_px // 2
    ys, xs = max(y0, 0), max(x0, 0)
    ye, xe = min(y0 + size_px, mip.shape[0]), min(x0 + size_px, mip.shape[1])
    out[ys - y0:ye - y0, xs - x0:xe - x0] = mip[ys:ye, xs:xe]
    return out


def _panel(ax, img: np.ndarray, title: str, bar_um: float) -> None:
    ax.imshow(_display(img), cmap="gray", interpolation="nearest")
    h, w = img.shape
    bar_px = bar_um / PIXEL_UM
    ax.add_patch(plt.Rectangle((0.05 * w, 0.93 * h), bar_px, 0.012 * h + 1, color="white"))
    ax.text(0.05 * w, 0.90 * h, f"{bar_um:g} µm", color="white", fontsize=8)
    ax.set_title(title, fontsize=8)
    ax.set_axis_off()


def _cell_mip(seed: int, **classes) -> tuple[np.ndarray, tuple[float, float], dict]:
    params = sample_cell_params(seed, **classes)
    field = synthesize_field(seed, scale_um=DEMO_SCALE_UM, cell_params=[params])
    cell = field.cells[0]
    centre = (cell.centre_yx_um[0] / PIXEL_UM, cell.centre_yx_um[1] / PIXEL_UM)
    ratings = dict(s=cell.sarcomerisation, d=cell.directionality, src=cell.source)
    return field.stack.max(axis=0).astype(np.float64), centre, ratings


def _real_crops(size_px: int) -> list[tuple[str, np.ndarray]]:
    import imageio.v3 as iio

    crops = []
    for name, where in (("sample_4.png", (0.45, 0.55)), ("sample_5.png", (0.5, 0.5))):
        path = REAL_DIR / name
        if not path.exists():
            print(f"note: {path} not found; real crop skipped")
            continue
        img = iio.imread(path).astype(np.float64)
        img = ndi.zoom(img, REAL_PIXEL_UM / PIXEL_UM, order=1)
        centre = (where[0] * img.shape[0], where[1] * img.shape[1])
        crops.append((f"real {name} (~{REAL_PIXEL_UM} µm/px est.)", _window(img, centre, size_px)))
    return crops


def main(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []

    # 4 x 4 ratings grid (neonatal-sized cells, 100 µm windows)
    size = int(100 / PIXEL_UM)
    fig, axes = plt.subplots(4, 4, figsize=(16, 16), dpi=80)
    zooms = []
    for s in range(1, 5):
        for d in range(1, 5):
            mip, centre, r = _cell_mip(100 * s + 10 * d, source="neonatal", sarcomerisation=s, directionality=d)
            _panel(axes[s - 1, d - 1], _window(mip, centre, size), f"sarc {r['s']}  dir {r['d']}  ({r['src']})", 10)
            if d == 4:
                zooms.append((f"synthetic sarc {s} dir {d}", _window(mip, centre, int(24 / PIXEL_UM))))
    fig.tight_layout()
    written.append(out_dir / "gallery_ratings.png")
    fig.savefig(written[-1])
    plt.close(fig)

    # one per source, 160 µm windows (adult rods are long)
    size = int(160 / PIXEL_UM)
    fig, axes = plt.subplots(1, 3, figsize=(18, 6), dpi=80)
    for ax, source, seed in zip(axes, ("adult", "neonatal", "ipsc"), (1, 2, 3)):
        mip, centre, r = _cell_mip(seed, source=source)
        _panel(ax, _window(mip, centre, size), f"{source}: sarc {r['s']}  dir {r['d']}", 20)
        zooms.append((f"synthetic {source}", _window(mip, centre, int(24 / PIXEL_UM))))
    fig.tight_layout()
    written.append(out_dir / "gallery_sources.png")
    fig.savefig(written[-1])
    plt.close(fig)

    # zoomed crops beside the real images at the same µm/px
    panels = _real_crops(int(24 / PIXEL_UM)) + zooms
    cols = 4
    rows = int(np.ceil(len(panels) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 4 * rows), dpi=90)
    for ax in np.ravel(axes):
        ax.set_axis_off()
    for ax, (title, img) in zip(np.ravel(axes), panels):
        _panel(ax, img, title, 5)
    fig.tight_layout()
    written.append(out_dir / "gallery_zoom.png")
    fig.savefig(written[-1])
    plt.close(fig)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "output"
    for path in main(target):
        print(path)
