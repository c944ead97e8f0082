"""Inline completion (LSP 3.18 ``textDocument/inlineCompletion``, issue 16) through pytest-lsp on a
live ``ganforge lsp``: the ghost text continues the line before the cursor exactly as
``ganforge generate --prefix`` does for the same seed (char and word packs); automatic requests
are debounced and say nothing for an empty prefix; ``$/cancelRequest`` is answered at once, also
while a worker runs a pack that never ends; a result whose document changed is dropped; latency
is in the server log."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytest_lsp = pytest.importorskip("pytest_lsp")
from hanging_pack import never_ending  # noqa: E402
from lsprotocol import types  # noqa: E402
from pygls.exceptions import JsonRpcException  # noqa: E402
from pytest_lsp import ClientServerConfig, LanguageClient  # noqa: E402
from text_helpers import cli_lines, text_pack, word_pack  # noqa: E402

from ganforge.plugins.editor.inline import candidates  # noqa: E402

LOG = Path(tempfile.gettempdir()) / f"ganforge-inline-test-{os.getpid()}.log"
ENV = {**os.environ, "GANFORGE_LSP_SECONDS": "3", "GANFORGE_LSP_WORKERS": "2"}
URI = "file:///tmp/names.txt"
_packs: dict[str, Path] = {}


@pytest.fixture(scope="module")
def packs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("inline")
    _packs["names"] = text_pack(root, "mle")
    _packs["words"] = word_pack(root)
    _packs["endless"] = never_ending(Path(shutil.copy(_packs["names"], root / "endless.onnx")))
    return _packs


@pytest_lsp.fixture(config=ClientServerConfig(
    server_command=[sys.executable, "-m", "ganforge.core.cli", "lsp", "--log", str(LOG)], server_env=ENV))
async def client(lsp_client: LanguageClient, packs: dict[str, Path]):
    caps = types.ClientCapabilities(text_document=types.TextDocumentClientCapabilities(
        inline_completion=types.InlineCompletionClientCapabilities()))
    result = await lsp_client.initialize_session(types.InitializeParams(
        capabilities=caps, initialization_options={"pack": str(packs["names"]), "seed": 7, "temperature": 0.8,
                                                   "inlineCount": 5}))
    lsp_client.init_result = result
    yield
    await lsp_client.shutdown_session()


def open_doc(client: LanguageClient, text: str, uri: str = URI, version: int = 1) -> None:
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        types.TextDocumentItem(uri=uri, language_id="plaintext", version=version, text=text)))


def params(line: int, char: int, automatic: bool = False, uri: str = URI) -> types.InlineCompletionParams:
    kind = types.InlineCompletionTriggerKind.Automatic if automatic else types.InlineCompletionTriggerKind.Invoked
    return types.InlineCompletionParams(text_document=types.TextDocumentIdentifier(uri=uri),
                                        position=types.Position(line=line, character=char),
                                        context=types.InlineCompletionContext(trigger_kind=kind))


def texts(result: types.InlineCompletionList | list | None) -> list[str]:
    items = result.items if isinstance(result, types.InlineCompletionList) else (result or [])
    return [i.insert_text for i in items]


def configure(client: LanguageClient, **settings: object) -> None:
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"ganforge": settings}))


async def assert_cancelled_at_once(client: LanguageClient, request: types.InlineCompletionParams, msg_id: str,
                                   after: float) -> None:
    """Send ``request`` as ``msg_id``, cancel it ``after`` seconds later: the answer must be
    "cancelled", within a second of the ``$/cancelRequest``."""
    fut = asyncio.ensure_future(client.protocol.send_request_async(  # a coroutine: sent once scheduled
        "textDocument/inlineCompletion", request, msg_id=msg_id))
    await asyncio.sleep(after)
    start = time.monotonic()
    client.protocol.notify("$/cancelRequest", types.CancelParams(id=msg_id))
    with pytest.raises(JsonRpcException) as info:
        await asyncio.wait_for(fut, 2)
    assert info.value.code == types.LSPErrorCodes.RequestCancelled and time.monotonic() - start < 1


def test_candidates_are_continuations_deduplicated_and_not_what_follows() -> None:
    lines = ["José", "Joan", "José", "Jo", "Jo\x1b[2J", "Mia"]
    assert candidates(lines, "Jo", "sé") == ["an", "\\x1b[2J"]
    assert candidates(lines, "Jo", "") == ["sé", "an", "\\x1b[2J"]


@pytest.mark.asyncio
async def test_ghost_text_equals_the_cli_prefix_lines(client: LanguageClient, packs: dict[str, Path]) -> None:
    caps = client.init_result.capabilities
    assert caps.inline_completion_provider is not None
    assert caps.completion_provider is not None and caps.code_action_provider  # kept for older clients
    open_doc(client, "Søren\nJo\n")
    result = await client.text_document_inline_completion_async(params(1, 2))
    expected = cli_lines(packs["names"], "--prefix", "Jo", "--count", "5", "--seed", "7", "--temperature", "0.8")
    assert all(s.startswith("Jo") for s in expected)
    assert texts(result) == [c for c in dict.fromkeys(s[2:] for s in expected) if c]
    assert all(i.range == types.Range(types.Position(1, 2), types.Position(1, 2)) for i in result.items)
    # the cursor's column counts UTF-16 units, as LSP's default encoding: "Sø" is 2, prefix "Sø"
    got = await client.text_document_inline_completion_async(params(0, 2))
    expected = cli_lines(packs["names"], "--prefix", "Sø", "--count", "5", "--seed", "7", "--temperature", "0.8")
    assert texts(got) == [c for c in dict.fromkeys(s[2:] for s in expected) if c]

    # automatic: debounced, the same candidates; an empty prefix gets nothing
    configure(client, inlineDebounceMs=50)
    assert texts(await client.text_document_inline_completion_async(params(1, 2, automatic=True))) == texts(result)
    assert texts(await client.text_document_inline_completion_async(params(2, 0, automatic=True))) == []

    # a word-level pack: the continuation starts with the space between words
    configure(client, pack=str(packs["words"]))
    open_doc(client, "the big", uri="file:///tmp/caps.txt")
    got = await client.text_document_inline_completion_async(params(0, 7, uri="file:///tmp/caps.txt"))
    expected = cli_lines(packs["words"], "--prefix", "the big", "--count", "5", "--seed", "7", "--temperature", "0.8")
    assert texts(got) == [c for c in dict.fromkeys(s[7:] for s in expected) if c]
    assert all(t.startswith(" ") for t in texts(got))

    # a prefix the pack cannot take: an invoked request says why, an automatic one stays quiet
    configure(client, pack=str(packs["names"]))
    open_doc(client, "x" * 40, uri="file:///tmp/long.txt")
    with pytest.raises(JsonRpcException, match="this pack's lines hold at most 8"):
        await client.text_document_inline_completion_async(params(0, 40, uri="file:///tmp/long.txt"))
    assert texts(await client.text_document_inline_completion_async(
        params(0, 40, automatic=True, uri="file:///tmp/long.txt"))) == []
    log = LOG.read_text(encoding="utf-8")
    assert "inlineCompletion invoked: " in log and " ms (seed 7)" in log


@pytest.mark.asyncio
async def test_cancel_and_stale_results(client: LanguageClient, packs: dict[str, Path]) -> None:
    open_doc(client, "Jo\n")
    assert texts(await client.text_document_inline_completion_async(params(0, 2)))  # workers started

    # cancelled while debouncing: answered "cancelled" at once
    configure(client, inlineDebounceMs=3000)
    await assert_cancelled_at_once(client, params(0, 2, automatic=True), "debouncing", after=0.3)

    # cancelled while a worker runs a pack that never ends: answered at once, not at the budget,
    # and generation from a good pack still answers meanwhile
    configure(client, inlineDebounceMs=0, pack=str(packs["endless"]))
    await assert_cancelled_at_once(client, params(0, 2), "endless", after=0.5)
    configure(client, pack=str(packs["names"]))
    start = time.monotonic()
    assert texts(await client.text_document_inline_completion_async(params(0, 2)))
    assert time.monotonic() - start < 2

    # the document changes while an automatic request waits: its result is dropped
    configure(client, inlineDebounceMs=400)
    fut = asyncio.ensure_future(client.text_document_inline_completion_async(params(0, 2, automatic=True)))
    await asyncio.sleep(0.1)
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=2),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text="Joa\n")]))
    assert texts(await fut) == []
    log = LOG.read_text(encoding="utf-8")
    assert "inlineCompletion cancelled after" in log and "changed (version 1 -> 2)" in log
