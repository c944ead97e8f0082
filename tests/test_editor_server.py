"""The editor's Language Server over real stdio: generate inserts exactly the CLI's lines,
configuration, code action, completion, pack listing, and a few hundred garbled messages that
each get an error response while the server keeps serving."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from lsp_client import LspClient
from text_helpers import cli_lines, text_pack

pytest.importorskip("pygls")


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return text_pack(tmp_path_factory.mktemp("lsppack"), "mle")


@pytest.fixture
def client() -> LspClient:
    c = LspClient()
    yield c
    c.close()


def test_generate_inserts_the_cli_lines(pack: Path, client: LspClient) -> None:
    init = client.initialize({"pack": str(pack), "count": 2, "temperature": 1.5})
    caps = init["result"]["capabilities"]
    assert "ganforge.generate" in caps["executeCommandProvider"]["commands"]
    assert caps["codeActionProvider"] and caps["completionProvider"] is not None
    arg = {"uri": "file:///tmp/notes.txt", "position": {"line": 3, "character": 7},
           "count": 5, "seed": 1, "temperature": 0.8}
    res = client.request("workspace/executeCommand", {"command": "ganforge.generate", "arguments": [arg]})
    expected = cli_lines(pack, "--count", "5", "--seed", "1", "--temperature", "0.8")
    assert res["result"]["lines"] == expected and res["result"]["applied"] is True
    [edit] = client.edits
    [text_edit] = edit["edit"]["changes"]["file:///tmp/notes.txt"]
    assert text_edit["range"] == {"start": {"line": 3, "character": 0}, "end": {"line": 3, "character": 0}}
    assert text_edit["newText"] == "".join(s + "\n" for s in expected)
    # work-done progress was reported around the generation
    kinds = [n["params"]["value"]["kind"] for n in client.notifications if n["method"] == "$/progress"]
    assert kinds[:1] == ["begin"] and kinds[-1:] == ["end"]

    # defaults from the configuration: count 2, temperature 1.5, then didChangeConfiguration
    res = client.request("workspace/executeCommand", {"command": "ganforge.generate", "arguments": [
        {"uri": "file:///tmp/notes.txt", "position": {"line": 0, "character": 0}, "seed": 4}]})
    assert res["result"]["lines"] == cli_lines(pack, "--count", "2", "--seed", "4", "--temperature", "1.5")
    client.send({"method": "workspace/didChangeConfiguration", "params": {"settings": {"ganforge": {"count": 3}}}})
    res = client.request("workspace/executeCommand", {"command": "ganforge.generate", "arguments": [
        {"uri": "file:///tmp/notes.txt", "position": {"line": 0, "character": 0}, "seed": 4}]})
    assert len(res["result"]["lines"]) == 3


def test_code_action_completion_and_pack_list(pack: Path, client: LspClient) -> None:
    client.initialize({"pack": str(pack), "count": 4, "seed": 9}, root=pack.parent.as_uri())
    res = client.request("textDocument/codeAction", {
        "textDocument": {"uri": "file:///x.md"}, "context": {"diagnostics": []},
        "range": {"start": {"line": 2, "character": 1}, "end": {"line": 2, "character": 1}}})
    [action] = res["result"]
    assert action["title"] == "Generate here" and action["command"]["command"] == "ganforge.generate"
    assert action["command"]["arguments"][0]["position"] == {"line": 2, "character": 1}

    res = client.request("textDocument/completion", {"textDocument": {"uri": "file:///x.md"},
                                                     "position": {"line": 0, "character": 0}})
    labels = [i["label"] for i in res["result"]["items"]]
    expected = [s for s in dict.fromkeys(cli_lines(pack, "--count", "4", "--seed", "9")) if s]
    assert labels == expected

    res = client.request("workspace/executeCommand", {"command": "ganforge.listPacks"})
    assert [p["path"] for p in res["result"]] == [str(pack)] and res["result"][0]["default"] is True


def test_bad_arguments_are_errors(pack: Path, client: LspClient) -> None:
    client.initialize({"pack": str(pack)})
    bad_args = [
        [], [1], ["x"], [{}], [{"uri": "file:///a"}], [{"uri": 3, "position": {"line": 0}}],
        [{"uri": "file:///a", "position": {"line": -1, "character": 0}}],
        [{"uri": "file:///a", "position": {"line": 0, "character": 0}, "count": 0}],
        [{"uri": "file:///a", "position": {"line": 0, "character": 0}, "temperature": 0}],
        [{"uri": "file:///a", "position": {"line": 0, "character": 0}, "seed": "x"}],
        [{"uri": "file:///a", "position": {"line": 0, "character": 0}, "pack": str(pack.parent / "none.onnx")}],
    ]
    for args in bad_args:
        res = client.request("workspace/executeCommand", {"command": "ganforge.generate", "arguments": args})
        assert res["error"]["code"] == -32602, (args, res)
    res = client.request("workspace/executeCommand", {"command": "ganforge.nope", "arguments": []})
    assert "error" in res
    assert client.edits == []


def _garbled(rng: random.Random, i: int) -> tuple[bytes, object]:
    """A malformed message and the id whose error response it must get (None: parse error)."""
    kind = i % 10
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 40))), None
    if kind == 1:
        return b'{"jsonrpc": "2.0", "id": ' + str(i).encode() + b', "method": "initialize", "params": {', None
    if kind == 2:
        return json.dumps([1, 2, 3]).encode(), None
    if kind == 3:
        return json.dumps({"jsonrpc": "2.0", "id": i, "method": f"no/such/method{i}"}).encode(), i
    if kind == 4:
        return json.dumps({"jsonrpc": "2.0", "id": i, "method": "textDocument/completion",
                           "params": {"textDocument": 5, "position": "x"}}).encode(), i
    if kind == 5:
        return json.dumps({"jsonrpc": "2.0", "id": i, "method": "workspace/executeCommand",
                           "params": {"command": 7}}).encode(), i
    if kind == 6:
        return json.dumps({"jsonrpc": "2.0", "id": i, "method": "textDocument/codeAction",
                           "params": None}).encode(), i
    if kind == 7:
        return json.dumps({"id": i, "method": "initialize"}).encode(), i  # no "jsonrpc"
    if kind == 8:
        return json.dumps({"jsonrpc": "2.0", "id": i, "method": "workspace/executeCommand",
                           "params": {"command": "ganforge.generate",
                                      "arguments": [{"uri": "file:///a", "position": "top"}]}}).encode(), i
    return "\u00e9\u4e2d".encode("latin-1", "replace") + b"\xff\xfe", None


def test_garbled_messages_get_errors_and_the_server_keeps_serving(pack: Path, client: LspClient) -> None:
    client.initialize({"pack": str(pack)})
    rng = random.Random(0)
    expected_ids, parse_errors = [], 0
    for i in range(300):
        body, msg_id = _garbled(rng, 10_000 + i)
        client.send_raw(body)
        if msg_id is None:
            parse_errors += 1
        else:
            expected_ids.append(msg_id)
        # a malformed notification (nobody to answer) must not stop the server either
        client.send({"method": "workspace/didChangeConfiguration", "params": {"settings": {"ganforge": {"count": "x"}}}})
    for msg_id in expected_ids:
        res = client.wait(msg_id, timeout=30)
        assert res["error"]["code"] in (-32600, -32601, -32602, -32603), res
    res = client.request("workspace/executeCommand", {"command": "ganforge.generate", "arguments": [
        {"uri": "file:///a", "position": {"line": 0, "character": 0}, "count": 1, "seed": 2}]})
    assert res["result"]["lines"] == cli_lines(pack, "--count", "1", "--seed", "2")
    assert len(client.null_id_errors) >= parse_errors
    assert all(e["error"]["code"] in (-32700, -32600) for e in client.null_id_errors)
    assert client.proc.poll() is None
