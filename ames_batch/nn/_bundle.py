"""Model bundles: a folder with the model file(s) and ``model.json`` (the model card).

Layout::

    bundle/
      model.json                        card, valid against schemas/model-card.schema.json
      model.keras                       singular CNNs ("2d", "3d")
      members/<task>__<class>.keras     one file per one-vs-all member ("2d-ensemble"); the
                                        card's ``combiner`` holds their calibrated vote
      metrics_model.json                the metrics model ("metrics"; plain JSON, no pickle)

:func:`read_card` validates the card, refuses unknown format versions, edited cards
(``card_sha256``) and files whose sha256 differs, without loading any model (no TensorFlow).
:func:`write_bundle` writes any kind atomically. CNNs load with
``keras.saving.load_model(safe_mode=True)``: no Lambda layers, no pickle.
"""

import datetime as _dt
import hashlib
import json
import os
import shutil
import zipfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .._schemas import load_schema
from ..errors import ModelBundleError
from ._architectures import ARCHS, Ensemble, _keras, member_name
from ._predict import RatingModel, _check_model
from ._preprocess import PreprocessSettings

__all__ = ["FORMAT_VERSION", "load_bundle", "make_card", "model_card_schema", "read_card", "save_bundle",
           "write_bundle"]

FORMAT_VERSION = 1
CARD = "model.json"
SCHEMA = "model-card.schema.json"


