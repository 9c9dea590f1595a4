"""Reports of a rated plate: per-well summary, cell thumbnails, the plate report and the expert's
rating sheet as self-contained HTML (pure: tables and arrays in, DataFrames, PNG bytes and HTML
text out; the caller writes the files). See ``docs/report.md``.
"""

from ._plate_report import render_plate_report
from ._rating_sheet import SHEET_COLUMNS, rating_sheet_csv, render_rating_sheet
from ._summary import gallery_cells, well_summary
from ._thumbnail import DISPLAY_UM_PER_PX, cell_inset_png, cell_thumbnail_png, inset_window

__all__ = [
    "DISPLAY_UM_PER_PX",
    "SHEET_COLUMNS",
    "cell_inset_png",
    "cell_thumbnail_png",
    "gallery_cells",
    "inset_window",
    "rating_sheet_csv",
    "render_plate_report",
    "render_rating_sheet",
    "well_summary",
]
