"""A pack that never ends: a real pack whose first output waits on an endless ONNX Loop, as a
hostile pack would (built with the ``onnx`` package; any modality)."""

from __future__ import annotations

from pathlib import Path

import pytest


def never_ending(path: Path) -> Path:
    """Rewrite the pack at ``path`` so its graph spins (trip count 2^62, condition always true)
    before its first output; the loop's result is multiplied by zero and added to the output, so
    onnxruntime cannot prune it and the pack would decode normally if the loop ever ended."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    model = onnx.load(str(path))
    out = model.graph.output[0]
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Add", ["x_in", "one"], ["x_out"])],
        "spin",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x_in", TensorProto.FLOAT, [])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x_out", TensorProto.FLOAT, [])],
        [helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])],
    )
    model.graph.initializer.extend([helper.make_tensor("trips", TensorProto.INT64, [], [2**62]),
                                    helper.make_tensor("go", TensorProto.BOOL, [], [True]),
                                    helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])])
    producer = next(n for n in model.graph.node if out.name in n.output)
    producer.output[list(producer.output).index(out.name)] = "spin_raw"
    model.graph.node.extend([
        helper.make_node("Loop", ["trips", "go", "zero"], ["spun"], body=body),
        helper.make_node("Mul", ["spun", "zero"], ["nothing_f"]),
        helper.make_node("Cast", ["nothing_f"], ["nothing"], to=out.type.tensor_type.elem_type),
        helper.make_node("Add", ["spin_raw", "nothing"], [out.name]),
    ])
    onnx.save(model, str(path))
    return path