def model_card_schema() -> dict:
    """The model-card JSON schema (draft 2020-12), as shipped with the package."""
    return load_schema(SCHEMA)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _card_digest(card: dict) -> str:
    body = {k: v for k, v in card.items() if k != "card_sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _versions(dists: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for dist in ("ames-batch", *dists, "numpy", "scipy"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "unknown"
    return out


def _schema_errors(card) -> list[str]:
    import jsonschema

    validator = jsonschema.Draft202012Validator(model_card_schema())
    errors = sorted(validator.iter_errors(card), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(map(str, e.absolute_path)) or '(card)'}: {e.message}" for e in errors]


def make_card(
    *,
    name: str,
    version: str,
    tasks: dict[str, list[str]],
    settings: PreprocessSettings,
    training: dict,
    metrics: dict | None = None,
    description: str = "",
) -> dict:
    """Start a model card; :func:`save_bundle` adds arch, files, versions, time and digest.

    Parameters
    ----------
    name, version : str
        Model name and its version (e.g. ``"ames-2d-default"``, ``"1.0"``).
    tasks : dict[str, list[str]]
        Class names per task, in output order.
    settings : PreprocessSettings or None
        The preprocessing a CNN was trained with (None for a model that takes no images).
    training : dict
        At least ``data_fingerprint`` (str) and ``split`` (dict: counts per split, grouping);
        free extra keys (augmentation, epochs, seed, ...).
    metrics : dict, optional
        Held-out evaluation, e.g. ``{task: {"accuracy": ..., "f1_weighted": ...}}``.
    description : str
        Free text.

    Returns
    -------
    card : dict

    Raises
    ------
    TypeError
        If `settings` is neither a PreprocessSettings nor None, or `training` not a dict.
    """
    if settings is not None and not isinstance(settings, PreprocessSettings):
        raise TypeError(f"`settings` must be a PreprocessSettings or None; got {type(settings).__name__}")
    if not isinstance(training, dict):
        raise TypeError(f"`training` must be a dict; got {type(training).__name__}")
    card = {
        "format_version": FORMAT_VERSION,
        "name": str(name),
        "version": str(version),
        "tasks": {str(t): [str(c) for c in cs] for t, cs in tasks.items()},
        "training": dict(training),
        "metrics": dict(metrics or {}),
    }
    if settings is not None:
        card["preprocessing"] = settings.to_dict()
    if description:
        card["description"] = str(description)
    return card


def write_bundle(path: str | os.PathLike, card: dict, write_files, *, overwrite: bool = False,
                 packages: tuple[str, ...] = ()) -> Path:
    """Write a bundle folder of any kind; its card goes last, so a reader never sees a half bundle.

    Parameters
    ----------
    path : path-like
        Bundle folder to create (or to update with `overwrite`).
    card : dict
        The card without ``files``, ``package_versions``, ``created`` and ``card_sha256``
        (set here); it must name its ``arch``.
    write_files : callable
        ``write_files(folder) -> list of str``: writes the model files into `folder` and
        returns their paths relative to it (each gets its sha256 in ``card["files"]``).
    overwrite : bool
        `path` may exist: the files of the bundle it holds (if any) are replaced; other files
        there (training checkpoints, reports) stay.
    packages : tuple of str
        Distributions whose versions the card records beside ames-batch, NumPy and SciPy.

    Returns
    -------
    path : Path

    Raises
    ------
    ModelBundleError
        If the finished card does not validate, or `path` exists and `overwrite` is False.

    Notes
    -----
    A new folder is written as a temporary sibling and renamed into place (atomic). An update
    stages the files in a temporary folder inside `path`, removes the old card, moves the new
    files in and writes the new card last.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise ModelBundleError(f"{path}: already exists; choose a new folder or pass overwrite=True")
    card = {k: v for k, v in card.items() if k not in ("files", "package_versions", "created", "card_sha256")}
    card["format_version"] = FORMAT_VERSION
    card["package_versions"] = _versions(packages)
    card["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    update = path.exists()
    tmp = (path / f".bundle.tmp-{os.getpid()}") if update else path.parent / f".{path.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        files = list(write_files(tmp))
        card["files"] = {rel: _sha256(tmp / rel) for rel in files}
        card["card_sha256"] = _card_digest(card)
        problems = _schema_errors(card)
        if problems:
            raise ModelBundleError(f"{path}: card does not validate ({problems[0]}); fix the card passed to save")
        text = json.dumps(card, indent=2, ensure_ascii=False) + "\n"
        if not update:
            (tmp / CARD).write_text(text, encoding="utf-8")
            os.replace(tmp, path)
            return path
        _remove_bundle_files(path)
        for top in {Path(rel).parts[0] for rel in files}:
            os.replace(tmp / top, path / top)
        (tmp / CARD).write_text(text, encoding="utf-8")
        os.replace(tmp / CARD, path / CARD)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return path


def _remove_bundle_files(path: Path) -> None:
    """Remove the card and the files it lists (empty folders too); nothing else in `path`."""
    card_file = path / CARD
    try:
        old = json.loads(card_file.read_text(encoding="utf-8")).get("files", {})
    except (OSError, ValueError, AttributeError):
        old = {}
    card_file.unlink(missing_ok=True)
    for rel in old:
        (path / rel).unlink(missing_ok=True)
        parent = (path / rel).parent
        while parent != path and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent


def save_bundle(model, card: dict, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write a CNN bundle folder (atomically: a temporary folder renamed into place).

    Parameters
    ----------
    model : keras.Model or Ensemble
        Trained model from :func:`build_model`.
    card : dict
        From :func:`make_card` (or a loaded card); ``arch``, ``input_shape``, ``files``,
        ``members``, ``package_versions``, ``created`` (now) and ``card_sha256`` are (re)set here.
    path : path-like
        Bundle folder to create.
    overwrite : bool
        `path` may exist; the bundle files in it are replaced (see :func:`write_bundle`).

    Returns
    -------
    path : Path

    Raises
    ------
    ModelBundleError
        If the finished card does not validate, or `path` exists and `overwrite` is False.
    TypeError, ValueError
        If `model` does not match the card's tasks or preprocessing input shape, or holds
        Lambda layers (which ``safe_mode`` loading refuses).
    """
    if not isinstance(card, dict):
        raise TypeError(f"`card` must be a dict; got {type(card).__name__}")
    settings = PreprocessSettings.from_dict(card.get("preprocessing", {}))
    RatingModel(model, tasks=card.get("tasks", {}), settings=settings)  # checks model vs card
    keras = _keras()
    for member in ([m for _, _, m in model] if isinstance(model, Ensemble) else [model]):
        lambdas = [layer.name for layer in member.layers if isinstance(layer, keras.layers.Lambda)]
        if lambdas:
            raise ValueError(f"model {member.name!r} has Lambda layers {lambdas}; bundles are loaded with "
                             "safe_mode=True, which refuses them: use built-in layers")
    card = {k: v for k, v in card.items() if k not in ("members", "combiner")}
    card["arch"] = _check_model(model, card["tasks"])
    card["input_shape"] = [*settings.input_shape, 1]
    if isinstance(model, Ensemble):
        if model.combiner:
            card["combiner"] = model.combiner
        card["members"] = {}
        for task, cls, _ in model:
            rel = f"members/{member_name(task, cls)}.keras"
            if any(rel in by_class.values() for by_class in card["members"].values()):
                raise ValueError(f"class names of task {task!r} collide as file {rel}; rename the classes")
            card["members"].setdefault(task, {})[cls] = rel

    def write_files(folder: Path) -> list[str]:
        if not isinstance(model, Ensemble):
            model.save(folder / "model.keras")
            return ["model.keras"]
        (folder / "members").mkdir()
        for task, cls, member in model:
            member.save(folder / card["members"][task][cls])
        return [rel for by_class in card["members"].values() for rel in by_class.values()]

    return write_bundle(path, card, write_files, overwrite=overwrite, packages=("keras", "tensorflow"))


def read_card(path: str | os.PathLike) -> dict:
    """The checked card of a bundle folder, without loading its model (no TensorFlow).

    Parameters
    ----------
    path : path-like
        Bundle folder written by :func:`write_bundle` (any kind).

    Returns
    -------
    card : dict

    Raises
    ------
    ModelBundleError
        One line naming the path, what is wrong and what to do: missing folder, card or model
        file; card not JSON; unknown format version; card invalid against the schema; card
        edited after saving; model file changed.
    """
    path = Path(path)

    def fail(what: str, todo: str):
        raise ModelBundleError(f"{path}: {what}; {todo}")

    if not path.is_dir():
        fail("no such bundle folder", "pass the folder holding model.json")
    if not (path / CARD).is_file():
        if (path / "metrics_model.json").is_file():
            fail("a metrics model of an older ames-batch (no model.json)",
                 "train it again with `ames-batch train --arch metrics` (it takes seconds)")
        fail(f"{CARD} is missing", "pass a folder written by `ames-batch train`")
    try:
        card = json.loads((path / CARD).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(f"{CARD} is not valid JSON ({exc})", "restore the card from the original bundle")
    if not isinstance(card, dict):
        fail(f"{CARD} is not a JSON object", "restore the card from the original bundle")
    found = card.get("format_version")
    if found != FORMAT_VERSION:
        fail(f"unknown bundle format version {found!r} (this ames-batch reads {FORMAT_VERSION})",
             "use an ames-batch release that writes this format")
    problems = _schema_errors(card)
    if problems:
        fail(f"invalid model card: {problems[0]}", "restore the card or re-save the model")
    if _card_digest(card) != card["card_sha256"]:
        fail("model card was edited after saving (card_sha256 mismatch)",
             "restore the original model.json or re-save the model")
    for rel, digest in card["files"].items():
        file = path / rel
        if not file.is_file():
            fail(f"model file {rel} is missing", "copy the whole bundle folder")
        if _sha256(file) != digest:
            fail(f"model file {rel} does not match its sha256 in the card", "copy the bundle again")
    return card


def load_bundle(path: str | os.PathLike) -> RatingModel:
    """Load a CNN bundle after checking its card and files.

    Parameters
    ----------
    path : path-like
        Bundle folder written by :func:`save_bundle`.

    Returns
    -------
    model : RatingModel

    Raises
    ------
    ModelBundleError
        As :func:`read_card`; also for a bundle that is not a CNN, or a model that does not
        match its card.
    """
    path = Path(path)
    card = read_card(path)

    def fail(what: str, todo: str = "re-save the model with save_bundle"):
        raise ModelBundleError(f"{path}: {what}; {todo}")

    if card["arch"] not in ARCHS:
        fail(f"a {card['arch']!r} bundle holds no CNN", "load it with ames_batch.nn.load_rater")
    keras = _keras()

    def load(rel: str):
        try:
            return keras.saving.load_model(path / rel, compile=False, safe_mode=True)
        except (ValueError, TypeError, KeyError, OSError, zipfile.BadZipFile) as exc:  # keras: many types
            fail(f"cannot load {rel} safely ({type(exc).__name__}: {exc})".replace("\n", " "),
                 "re-save the model with save_bundle (no Lambda layers, no custom objects)")

    if card["arch"] == "2d-ensemble":
        if set(card["members"]) != set(card["tasks"]) or any(
            list(card["members"][t]) != card["tasks"][t] for t in card["tasks"]
        ):
            fail("ensemble members do not match the card's tasks and classes")
        members = {t: {c: load(rel) for c, rel in by_class.items()} for t, by_class in card["members"].items()}
        try:
            model = Ensemble(members, combiner=card.get("combiner"))
        except ValueError as exc:
            fail(f"invalid ensemble combiner ({exc})")
    else:
        if set(card["files"]) != {"model.keras"}:
            fail(f"a {card['arch']!r} bundle holds exactly model.keras; got {sorted(card['files'])}")
        model = load("model.keras")
    try:
        settings = PreprocessSettings.from_dict(card["preprocessing"])
        rating = RatingModel(model, tasks=card["tasks"], settings=settings, card=card)
    except (TypeError, ValueError) as exc:
        fail(f"model does not match its card ({exc})")
    if rating.arch != card["arch"] or list(rating.input_shape) != card["input_shape"]:
        fail(f"model is {rating.arch!r} {rating.input_shape} but the card says {card['arch']!r} {card['input_shape']}")
    return rating
