"""Facts defined once: each shared constant has one home and is imported everywhere else, and
the export <-> quantize modules do not import each other."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HOMES = {"DEVICES": "core/limits.py", "MAX_SIDE": "core/limits.py", "LOSSES": "core/training/config.py",
         "CLOCKS_PER_BEAT": "plugins/midi/engine.py"}


def _sources() -> dict[str, str]:
    return {p.relative_to(ROOT).as_posix(): p.read_text(encoding="utf-8")
            for folder in ("core", "exporters", "plugins") for p in (ROOT / folder).rglob("*.py")}


@pytest.mark.parametrize("name", sorted(HOMES))
def test_a_shared_constant_is_defined_in_one_place(name: str) -> None:
    defined = re.compile(rf"^{name}\s*(:[^=]*)?=", re.MULTILINE)
    homes = sorted(rel for rel, text in _sources().items() if defined.search(text))
    assert homes == [HOMES[name]]


def test_the_users_see_the_same_objects() -> None:
    from ganforge.core import limits
    from ganforge.core.commands import train
    from ganforge.core.modalities.texture import codec
    from ganforge.core.training import config
    from ganforge.plugins.blender import logic

    assert codec.MAX_SIDE is logic.MAX_SIDE is limits.MAX_SIDE
    assert config.DEVICES is train.DEVICES is limits.DEVICES


def test_no_literal_device_list_is_left() -> None:
    literal = re.compile(r"""["']auto["'],\s*["']cpu["'],\s*["']cuda["']""")
    assert [rel for rel, text in _sources().items() if literal.search(text)] == ["core/limits.py"]


def test_export_and_quantize_do_not_import_each_other() -> None:
    """Both finish a pack with the metadata writer of exporters/onnx/metadata.py; the export
    calls the quantiser, so the quantiser must not reach back."""
    import ast

    def imported(rel: str) -> set[str]:
        tree = ast.parse((ROOT / rel).read_text(encoding="utf-8"))
        return {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}

    assert not {m for m in imported("exporters/onnx/quantize.py") if m.endswith("export")}
    assert "metadata" in imported("exporters/onnx/quantize.py") and "metadata" in imported("exporters/onnx/export.py")
