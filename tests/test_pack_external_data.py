"""A pack is data: one that points at another file (ONNX external data) is refused before
onnxruntime sees it, by ``info`` and ``generate`` alike, with one line (issue 18)."""

from __future__ import annotations

import pytest
from test_cli import invoke, one_error_line, texture_pack

from ganforge.core.onnx_scan import ScanError, external_tensors

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402


def _point_at(tensor: TensorProto, location: str) -> None:
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", location


def test_external_weights_next_to_the_pack_are_refused(tmp_path) -> None:
    path = texture_pack(tmp_path / "tex.onnx")
    model = onnx.load(str(path))
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=0)
    assert (tmp_path / "weights.bin").is_file()
    for command in (["info", path], ["generate", path, "--seed", 1, "-o", tmp_path / "x.png"]):
        one_error_line(invoke(*command), "external data", str(path))
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("where", ["initializer", "constant_attribute", "subgraph"])
def test_a_pack_naming_etc_passwd_is_refused_wherever_the_tensor_hides(tmp_path, where) -> None:
    path = texture_pack(tmp_path / "tex.onnx")
    model = onnx.load(str(path))
    stolen = helper.make_tensor("stolen", TensorProto.UINT8, [16], vals=bytes(16), raw=True)
    _point_at(stolen, "/etc/passwd")
    if where == "initializer":
        model.graph.initializer.append(stolen)
    else:
        const = helper.make_node("Constant", [], ["c"], value=stolen)
        if where == "constant_attribute":
            model.graph.node.insert(0, const)
        else:
            body = helper.make_graph([const], "body", [], [helper.make_tensor_value_info("c", TensorProto.UINT8, [16])])
            cond = helper.make_tensor("cond", TensorProto.BOOL, [], [True])
            model.graph.initializer.append(cond)
            model.graph.node.insert(0, helper.make_node("If", ["cond"], ["unused"], then_branch=body, else_branch=body))
    onnx.save(model, str(path))
    assert external_tensors(path.read_bytes()) != []
    result = invoke("generate", path, "--seed", 1, "-o", tmp_path / "x.png")
    one_error_line(result, "external data")
    assert "root:" not in result.output


def test_a_plain_pack_has_no_external_tensors_and_garbage_is_a_scan_error(tmp_path) -> None:
    assert external_tensors(texture_pack(tmp_path / "tex.onnx").read_bytes()) == []
    with pytest.raises(ScanError):
        external_tensors(b"\x0a\xff\xff\xff\xff\x0f")  # a length far past the end
