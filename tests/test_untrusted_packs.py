"""A pack is a stranger's file: its strings reach a terminal or an editor without their control
characters, and absurd run settings get one line (issue 18)."""

from __future__ import annotations

import json

import pytest
from test_cli import invoke, texture_pack

from ganforge.core.display import printable

EVIL = "MIT\x1b]0;pwned\x07\x1b[2J\u202etxt.exe"


def test_printable_escapes_controls_and_bidi_but_keeps_text() -> None:
    assert printable("café 日本 ok") == "café 日本 ok"
    out = printable(EVIL)
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert out.startswith("MIT\\x1b]0;pwned\\x07") and "\\u202e" in out
    assert printable("a\nb", keep="\n") == "a\nb" and printable("a\nb") == "a\\nb"


def test_info_does_not_print_a_licence_s_escape_codes(tmp_path) -> None:
    onnx = pytest.importorskip("onnx")
    path = texture_pack(tmp_path / "tex.onnx")
    model = onnx.load(str(path))
    for prop in model.metadata_props:
        if prop.key == "ganforge.license":
            prop.value = json.dumps(EVIL)
    onnx.save(model, str(path))
    result = invoke("info", path)
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout and "\u202e" not in result.stdout and "pwned" in result.stdout


@pytest.mark.parametrize("threads", [0, -1, 100_000])
def test_absurd_thread_counts_get_one_line(tmp_path, threads) -> None:
    from test_cli import one_error_line

    path = texture_pack(tmp_path / "tex.onnx")
    one_error_line(invoke("generate", path, "--threads", threads, "-o", tmp_path / "x.png"), "threads")


def test_inputs_declared_absurdly_large_are_refused_before_drawing(tmp_path) -> None:
    from test_cli import one_error_line

    onnx = pytest.importorskip("onnx")
    path = texture_pack(tmp_path / "tex.onnx")
    model = onnx.load(str(path))
    model.graph.input[0].type.tensor_type.shape.dim[1].dim_param = "c"  # the graph accepts any width
    for prop in model.metadata_props:
        if prop.key == "ganforge.inputs":
            inputs = json.loads(prop.value)
            inputs[0]["shape"][1] = 10**6  # ... and the metadata asks for a million channels
            prop.value = json.dumps(inputs)
    onnx.save(model, str(path))
    result = invoke("generate", path, "--size", "2048x2048", "-o", tmp_path / "x.png")
    one_error_line(result, "inputs", "MiB")
