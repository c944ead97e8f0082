"""The shared atomic writer: complete or absent, ordinary permissions, suffix kept."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ganforge.core.atomic import write_atomic


def test_writes_with_umask_permissions_and_keeps_the_suffix(tmp_path: Path) -> None:
    seen: list[str] = []

    def save(tmp: str) -> None:
        seen.append(tmp)
        Path(tmp).write_text("ok")

    out = write_atomic(tmp_path / "a.png", save)
    umask = os.umask(0)
    os.umask(umask)
    assert out.read_text() == "ok" and seen[0].endswith(".png")
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "b.mid"
    target.write_text("old")

    def save(tmp: str) -> None:
        Path(tmp).write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, save)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["b.mid"]
