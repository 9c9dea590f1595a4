"""Exclusive, non-blocking lock on a plate (one writer: convert or run)."""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from ..errors import LockedError
from ._plate import _plate_attrs

__all__ = ["plate_lock"]

LOCK_NAME = ".ames.lock"


@contextlib.contextmanager
def plate_lock(plate: Path, *, purpose: str, create: bool = True) -> Iterator[Path]:
    """Hold the plate's exclusive lock for the duration of a ``with`` block.

    Parameters
    ----------
    plate : Path
        Plate directory.
    purpose : str
        What the holder does, e.g. ``"run"``; shown to a refused second holder.
    create : bool
        True (for ``convert``): create the directory if missing, so a new plate can be locked
        before it is written. False (for ``run``): `plate` must already be a plate, so a
        mistyped path fails without leaving an empty directory behind.

    Yields
    ------
    lock_path : Path
        The lock file ``<plate>/.ames.lock`` (holds pid, host, purpose, start time as JSON).

    Raises
    ------
    LockedError
        At once (non-blocking) if another process holds the lock; the message names it.
    ValueError
        If `purpose` is empty.
    NotAPlateError
        If ``create=False`` and `plate` is not an NGFF 0.5 HCS plate.

    Notes
    -----
    Uses ``fcntl.flock`` on the lock file, so the kernel frees it when the holder dies: a lock
    file left by a killed process does not block. flock is per open file, so a second
    ``plate_lock`` in the same process is refused too. Local file systems only; flock is not
    reliable on every network file system.

    Examples
    --------
    >>> with plate_lock(tmp_path / "p.ome.zarr", purpose="run"):   # doctest: +SKIP
    ...     pass
    """
    if not isinstance(purpose, str) or not purpose.strip():
        raise ValueError(f"`purpose` must be a non-empty string; got {purpose!r}")
    plate = Path(plate)
    if create:
        plate.mkdir(parents=True, exist_ok=True)
    else:
        _plate_attrs(plate)
    path = plate / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            try:
                holder = json.loads(os.pread(fd, 4096, 0).decode("utf-8") or "{}")
            except ValueError:
                holder = {}
            who = (
                f"pid {holder.get('pid', '?')} on {holder.get('host', '?')} "
                f"({holder.get('purpose', '?')}, since {holder.get('since', '?')})"
            )
            raise LockedError(
                f"{plate}: plate is locked by {who}; wait for it to finish or pick another plate"
            ) from None
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "purpose": purpose,
            "since": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode("utf-8"), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
