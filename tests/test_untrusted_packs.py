"""A pack is a stranger's file: its strings reach a terminal or an editor without their control
characters, and absurd run settings get one line (issue 18)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_cli import invoke, texture_pack

from ganforge.core.display import printable


def pack_with(tmp_path, key: str, edit, raw: bool = False) -> object:
    """A tiny real texture pack whose ``ganforge.<key>`` metadata is replaced by ``edit(old value)``,
    written as JSON (``raw``: the returned string itself, e.g. not JSON at all)."""
    onnx = pytest.importorskip("onnx")
    path = texture_pack(tmp_path / "tex.onnx")
    model = onnx.load(str(path))
    for prop in model.metadata_props:
        if prop.key == f"ganforge.{key}":
            value = edit(json.loads(prop.value))
            prop.value = value if raw else json.dumps(value)
    onnx.save(model, str(path))
    return path


EVIL = "MIT\x1b]0;pwned\x07\x1b[2J\u202etxt.exe"


def test_printable_escapes_controls_and_bidi_but_keeps_text() -> None:
    assert printable("café 日本 ok") == "café 日本 ok"
    out = printable(EVIL)
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert out.startswith("MIT\\x1b]0;pwned\\x07") and "\\u202e" in out
    assert printable("a\nb", keep="\n") == "a\nb" and printable("a\nb") == "a\\nb"


def test_info_does_not_print_a_licence_s_escape_codes(tmp_path) -> None:
    path = pack_with(tmp_path, "license", lambda _: EVIL)
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


def test_a_pack_that_never_ends_is_stopped_by_the_time_limit(tmp_path, monkeypatch) -> None:
    import time

    from hanging_pack import never_ending
    from test_cli import one_error_line

    path = never_ending(texture_pack(tmp_path / "tex.onnx"))
    monkeypatch.setenv("GANFORGE_RUN_SECONDS", "1")
    start = time.monotonic()
    result = invoke("generate", path, "-o", tmp_path / "x.png")
    one_error_line(result, "longer than 1 s")
    assert time.monotonic() - start < 20 and not (tmp_path / "x.png").exists()


def test_an_unwritable_destination_is_one_line_before_any_work(tmp_path) -> None:
    from test_cli import one_error_line

    path = texture_pack(tmp_path / "tex.onnx")
    one_error_line(invoke("generate", path, "-o", "/proc/ganforge.png"), "/proc")
    one_error_line(invoke("generate", path, "-o", tmp_path / "no" / "such" / "x.png"), "does not exist")


def test_a_failure_on_a_later_file_leaves_none_of_the_group(tmp_path, monkeypatch) -> None:
    from ganforge.core import runtime
    from ganforge.core.modalities.texture import codec

    rt = runtime.load(texture_pack(tmp_path / "tex.onnx"))
    images = rt.generate(seed=0, count=3)
    real_to_pil, calls = codec._to_pil, []

    def failing_on_the_third(image):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        return real_to_pil(image)

    monkeypatch.setattr(codec, "_to_pil", failing_on_the_third)
    with pytest.raises(OSError):
        rt.write(images, tmp_path / "out.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tex.onnx"]  # no image, no temp file
    monkeypatch.setattr(codec, "_to_pil", real_to_pil)
    assert len(rt.write(images, tmp_path / "out.png")) == 3


@pytest.mark.parametrize(("key", "edit", "needle"), [
    ("outputs", lambda o: [{**o[0], "range": [1, 1]}], "range"),
    ("outputs", lambda o: [{**o[0], "range": "big"}], "range"),
    ("outputs", lambda o: [{**o[0], "range": [0, float("nan")]}], "range"),
    ("inputs", lambda i: [{**i[0], "name": 7}, i[1]], "name"),
    ("inputs", lambda i: "not a list", "lists of objects"),
    ("train", lambda t: {**t, "peak_activation_ratio": "big"}, "peak_activation_ratio"),
    ("train", lambda t: {**t, "peak_activation_ratio": float("nan")}, "peak_activation_ratio"),
    ("license", lambda v: "[" * 100_000 + "]" * 100_000, "nested too deeply"),
])
def test_malformed_metadata_is_one_line_for_info_and_generate(tmp_path, key, edit, needle) -> None:
    from test_cli import one_error_line

    path = pack_with(tmp_path, key, edit, raw=key == "license")
    for command in (["info", path], ["generate", path, "-o", tmp_path / "x.png"]):
        one_error_line(invoke(*command), needle)


def test_info_refuses_what_generate_refuses_with_the_same_line(tmp_path) -> None:
    from test_cli import one_error_line

    path = pack_with(tmp_path, "decoder", lambda d: {**d, "stride": 0})  # the texture codec's check
    lines = [one_error_line(invoke(*c)) for c in (["info", path], ["generate", path, "-o", tmp_path / "x.png"])]
    assert lines[0] == lines[1] and "stride" in lines[0]


def test_a_small_pack_that_allocates_gigabytes_fails_in_one_line_under_a_memory_limit(tmp_path) -> None:
    """ConstantOfShape asking for 4 GiB from a tiny file, run in a process limited to 2 GiB of
    address space beyond its start: the capped arena refuses it (a regression fails, not swaps)."""
    import os
    import subprocess
    import sys

    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    path = texture_pack(tmp_path / "tex.onnx")
    model = onnx.load(str(path))
    model.graph.initializer.append(numpy_helper.from_array(np.array([2**30], np.int64), "bomb_shape"))
    model.graph.node.extend([
        helper.make_node("ConstantOfShape", ["bomb_shape"], ["bomb"],
                         value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0])),
        helper.make_node("ReduceMin", ["bomb"], ["bomb_min"], keepdims=0),
        helper.make_node("Mul", ["bomb_min", "zero_f"], ["bomb_zero"]),
    ])
    model.graph.initializer.append(numpy_helper.from_array(np.array(0.0, np.float32), "zero_f"))
    image = next(n for n in model.graph.node if n.output[0] == "image")
    image.output[0] = "image_raw"
    model.graph.node.append(helper.make_node("Add", ["image_raw", "bomb_zero"], ["image"]))
    onnx.save(model, str(path))
    script = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))\n"
        "from ganforge.core.cli import main\n"
        "sys.argv = ['ganforge', 'generate', sys.argv[1], '-o', sys.argv[2]]\n"
        "main()\n"
    )
    env = {**os.environ, "GANFORGE_MAX_WORK_MB": "1024"}
    result = subprocess.run([sys.executable, "-c", script, str(path), str(tmp_path / "x.png")],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(path) in lines[0], result.stderr
    assert not (tmp_path / "x.png").exists()
