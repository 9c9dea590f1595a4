#!/usr/bin/env bash
# Set up .venv (Python >= 3.12) if needed, write a synthetic demo plate and rate it end to end.
# Usage: scripts/demo.sh [OUT_DIR]   (default: ./demo)
source "$(dirname "$0")/_env.sh"
OUT="${1:-demo}"
mkdir -p "$OUT"
if [ -e "$OUT/plate.zarr" ]; then
  echo "$OUT/plate.zarr exists: rating it again (already rated fields are skipped)" >&2
else
  ames-batch demo "$OUT/plate.zarr" --wells 4 --fields 2 --cells-per-field 2 --seed 0
fi
ames-batch run "$OUT/plate.zarr" --out "$OUT/ratings.csv"
echo "Rated cells: $OUT/ratings.csv (ground truth: $OUT/plate-truth.csv); open $OUT/plate.zarr/A/1/0 in napari"
