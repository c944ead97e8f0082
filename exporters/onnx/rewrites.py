"""ONNX graph rewrites that make a generator pack run faster on onnxruntime's CPU kernels.

Each edits a ModelProto in place, keeps the function it computes (bit for bit, or up to float32
summation order where it says so; the exporter's parity and PSNR checks run on the result) and
returns how many places it changed. Each exists because of a slow path measured with
onnxruntime's profiler, named in its docstring.
"""

from __future__ import annotations

from typing import Any

import numpy as np

NARROW_CONV_WIDTH = 16  # onnxruntime's uint8 QLinearConv is fast from 16 output channels up


def widen_narrow_convs(model: Any, width: int = NARROW_CONV_WIDTH) -> int:
    """Give every Conv with fewer than ``width`` output channels zero filters up to ``width`` and
    slice the real channels back out right after it; returns how many convs were widened.

    The result is the same function. It exists for onnxruntime's uint8 ``QLinearConv``: an output
    layer with one to four channels (a texture's to-RGB conv) runs ~2.5x slower than the same conv
    with 16 channels (1024², 1 thread: 56-67 ms against 21-26 ms, plus 4 ms for the slice), the
    single largest node of an int8 texture pack.
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    widened = 0
    for node in list(graph.node):
        if node.op_type != "Conv" or len(node.input) < 2 or node.input[1] not in inits:
            continue
        weight = numpy_helper.to_array(inits[node.input[1]])
        cout = weight.shape[0]
        if cout >= width or next((a.i for a in node.attribute if a.name == "group"), 1) != 1:
            continue
        wide = np.zeros((width, *weight.shape[1:]), weight.dtype)
        wide[:cout] = weight
        inits[node.input[1]].CopyFrom(numpy_helper.from_array(wide, node.input[1]))
        if len(node.input) > 2 and node.input[2] in inits:
            bias = numpy_helper.to_array(inits[node.input[2]])
            inits[node.input[2]].CopyFrom(numpy_helper.from_array(np.pad(bias, (0, width - cout)), node.input[2]))
        out, tag = node.output[0], f"ganforge_widen_{widened}"
        node.output[0] = f"{out}_{tag}"
        graph.initializer.extend([numpy_helper.from_array(np.array([v], np.int64), f"{tag}_{k}")
                                  for k, v in (("start", 0), ("end", cout), ("axis", 1))])
        graph.node.insert(list(graph.node).index(node) + 1, helper.make_node(
            "Slice", [node.output[0], f"{tag}_start", f"{tag}_end", f"{tag}_axis"], [out], name=tag))
        widened += 1
    if widened:
        del graph.value_info[:]  # the widened shapes are re-inferred by onnxruntime
    return widened


def _int_scales(node: Any, inits: dict[str, Any]) -> tuple[int, int] | None:
    """(kh, kw) when ``node`` is a nearest Resize by whole factors on H and W only, else None."""
    from onnx import helper, numpy_helper

    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if attrs.get("mode", b"nearest") != b"nearest" or len(node.input) < 3 or node.input[2] not in inits:
        return None
    if attrs.get("coordinate_transformation_mode", b"half_pixel") != b"asymmetric":
        return None
    scales = numpy_helper.to_array(inits[node.input[2]])
    if scales.shape != (4,) or scales[0] != 1 or scales[1] != 1 or any(v < 1 or v != int(v) for v in scales[2:]):
        return None
    return int(scales[2]), int(scales[3])


def hoist_quantize_over_copies(model: Any) -> int:
    """Quantise before the wrap-``Pad`` and nearest ``Resize`` that feed each ``QuantizeLinear``,
    and upsample uint8 by concatenation; returns how many chains were rewritten.

    Bit-exact: quantisation is elementwise and both ops only copy values. It matters because
    onnxruntime runs these layers channels-last around its NHWC ``QLinearConv``, where its
    ``Resize`` falls off the fast path (1024², 16 channels, 2 threads: 10.5 ms float32, 15.7 ms
    uint8, against 2.5 ms for a uint8 concat-and-reshape upsample), and a float32 wrap pad moves
    4x the bytes of a uint8 one (6.3 ms against 1.5 ms).
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    uses: dict[str, int] = {}
    for n in graph.node:
        for i in n.input:
            uses[i] = uses.get(i, 0) + 1
    for o in graph.output:
        uses[o.name] = uses.get(o.name, 0) + 1

    def is_copy(n: Any) -> bool:
        if uses.get(n.output[0], 0) != 1:
            return False
        if n.op_type == "Pad":
            mode = next((helper.get_attribute_value(a) for a in n.attribute if a.name == "mode"), b"constant")
            return mode in (b"wrap", b"edge", b"reflect")
        return n.op_type == "Resize" and _int_scales(n, inits) is not None

    rewritten = 0
    nodes = list(graph.node)
    out_nodes: list[Any] = []
    dropped: set[int] = set()
    for q in nodes:
        chain = []
        src = producer.get(q.input[0]) if q.op_type == "QuantizeLinear" else None
        while src is not None and is_copy(src):
            chain.append(src)
            src = producer.get(src.input[0])
        if not chain:
            out_nodes.append(q)
            continue
        tag = f"ganforge_hoist_{rewritten}"
        cur = f"{tag}_q"
        new = [helper.make_node("QuantizeLinear", [chain[-1].input[0], *q.input[1:]], [cur], name=cur,
                                **{a.name: helper.get_attribute_value(a) for a in q.attribute})]
        for k, op in enumerate(reversed(chain)):
            nxt = q.output[0] if k == len(chain) - 1 else f"{tag}_{k}"
            if op.op_type == "Pad":
                new.append(helper.make_node("Pad", [cur, *op.input[1:]], [nxt], name=f"{tag}_pad{k}",
                                            **{a.name: helper.get_attribute_value(a) for a in op.attribute}))
            else:  # nearest upsample by (kh, kw), channels-last: repeat each pixel, then each row
                kh, kw = _int_scales(op, inits)
                p = f"{tag}_up{k}"
                graph.initializer.extend([numpy_helper.from_array(np.array([2, 4], np.int64), f"{p}_axes"),
                                          numpy_helper.from_array(np.array([1, kh, kw, 1], np.int64), f"{p}_k")])
                new += [
                    helper.make_node("Transpose", [cur], [f"{p}_t"], perm=[0, 2, 3, 1], name=f"{p}_t"),
                    helper.make_node("Unsqueeze", [f"{p}_t", f"{p}_axes"], [f"{p}_u"], name=f"{p}_u"),
                    helper.make_node("Concat", [f"{p}_u"] * kw, [f"{p}_w"], axis=4, name=f"{p}_w"),
                    helper.make_node("Concat", [f"{p}_w"] * kh, [f"{p}_h"], axis=2, name=f"{p}_h"),
                    helper.make_node("Shape", [f"{p}_t"], [f"{p}_s"], name=f"{p}_s"),
                    helper.make_node("Mul", [f"{p}_s", f"{p}_k"], [f"{p}_shape"], name=f"{p}_shape"),
                    helper.make_node("Reshape", [f"{p}_h", f"{p}_shape"], [f"{p}_r"], name=f"{p}_r"),
                    helper.make_node("Transpose", [f"{p}_r"], [nxt], perm=[0, 3, 1, 2], name=f"{p}_back"),
                ]
            cur = nxt
        out_nodes.extend(new)
        dropped.update(id(n) for n in chain)
        rewritten += 1
    if rewritten:
        kept = [n for n in out_nodes if id(n) not in dropped]
        del graph.node[:]
        graph.node.extend(kept)
        del graph.value_info[:]
    return rewritten


