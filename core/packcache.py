"""Opened packs kept while their file is unchanged: the one cache hosts share (torch-free).

Opening a pack costs an onnxruntime session (tens of milliseconds to seconds), and a host asks
for the same pack again and again (Blender redraws its panel, the editor server generates on
every request). A :class:`PackCache` keys each opened pack on its resolved path, size and
modification time, so a rewritten pack (a newer export) is reopened and its old session is
dropped. Re-exported as ``ganforge.core.runtime.PackCache``.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import PackError

if TYPE_CHECKING:
    from .runtime import PackRuntime


class PackCache:
    """Packs opened with one device and thread count, one session per file version.

    Thread-safe. A pack is opened outside the lock, so a caller that only reads a cached pack
    (a UI redraw) never waits for another's slow open; two threads opening the same new version
    at once both open it and the second result is kept (harmless, and rare).
    """

    def __init__(self, *, device: str = "cpu", threads: int | None = None) -> None:
        self.device, self.threads = device, threads
        self._packs: dict[tuple[str, int, int], PackRuntime] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(path: str | os.PathLike[str]) -> tuple[str, int, int]:
        """``(resolved path, size, mtime in ns)`` of the file at ``path``; a one-line
        :class:`PackError` when there is none."""
        p = Path(os.fspath(path)).expanduser()
        try:
            st = p.stat()
        except OSError:
            raise PackError(f"{p}: no such pack file") from None
        return str(p.resolve()), st.st_size, st.st_mtime_ns

    def get(self, path: str | os.PathLike[str]) -> PackRuntime:
        """The pack at ``path``, opened once per file version and reused."""
        from . import runtime

        key = self.key(path)
        with self._lock:
            rt = self._packs.get(key)
        if rt is None:
            # opened by the name given, not the resolved one: the pack's messages and ``rt.path``
            # show the user's own path
            rt = runtime.load(Path(os.fspath(path)).expanduser(), device=self.device, threads=self.threads)
            with self._lock:
                for old in [k for k in self._packs if k[0] == key[0]]:
                    del self._packs[old]  # a rewritten pack replaces its old session
                self._packs[key] = rt
        return rt

    def clear(self) -> None:
        """Drop every opened pack (their sessions close when no one else holds them)."""
        with self._lock:
            self._packs.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._packs)


__all__ = ["PackCache"]
