"""The int8 exporter's graph rewrites compute the same function as the graphs they replace."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from ganforge.exporters.onnx.rewrites import (
    NARROW_CONV_WIDTH,
    channel_means_as_matmul,
    hoist_quantize_over_copies,
    widen_narrow_convs,
)


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def _save(nodes: list, inits: list, path: Path, out_type: int = TensorProto.FLOAT) -> Path:
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4, None, None])],
                              [helper.make_tensor_value_info("y", out_type, [None] * 4)], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _wrap_pads() -> onnx.TensorProto:
    return numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads")


@pytest.mark.parametrize("cout", [1, 3])
def test_widened_conv_gives_the_same_output(tmp_path: Path, cout: int) -> None:
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((cout, 4, 3, 3)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal(cout).astype(np.float32), "b")
    nodes = [helper.make_node("Pad", ["x", "pads"], ["p"], mode="wrap"),
             helper.make_node("Conv", ["p", "w", "b"], ["c"]), helper.make_node("Tanh", ["c"], ["y"])]
    path = _save(nodes, [w, b, _wrap_pads()], tmp_path / "m.onnx")
    x = rng.standard_normal((2, 4, 9, 7)).astype(np.float32)
    before = _run(path, x)

    model = onnx.load(str(path))
    assert widen_narrow_convs(model) == 1
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    assert weights["w"].shape[0] == NARROW_CONV_WIDTH and not weights["w"][cout:].any()
    after = _run(path, x)
    assert after.shape == before.shape == (2, cout, 9, 7)
    np.testing.assert_array_equal(after, before)
    assert widen_narrow_convs(model) == 0  # already wide: nothing to do


def test_quantising_before_upsample_and_wrap_pad_is_bit_exact(tmp_path: Path) -> None:
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
    qs = numpy_helper.from_array(np.array(0.02, np.float32), "qs")
    qz = numpy_helper.from_array(np.array(117, np.uint8), "qz")
    nodes = [
        helper.make_node("Resize", ["x", "", "scales"], ["up"], mode="nearest",
                         coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
        helper.make_node("Pad", ["up", "pads"], ["p"], mode="wrap"),
        helper.make_node("QuantizeLinear", ["p", "qs", "qz"], ["y"]),
    ]
    path = _save(nodes, [scales, qs, qz, _wrap_pads()], tmp_path / "m.onnx", TensorProto.UINT8)
    x = (np.random.default_rng(1).standard_normal((3, 4, 5, 6)) * 2).astype(np.float32)
    before = _run(path, x)
    assert before.shape == (3, 4, 12, 14)

    model = onnx.load(str(path))
    assert hoist_quantize_over_copies(model) == 1
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    ops = [n.op_type for n in model.graph.node]
    assert "Resize" not in ops and ops[0] == "QuantizeLinear"  # quantised first, upsampled in uint8
    np.testing.assert_array_equal(_run(path, x), before)


def test_hoisting_leaves_a_shared_tensor_alone(tmp_path: Path) -> None:
    """A padded tensor that something else also reads must stay float32."""
    qs = numpy_helper.from_array(np.array(0.05, np.float32), "qs")
    qz = numpy_helper.from_array(np.array(128, np.uint8), "qz")
    nodes = [helper.make_node("Pad", ["x", "pads"], ["p"], mode="wrap"),
             helper.make_node("QuantizeLinear", ["p", "qs", "qz"], ["q"]),
             helper.make_node("DequantizeLinear", ["q", "qs", "qz"], ["d"]),
             helper.make_node("Add", ["d", "p"], ["y"])]
    path = _save(nodes, [qs, qz, _wrap_pads()], tmp_path / "m.onnx")
    assert hoist_quantize_over_copies(onnx.load(str(path))) == 0


def test_channel_mean_as_matmul_matches_reduce_mean(tmp_path: Path) -> None:
    axes = numpy_helper.from_array(np.array([1], np.int64), "axes")
    other = numpy_helper.from_array(np.array([2], np.int64), "other")
    nodes = [helper.make_node("ReduceMean", ["x", "axes"], ["m"], keepdims=1),
             helper.make_node("ReduceMean", ["x", "other"], ["n"], keepdims=1),  # not over channels: kept
             helper.make_node("Add", ["m", "n"], ["y"])]
    path = _save(nodes, [axes, other], tmp_path / "m.onnx")
    x = np.random.default_rng(2).standard_normal((2, 4, 6, 5)).astype(np.float32)
    before = _run(path, x)
    model = onnx.load(str(path))
    assert channel_means_as_matmul(model) == 1
    onnx.checker.check_model(model)
    assert [n.op_type for n in model.graph.node].count("ReduceMean") == 1
    onnx.save(model, str(path))
    after = _run(path, x)
    assert after.shape == before.shape == (2, 4, 6, 5)
    np.testing.assert_allclose(after, before, atol=1e-6)
