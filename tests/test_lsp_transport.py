"""The LSP transport survives framing abuse (issue 18): after a malformed header the server
resynchronises on the next good one and answers it; an absurd length is refused, not allocated."""

from __future__ import annotations

import json

import pytest
from lsp_client import LspClient

from ganforge.plugins.editor.transport import MAX_MESSAGE, Reframer

GOOD = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "x"}).encode()


BAD_FRAMES = {
    "non-numeric length": b"Content-Length: ten\r\n\r\n" + GOOD,
    "negative length": b"Content-Length: -5\r\n\r\n" + GOOD,
    "missing length": b"Content-Type: application/json\r\n\r\n" + GOOD,
    "huge length": b"Content-Length: 1000000000000\r\n\r\n" + GOOD,
    "over the cap": b"Content-Length: %d\r\n\r\n" % (MAX_MESSAGE + 1) + GOOD,
    "length too long": b"Content-Length: %d\r\n\r\n" % (len(GOOD) + 40) + GOOD,
    "length too short": b"Content-Length: %d\r\n\r\n" % (len(GOOD) - 9) + GOOD,
    "garbage before": b"\x00\xffhello" + b"Content-Length: %d\r\n\r\n" % len(GOOD) + GOOD,
}
FORGIVEN = {
    "lower-case header": b"content-length: %d\r\n\r\n" % len(GOOD) + GOOD,
    "LF-only lines": b"Content-Length: %d\n\n" % len(GOOD) + GOOD,
    "extra header": b"Content-Length: %d\r\nContent-Type: application/vscode-jsonrpc\r\n\r\n" % len(GOOD) + GOOD,
    "spaces": b"Content-Length:   %d  \r\n\r\n" % len(GOOD) + GOOD,
}
NEXT = json.dumps({"jsonrpc": "2.0", "id": 2, "method": "y"}).encode()


@pytest.mark.parametrize("name", list(FORGIVEN))
def test_tolerated_variants_are_read(name: str) -> None:
    assert Reframer().feed(FORGIVEN[name]) == [GOOD]


@pytest.mark.parametrize("name", list(BAD_FRAMES))
def test_after_a_malformed_frame_the_next_good_message_gets_through(name: str) -> None:
    stream = BAD_FRAMES[name] + b"Content-Length: %d\r\n\r\n" % len(NEXT) + NEXT
    for chunk in (1, 5, len(stream)):
        r, got = Reframer(), []
        for i in range(0, len(stream), chunk):
            got += r.feed(stream[i:i + chunk])
        assert got[-1:] == [NEXT], (name, chunk, got)
        assert len(r.buf) < 64


def test_a_live_server_answers_after_every_kind_of_bad_frame() -> None:
    client = LspClient()
    try:
        client.initialize()
        for k, (name, frame) in enumerate({**BAD_FRAMES, **FORGIVEN}.items()):
            client.proc.stdin.write(frame)
            client.proc.stdin.flush()
            # a real request right after the abuse must be answered
            reply = client.request("workspace/executeCommand", {"command": "ganforge.listPacks"}, timeout=20)
            assert "result" in reply, (k, name, reply)
        assert client.proc.poll() is None
    finally:
        assert client.close() == 0
