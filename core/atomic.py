"""Atomic file writes for everything ganforge hands to a user (images, MIDI, text, WAV).

A result appears complete or not at all: it is written to a temporary file beside the target,
then renamed over it. Inside :func:`all_or_nothing`, the renames wait until every file of the
group is written, so a failure on the third of four files leaves none of them. Torch-free.

This is the one place that makes temporary files beside a target: packs, checkpoints, run
configs and logs, caches, samples and host files all go through :func:`write_atomic` (or
:func:`scratch_path` for an intermediate that is never renamed into place), so every temporary
name is unique (``mkstemp``) and none outlives an error.
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


def readable_path(path: str | Path) -> Path:
    """Where ``path``'s content can be read now: inside :func:`all_or_nothing`, a file written
    earlier in the group still sits under its temporary name until the group lands (a WAV is
    rendered from the MIDI file written just before it); elsewhere ``path`` itself."""
    path = Path(path)
    for tmp, final in reversed(_PENDING.get() or []):
        if final == path:
            return Path(tmp)
    return path


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


def _beside(path: Path) -> str:
    """A fresh, uniquely named empty file next to ``path`` (same filesystem, so the final rename
    is atomic) with ordinary permissions: ``mkstemp`` makes 0600, and a texture, a MIDI file or a
    pack is meant to be shared with other programs. The name keeps the target's suffix (some
    writers choose the format by it) and starts with a dot (hidden from listings)."""
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
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def _fsync(path: str | Path, flags: int = os.O_RDONLY) -> None:
    try:
        fd = os.open(path, flags)
    except OSError:  # some systems cannot open a folder; durability is best effort there
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def scratch_path(beside: str | Path) -> Iterator[Path]:
    """A temporary file next to ``beside``, removed on exit whatever happens: for intermediates
    (a float32 pack on the way to int8) that are never renamed into place themselves."""
    tmp = Path(_beside(Path(beside)))
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: str | Path, save: Callable[[str], object], *, durable: bool = False) -> Path:
    """Call ``save(tmp_path)`` and rename the result to ``path``; on any error nothing is left
    and an existing ``path`` is untouched.

    ``durable``: fsync the file before the rename and the folder after it, so a power cut
    cannot leave an empty file under the final name (checkpoints: a run resumes from them).
    """
    path = Path(path)
    tmp = _beside(path)
    try:
        save(tmp)
        if durable:
            _fsync(tmp)
        pending = _PENDING.get()
        if pending is not None:
            pending.append((tmp, path))  # renamed when the whole group is written
        else:
            os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable and pending is None:
        _fsync(path.parent)
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """:func:`write_atomic` for a UTF-8 text file with ``\n`` line ends."""

    def save(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)

    return write_atomic(path, save)
