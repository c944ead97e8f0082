"""``../shared/data`` for the tests that need it: a user's clone has no ``../shared``, so those
tests skip; CI has it and sets ``GANFORGE_REQUIRE_SHARED=1``, which turns a skip into a failure."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_path(relative: str) -> Path:
    """``../shared/data/<relative>`` (a file or a folder), or skip/fail the test when absent."""
    path = ROOT / relative
    if not path.exists():
        message = f"{path}: shared data not present"
        if os.environ.get("GANFORGE_REQUIRE_SHARED", "") == "1":
            pytest.fail(message + " (GANFORGE_REQUIRE_SHARED=1)")
        pytest.skip(message)
    return path
