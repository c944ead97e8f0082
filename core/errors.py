"""User-facing errors: one line, names the file, non-zero exit from the CLI."""

from __future__ import annotations


class GanforgeError(Exception):
    """An error caused by the user's input (data, pack, options), not by a bug.

    The CLI prints ``str(error)`` on one line and exits with status 2; no traceback.
    """


class PackError(GanforgeError):
    """A pack file is missing, truncated, not ONNX, or has invalid/unknown metadata."""


class DataError(GanforgeError):
    """A dataset is empty, unreadable or unsuitable for the chosen modality."""


class RunError(GanforgeError):
    """A run directory is missing, has no checkpoint, or does not match the request."""
