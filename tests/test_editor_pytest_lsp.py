"""The Language Server through pytest-lsp (a pygls client): generate applies exactly the CLI's
lines, with progress, and configuration changes take effect."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest_lsp = pytest.importorskip("pytest_lsp")
from lsprotocol import types  # noqa: E402
from pytest_lsp import ClientServerConfig, LanguageClient  # noqa: E402
from text_helpers import cli_lines, text_pack  # noqa: E402

_packs: dict[str, Path] = {}


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _packs["pack"] = text_pack(tmp_path_factory.mktemp("pytestlsp"), "mle")
    return _packs["pack"]


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "ganforge.core.cli", "lsp"]))
async def client(lsp_client: LanguageClient, pack: Path):
    lsp_client.edits = []

    @lsp_client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        lsp_client.edits.append(params.edit)
        return types.ApplyWorkspaceEditResult(applied=True)

    caps = types.ClientCapabilities(window=types.WindowClientCapabilities(work_done_progress=True),
                                    workspace=types.WorkspaceClientCapabilities(apply_edit=True))
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=caps, initialization_options={"pack": str(pack), "count": 3, "temperature": 0.7}))
    yield
    await lsp_client.shutdown_session()


@pytest.mark.asyncio
async def test_generate_through_pytest_lsp(client: LanguageClient, pack: Path) -> None:
    uri = "file:///tmp/story.md"
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="ganforge.generate", arguments=[{"uri": uri, "position": {"line": 1, "character": 4}, "seed": 5}]))
    expected = cli_lines(pack, "--count", "3", "--seed", "5", "--temperature", "0.7")
    assert result["lines"] == expected
    [edit] = client.edits
    [text_edit] = edit.changes[uri]
    assert text_edit.range.start == types.Position(line=1, character=0)
    assert text_edit.new_text == "".join(s + "\n" for s in expected)
    assert client.progress_reports  # begin/end were reported

    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"ganforge": {"count": 1, "temperature": 1.3}}))
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="ganforge.generate", arguments=[{"uri": uri, "position": {"line": 0, "character": 0}, "seed": 5}]))
    assert result["lines"] == cli_lines(pack, "--count", "1", "--seed", "5", "--temperature", "1.3")
