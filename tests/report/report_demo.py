"""A rated demo plate made into the report and the rating sheet, as a pipeline would (test helper).

Also a script: ``python tests/report/report_demo.py OUT_DIR [--wells 16] [--screenshot PNG]``
writes a demo plate, rates it, writes ``index.html`` (the report), ``sheet.html`` and
``ratings.csv`` (the empty sheet) into OUT_DIR and, with ``--screenshot``, a picture of the report
(down to ``--until``) taken by headless chromium (how ``docs/images/report.png`` was made). A folder
that already holds a rated ``plate.zarr`` gets only the pages again.
"""

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report_pictures import gallery_items, sheet_cells  # noqa: E402

from ames_batch.pipeline import run_plate, write_demo_plate  # noqa: E402
from ames_batch.report import rating_sheet_csv, render_plate_report, render_rating_sheet  # noqa: E402


def rated_demo(folder: Path, *, wells: int, fields: int, cells_per_field: int, seed: int = 0):
    """(plate, cells table, truth table) of a demo plate rated by the default model with Grad-CAM."""
    demo = write_demo_plate(folder / "plate.zarr", n_wells=wells, n_fields=fields,
                            cells_per_field=cells_per_field, seed=seed)
    cells = pd.read_csv(run_plate(demo.plate, explain=("gradcam",)).csv)
    return demo.plate, cells, pd.read_csv(demo.truth_csv)


def write_pages(folder: Path, plate: Path, cells: pd.DataFrame, truth: pd.DataFrame) -> tuple[Path, Path]:
    """Write the report (index.html), the sheet (sheet.html) and its empty ratings.csv into `folder`."""
    model = cells[["model", "model_version"]].dropna().iloc[0]
    report = render_plate_report(
        cells, gallery=gallery_items(plate, cells), truth=truth,
        model={"name": model["model"], "version": str(model["model_version"])},
        settings={"plate": plate.name, "explain": "gradcam"}, title=f"{plate.name}: sarcomere ratings")
    index = folder / "index.html"
    index.write_text(report, encoding="utf-8")
    sheet = folder / "sheet.html"
    sheet.write_text(render_rating_sheet(sheet_cells(plate, cells), title=f"{plate.name}: rate these cells"),
                     encoding="utf-8")
    rating_sheet_csv(cells).to_csv(folder / "ratings.csv", index=False)
    return index, sheet


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
    plate = args.out / "plate.zarr"
    if (args.out / "plate-ratings.csv").is_file():  # rated before: only the pages again
        cells, truth = (pd.read_csv(args.out / f"plate-{name}.csv") for name in ("ratings", "truth"))
    else:
        plate, cells, truth = rated_demo(args.out, wells=args.wells, fields=args.fields,
                                         cells_per_field=args.cells_per_field)
    index, _ = write_pages(args.out, plate, cells, truth)
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
