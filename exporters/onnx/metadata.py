"""Writing a pack's metadata into an ONNX model: shared by the float32 export and the int8
quantiser, which both finish a pack. Its own module so neither imports the other (the
quantiser runs after an export, the export calls the quantiser)."""

from __future__ import annotations

from typing import Any

from ganforge.core.pack import PackMeta


def set_metadata(model: Any, meta: PackMeta) -> None:
    """Replace the ``ganforge.*`` entries of ``model.metadata_props`` (an ``onnx.ModelProto``)
    with ``meta``'s; other entries stay."""
    props = meta.to_props()
    kept = [p for p in model.metadata_props if p.key not in props]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
