"""Synthetic rated cells as the pipeline's own per-cell records, in memory.

The default model's training cells (``examples/train_default_model.py``) and the carry-over
benchmark's (``benchmarks/bench_carryover.py``) are made here, one way: a balanced design over
source x sarcomerisation x directionality, one cell per field at the demo scale, measured as
``run`` measures a cell (``FieldData.from_arrays`` -> working scale, ``extract_cells``).
"""

from dataclasses import dataclass

import numpy as np

from ..io import FieldKey
from ..synth import (DEMO_SCALE_UM, DetectorChange, SyntheticField, apply_detector_change, sample_cell_params,
                     sample_detector_change, synthesize_field)
from ..vocabulary import SOURCES
from ._cells import CellRecord, extract_cells
from ._field_input import FieldData

__all__ = ["SyntheticCell", "design", "synthetic_cell"]


def design(i: int) -> tuple[str, int, int]:
    """Source, sarcomerisation and directionality of cell `i`: the 3 x 4 x 4 = 48 combinations,
    cycled, so every class of every task comes equally often."""
    return SOURCES[i % 3], (i // 3) % 4 + 1, (i // 12) % 4 + 1


@dataclass(frozen=True, eq=False)
class SyntheticCell:
    """One synthetic cell: its field as the pipeline holds it, its record, and the generator's truth.

    Attributes
    ----------
    field : FieldData
        At the working scale (with the stack when asked for).
    record : CellRecord
        Measured (metrics), not prepared.
    synthetic : SyntheticField
        The generator's field (stack, truth labels, optics, organised map).
    ratings : dict of str to str
        Class name per task, by the noise-free rules.
    detector : DetectorChange or None
        The random change of detector its stack was given (``synthetic.stack`` is as rendered).
    """

    field: FieldData
    record: CellRecord
    synthetic: SyntheticField
    ratings: dict
    detector: DetectorChange | None = None

    @property
    def truth(self):
        """The cell's ``CellTruth`` (its parameters in ``.params``)."""
        return self.synthetic.cells[0]


def synthetic_cell(i: int, look: str, *, params_rng: np.random.Generator, field_rng: np.random.Generator,
                   with_stack: bool = True, key: FieldKey | None = None,
                   detector_rng: np.random.Generator | None = None) -> SyntheticCell:
    """Cell `i` of the balanced design (:func:`design`), rendered in `look` and measured.

    Parameters
    ----------
    i : int
        Index in the design.
    look : str
        One of ``ames_batch.synth.LOOKS`` (``"d"`` is the held-out look: no shipped model is trained on it).
    params_rng, field_rng : numpy.random.Generator
        Draw the cell's parameters, then its rendering (may be one generator).
    with_stack : bool
        Keep the (Z, Y, X) stack in ``field`` (a 3D rater needs it).
    key : FieldKey, optional
        Its field key; default ``FieldKey("look-<look>", str(i))``.
    detector_rng : numpy.random.Generator, optional
        When given, the stack is measured behind a random change of detector
        (``ames_batch.synth.sample_detector_change``) drawn from it: domain randomisation.
    """
    source, sarc, direc = design(i)
    params = sample_cell_params(params_rng, source=source, sarcomerisation=sarc, directionality=direc)
    synth = synthesize_field(field_rng, cell_params=[params], scale_um=DEMO_SCALE_UM, look=look)
    stack, change = synth.stack, None
    if detector_rng is not None:
        change = sample_detector_change(detector_rng)
        stack = apply_detector_change(stack, synth.cell_labels, change, pixel_size_um=synth.scale_um["x"],
                                      rng=detector_rng)
    field = FieldData.from_arrays(key or FieldKey(f"look-{look}", str(i)), stack.max(axis=0), synth.scale_um,
                                  stack=stack if with_stack else None)
    truth = synth.cells[0]
    (record,) = extract_cells(field, field.labels_from_field(synth.cell_labels), only=[truth.label])
    ratings = {"sarcomerisation": str(truth.sarcomerisation), "directionality": str(truth.directionality),
               "source": str(truth.source)}
    return SyntheticCell(field, record, synth, ratings, change)
