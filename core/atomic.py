"""Atomic file writes for everything ganforge hands to a user (images, MIDI, text, WAV).

A result appears complete or not at all: it is written to a temporary file beside the target,
then renamed over it. Inside :func:`all_or_nothing`, the renames wait until every file of the
group is written, so a failure on the third of four files leaves none of them. Torch-free.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

#: (temporary, final) pairs of the open all_or_nothing group, or None outside one
_PENDING: contextvars.ContextVar[list[tuple[str, Path]] | None] = contextvars.ContextVar("pending", default=None)


@contextlib.contextmanager
def all_or_nothing() -> Iterator[None]:
    """Every :func:`write_atomic` inside lands together at the end, or none does."""
    pending: list[tuple[str, Path]] = []
    token = _PENDING.set(pending)
    try:
        yield
    except BaseException:
        for tmp, _ in pending:
            Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        _PENDING.reset(token)
    for tmp, path in pending:
        os.replace(tmp, path)


def probe_writable(folder: str | Path, what: str | None = None) -> None:
    """GanforgeError (one line, naming ``what``) unless files can be made in ``folder``, or, when
    it does not exist yet, in the nearest existing folder above it (where it would be created).
    A temporary file is made and removed; nothing else is left. Called before long work."""
    from .errors import GanforgeError

    folder = Path(folder)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise GanforgeError(f"{what or folder}: {folder} is not a folder")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".ganforge-probe-", dir=folder)
    except OSError as e:
        raise GanforgeError(f"{what or folder}: cannot write in {folder} ({e.strerror or e})") from None
    os.close(fd)
    os.unlink(tmp)


def write_atomic(path: str | Path, save: Callable[[str], object]) -> Path:
    """Call ``save(tmp_path)`` and rename the result to ``path``; on any error nothing is left.

    The temporary name keeps the target's suffix (some writers choose the format by it) and
    gets ordinary permissions (``mkstemp`` makes 0600; a texture or a MIDI file is meant to be
    shared with other programs).
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    except OSError as e:
        from .errors import GanforgeError

        raise GanforgeError(f"{path}: cannot write here ({e.strerror or e})") from None
    os.close(fd)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        save(tmp)
        pending = _PENDING.get()
        if pending is not None:
            pending.append((tmp, path))  # renamed when the whole group is written
        else:
            os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
