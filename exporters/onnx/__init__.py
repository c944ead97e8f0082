"""The built-in ONNX exporter: a trained run -> one parity-checked ``.onnx`` generator pack.

Registered through the same hook a third-party exporter uses; importing this module stays
torch-free (the export function is named as a string and imported when used).
"""

from __future__ import annotations

from collections.abc import Callable

from ganforge.core.components import Exporter
from ganforge.core.hookspecs import hookimpl


@hookimpl
def ganforge_register_exporters(register: Callable[[Exporter], None]) -> None:
    register(Exporter(
        "onnx",
        "ganforge.exporters.onnx.export:export_pack",
        "single-file ONNX (opset 20, dynamic batch and size), parity-checked against PyTorch; "
        "int8=True for a static int8 pack",
        suffix=".onnx",
    ))
