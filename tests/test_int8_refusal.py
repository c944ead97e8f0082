"""``export --int8`` of a family that does not declare ``supports_int8`` (text, music, image) is
one ``error:`` line and exit 2, never the quantiser's traceback ("Histogram has not been
collected"). The trained-run CLI cases live beside each modality's trained fixture; this one
covers every registered family without training."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from ganforge.core import plugins
from ganforge.core.components import resolve
from ganforge.core.errors import PackError


def _families() -> list[tuple[str, str]]:
    plugins.reset()
    return sorted((f.modality, f.name) for f in plugins.get_registry().families.values())


@pytest.mark.parametrize(("modality", "name"), _families())
def test_every_family_declares_int8_and_the_exporter_holds_it(modality: str, name: str, tmp_path: Path) -> None:
    from ganforge.exporters.onnx.export import export_generator

    cls = resolve(plugins.family(modality, name).factory)
    supports = getattr(cls, "supports_int8", None)
    assert isinstance(supports, bool), f"{modality}/{name} does not declare supports_int8"
    assert supports == (modality == "texture")  # the quantiser is calibrated for conv texture generators
    if supports:
        return
    stand_in = SimpleNamespace(supports_int8=False, modality=modality, name=name)
    article = "an" if modality[0] in "aeiou" else "a"
    with pytest.raises(PackError, match=rf"^{tmp_path / 'p.onnx'}: --int8 is for texture packs; this is {article} "
                                        rf"{modality} model \(export it without --int8\)$"):
        export_generator(stand_in, None, tmp_path / "p.onnx", facts={}, int8=True)
    assert list(tmp_path.iterdir()) == []
