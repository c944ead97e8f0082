"""A minimal PNG writer (numpy + zlib): 8-bit grey/RGB and 16-bit grey, nothing else.

PBR map files must be written the same way by the CLI and inside Blender, whose Python has
numpy but not Pillow, and Blender's own image writer cannot make a 16-bit grey PNG from a
script without a render setting detour. A PNG is a signature and three chunks; each row is
filtered with "Up" (the difference to the row above), which compresses smooth maps well.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from .atomic import write_atomic

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPES = {1: 0, 3: 2}  # channels -> PNG colour type (grey, truecolour)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode(array: np.ndarray) -> bytes:
    """PNG bytes of a uint8 or uint16 array, (H, W) grey or (H, W, 3) RGB."""
    a = np.asarray(array)
    if a.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"PNG pixels must be uint8 or uint16, got {a.dtype}")
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in _COLOUR_TYPES or 0 in a.shape:
        raise ValueError(f"PNG pixels must be (H, W) or (H, W, 3), got {np.shape(array)}")
    h, w, c = a.shape
    rows = a.astype(">u2" if a.dtype == np.uint16 else np.uint8).reshape(h, -1).view(np.uint8)
    up = rows.copy()
    up[1:] -= rows[:-1]  # filter 2 ("Up"), modulo 256 per byte as the format says
    raw = np.hstack([np.full((h, 1), 2, dtype=np.uint8), up]).tobytes()
    header = struct.pack(">IIBBBBB", w, h, 16 if a.dtype == np.uint16 else 8, _COLOUR_TYPES[c], 0, 0, 0)
    return _SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 6)) + _chunk(b"IEND", b"")


def write(path: str | Path, array: np.ndarray) -> Path:
    """Write :func:`encode`'s bytes to ``path`` atomically (see :mod:`ganforge.core.atomic`)."""
    data = encode(array)

    def save(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)

    return write_atomic(path, save)


__all__ = ["encode", "write"]
