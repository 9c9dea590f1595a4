"""A rated demo plate made into the report and the rating sheet by the product itself (test helper).

Also a script: ``python tests/report/report_demo.py OUT_DIR [--wells 16] [--screenshot PNG]``
writes a demo plate, rates it with the default model and Grad-CAM (``run_plate``), writes
``index.html`` (the report with the truth, ``write_plate_report``) and ``sheet/`` (every rated
cell on a rating sheet with its empty ``ratings.csv``, ``sample_cells``) into OUT_DIR and, with
``--screenshot``, a picture of the report (down to ``--until``) taken by headless chromium (how
``docs/images/report.png`` was made). A folder that already holds a rated ``plate.zarr`` gets only
the pages again.
"""

import argparse
import shutil
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ames_batch.pipeline import run_plate, sample_cells, write_demo_plate, write_plate_report  # noqa: E402


def rated_demo(folder: Path, *, wells: int, fields: int, cells_per_field: int, seed: int = 0):
    """(plate, its ratings CSV, its truth CSV): a demo plate rated by the default model with Grad-CAM."""
    demo = write_demo_plate(folder / "plate.zarr", n_wells=wells, n_fields=fields,
                            cells_per_field=cells_per_field, seed=seed)
    return demo.plate, run_plate(demo.plate, explain=("gradcam",), report=False).csv, demo.truth_csv


def write_pages(folder: Path, plate: Path, ratings_csv: Path, truth_csv: Path) -> tuple[Path, Path]:
    """The report (``folder/index.html``, with the truth) and a sheet of every rated cell
    (``folder/sheet/index.html`` and its ``ratings.csv``)."""
    index = write_plate_report(plate, ratings_csv, out=folder / "index.html", truth_csv=truth_csv).html
    shutil.rmtree(folder / "sheet", ignore_errors=True)  # sample_cells never overwrites a sheet
    n_rated = int((pd.read_csv(ratings_csv)["status"] == "ok").sum())
    return index, sample_cells(plate, n_rated, folder / "sheet").sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--wells", type=int, default=16)
    parser.add_argument("--fields", type=int, default=2)
    parser.add_argument("--cells-per-field", type=int, default=2)
    parser.add_argument("--screenshot", type=Path)
    parser.add_argument("--until", default="#metrics", help="CSS selector of the last part in the picture")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    plate, ratings_csv, truth_csv = (args.out / n for n in ("plate.zarr", "plate-ratings.csv", "plate-truth.csv"))
    if not ratings_csv.is_file():  # rated before: only the pages again
        plate, ratings_csv, truth_csv = rated_demo(args.out, wells=args.wells, fields=args.fields,
                                                   cells_per_field=args.cells_per_field)
    index, _ = write_pages(args.out, plate, ratings_csv, truth_csv)
    print(index)
    if args.screenshot:
        from conftest import CHROMIUM, CHROMIUM_ARGS
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900}, device_scale_factor=1)
            page.goto(index.as_uri(), wait_until="load")
            bottom = page.eval_on_selector(args.until, "e => e.getBoundingClientRect().bottom + window.scrollY")
            page.screenshot(path=str(args.screenshot), full_page=True,
                            clip={"x": 0, "y": 0, "width": 1400, "height": bottom + 16})
            browser.close()
        print(args.screenshot)


if __name__ == "__main__":
    main()
