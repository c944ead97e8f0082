"""Atomic file writes for everything ganforge hands to a user (images, MIDI, text, WAV).

A result appears complete or not at all: it is written to a temporary file beside the target,
then renamed over it. Torch-free.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_atomic(path: str | Path, save: Callable[[str], object]) -> Path:
    """Call ``save(tmp_path)`` and rename the result to ``path``; on any error nothing is left.

    The temporary name keeps the target's suffix (some writers choose the format by it) and
    gets ordinary permissions (``mkstemp`` makes 0600; a texture or a MIDI file is meant to be
    shared with other programs).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        save(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
