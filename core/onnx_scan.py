"""Find external-data references in an ONNX file without the ``onnx`` package (torch-free).

A pack is one self-contained file by contract. A tensor whose bytes live "elsewhere"
(``TensorProto.data_location = EXTERNAL`` or an ``external_data`` entry) would make onnxruntime
read a file the pack names — in older versions anywhere on disk, ``/etc/passwd`` included. So the
runtime refuses such a pack before any session exists. This walks just the protobuf fields that
can hold tensors (initialisers, sparse initialisers, node attributes, subgraphs, functions) and
skips everything else by length, so a large pack is scanned without copying its weights.
"""

from __future__ import annotations

#: protobuf field numbers (onnx.proto3), by message
_MODEL_GRAPH, _MODEL_FUNCTIONS = 7, 25
_GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_SPARSE = 1, 5, 15
_NODE_ATTRIBUTE, _FUNCTION_NODE = 5, 7
_ATTR_T, _ATTR_G, _ATTR_TENSORS, _ATTR_GRAPHS, _ATTR_SPARSE, _ATTR_SPARSES = 5, 6, 10, 11, 22, 23
_SPARSE_VALUES, _SPARSE_INDICES = 1, 2
_TENSOR_NAME, _TENSOR_EXTERNAL, _TENSOR_LOCATION = 8, 13, 14
MAX_DEPTH = 64  # subgraphs nest (If inside Loop...); a deeper file is hostile, not a model


class ScanError(ValueError):
    """The bytes are not a well-formed ONNX protobuf (or nest absurdly deep)."""


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ScanError("truncated or malformed varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def _fields(buf: memoryview):
    """(field number, wire type, value) of one message: ints for varints, memoryviews otherwise."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            n, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + n], pos + n
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ScanError(f"unsupported wire type {wire}")
        if pos > len(buf):
            raise ScanError("truncated message")
        yield field, wire, value


def _tensor(buf: memoryview, found: list[str]) -> None:
    name, external = "", False
    for field, wire, value in _fields(buf):
        if field == _TENSOR_NAME and wire == 2:
            name = bytes(value).decode("utf-8", "replace")
        elif (field == _TENSOR_EXTERNAL and wire == 2) or (field == _TENSOR_LOCATION and wire == 0 and value == 1):
            external = True
    if external:
        found.append(name or "<unnamed>")


def _sparse(buf: memoryview, found: list[str]) -> None:
    for field, wire, value in _fields(buf):
        if field in (_SPARSE_VALUES, _SPARSE_INDICES) and wire == 2:
            _tensor(value, found)


def _node(buf: memoryview, found: list[str], depth: int) -> None:
    for field, wire, value in _fields(buf):
        if field != _NODE_ATTRIBUTE or wire != 2:
            continue
        for f, w, v in _fields(value):
            if w != 2:
                continue
            if f in (_ATTR_T, _ATTR_TENSORS):
                _tensor(v, found)
            elif f in (_ATTR_SPARSE, _ATTR_SPARSES):
                _sparse(v, found)
            elif f in (_ATTR_G, _ATTR_GRAPHS):
                _graph(v, found, depth + 1)


def _graph(buf: memoryview, found: list[str], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ScanError(f"subgraphs nested more than {MAX_DEPTH} deep")
    for field, wire, value in _fields(buf):
        if wire != 2:
            continue
        if field == _GRAPH_INITIALIZER:
            _tensor(value, found)
        elif field == _GRAPH_SPARSE:
            _sparse(value, found)
        elif field == _GRAPH_NODE:
            _node(value, found, depth)


def external_tensors(data: bytes | memoryview) -> list[str]:
    """Names of the tensors in the serialised ModelProto ``data`` that reference external data."""
    found: list[str] = []
    for field, wire, value in _fields(memoryview(data)):
        if field == _MODEL_GRAPH and wire == 2:
            _graph(value, found, 0)
        elif field == _MODEL_FUNCTIONS and wire == 2:
            for f, w, v in _fields(value):
                if f == _FUNCTION_NODE and w == 2:
                    _node(v, found, 0)
    return found