ELEMENTWISE = {"Pow", "Mul", "Add", "Sub", "Div", "Sqrt", "LeakyRelu", "Relu", "Identity"}


def _from_dequantize(name: str, producer: dict[str, Any]) -> bool:
    """Whether tensor ``name`` is an elementwise function of a ``DequantizeLinear`` output."""
    node = producer.get(name)
    while node is not None and node.op_type in ELEMENTWISE:
        node = producer.get(node.input[0])
    return node is not None and node.op_type == "DequantizeLinear"


def channel_means_as_matmul(model: Any) -> int:
    """Rewrite each ``ReduceMean`` over the channels of an NCHW tensor (PixelNorm's) as a
    ``MatMul`` by a ``1/C`` row.

    The same mean up to float32 summation order (parity still checks it). onnxruntime reduces a
    middle axis of a float32 tensor slowly: 1024², 16 channels, 2 threads: ``Pow`` +
    ``ReduceMean`` 14.6 ms against 5.7 ms for ``Pow`` + ``MatMul``. Means of dequantised tensors
    are left alone: onnxruntime runs the layers around its int8 convs channels-last, where the
    reduction is already fast and the reshapes would cost two transposes each (measured: an int8
    pack 8% slower with every mean rewritten, 4-6% faster with only its float32 part's).
    """
    import onnx
    from onnx import helper, numpy_helper

    graph = model.graph
    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {v.name: v.type.tensor_type.shape for v in [*inferred.graph.value_info, *inferred.graph.input]}
    inits = {t.name: t for t in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    rewritten = 0
    out_nodes: list[Any] = []
    for node in graph.node:
        if node.op_type != "ReduceMean" or _from_dequantize(node.input[0], producer):
            out_nodes.append(node)
            continue
        shape = shapes.get(node.input[0])
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        axes = attrs.get("axes")
        if axes is None and len(node.input) > 1 and node.input[1] in inits:
            axes = numpy_helper.to_array(inits[node.input[1]]).tolist()
        if (shape is None or len(shape.dim) != 4 or not shape.dim[1].HasField("dim_value")
                or list(axes or []) not in ([1], [-3]) or attrs.get("keepdims", 1) != 1):
            out_nodes.append(node)
            continue
        c = shape.dim[1].dim_value
        tag = f"ganforge_chmean_{rewritten}"
        graph.initializer.extend([
            numpy_helper.from_array(np.full((1, c), 1.0 / c, np.float32), f"{tag}_w"),
            numpy_helper.from_array(np.array([0, c, -1], np.int64), f"{tag}_flat"),
            numpy_helper.from_array(np.array([1, 0, 1, 1], np.int64), f"{tag}_keep"),
            numpy_helper.from_array(np.array([0, 1, 0, 0], np.int64), f"{tag}_one"),
        ])
        x, y = node.input[0], node.output[0]
        out_nodes += [
            helper.make_node("Reshape", [x, f"{tag}_flat"], [f"{tag}_r"], name=f"{tag}_r"),
            helper.make_node("MatMul", [f"{tag}_w", f"{tag}_r"], [f"{tag}_m"], name=f"{tag}_m"),
            helper.make_node("Shape", [x], [f"{tag}_s"], name=f"{tag}_s"),
            helper.make_node("Mul", [f"{tag}_s", f"{tag}_keep"], [f"{tag}_s0"], name=f"{tag}_s0"),
            helper.make_node("Add", [f"{tag}_s0", f"{tag}_one"], [f"{tag}_shape"], name=f"{tag}_shape"),
            helper.make_node("Reshape", [f"{tag}_m", f"{tag}_shape"], [y], name=f"{tag}_y"),
        ]
        rewritten += 1
    if rewritten:
        del graph.node[:]
        graph.node.extend(out_nodes)
    return rewritten
