"""The JSON schemas shipped with the package: model card, ratings CSV, field attributes."""

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

__all__ = ["load_schema"]


@lru_cache(maxsize=None)
def load_schema(name: str) -> dict:
    """A schema of ``schemas/`` (draft 2020-12), e.g. ``"plate-attributes.schema.json"``.

    The canonical files are the repository's top-level ``schemas/``; the package reaches them
    as ``ames_batch/schemas`` (a link in the source tree, a copy in a built wheel).

    Raises
    ------
    FileNotFoundError
        If the installed package lacks the file.
    """
    candidates = [resources.files("ames_batch").joinpath("schemas", name),
                  Path(__file__).resolve().parents[1] / "schemas" / name]
    for candidate in candidates:
        if candidate.is_file():
            return json.loads(candidate.read_text(encoding="utf-8"))
    raise FileNotFoundError(f"{name} is missing from the installed ames_batch package; reinstall ames-batch")
