"""A pack whose graph never ends must not take the editor's generation away (issue 18): through a
live ``ganforge lsp`` (pytest-lsp), eight requests on such a pack each get an error within the
editor's budget, the pack is then refused at once, and a good pack still answers; a worker that
stops answering altogether is killed and replaced."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest

pytest_lsp = pytest.importorskip("pytest_lsp")
from hanging_pack import never_ending  # noqa: E402
from lsprotocol import types  # noqa: E402
from pygls.exceptions import JsonRpcException  # noqa: E402
from pytest_lsp import ClientServerConfig, LanguageClient  # noqa: E402
from text_helpers import text_pack  # noqa: E402

BUDGET = 3  # seconds: GANFORGE_LSP_SECONDS for these servers
ENV = {**os.environ, "GANFORGE_LSP_SECONDS": str(BUDGET), "GANFORGE_LSP_WORKERS": "2"}
_packs: dict[str, Path] = {}


@pytest.fixture(scope="module")
def packs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hang")
    good = text_pack(root, "mle")
    _packs["good"] = good
    _packs["endless"] = never_ending(Path(shutil.copy(good, root / "endless.onnx")))
    return _packs


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "ganforge.core.cli", "lsp"],
                                              server_env=ENV))
async def client(lsp_client: LanguageClient, packs: dict[str, Path]):
    @lsp_client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        return types.ApplyWorkspaceEditResult(applied=True)

    caps = types.ClientCapabilities(workspace=types.WorkspaceClientCapabilities(apply_edit=True))
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=caps, initialization_options={"pack": str(packs["good"]), "count": 2}))
    yield
    await lsp_client.shutdown_session()


async def generate(client: LanguageClient, pack: Path, seed: int = 1) -> dict:
    return await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="ganforge.generate",
        arguments=[{"uri": "file:///tmp/n.txt", "position": {"line": 0, "character": 0}, "pack": str(pack),
                    "seed": seed}]))


@pytest.mark.asyncio
async def test_eight_endless_requests_leave_generation_available(client: LanguageClient, packs) -> None:
    assert len((await generate(client, packs["good"]))["lines"]) == 2  # workers started
    start = time.monotonic()
    results = await asyncio.gather(*[generate(client, packs["endless"], seed) for seed in range(8)],
                                   generate(client, packs["good"], 2), return_exceptions=True)
    *endless, good = results
    assert all(isinstance(r, JsonRpcException) for r in endless), endless
    assert all("longer than 3 s" in str(r) and "set aside" in str(r) for r in endless), endless
    assert len(good["lines"]) == 2, good
    # two workers each spend one budget on the pack; the other six are refused as the first ends
    assert time.monotonic() - start < 4 * BUDGET + 10
    start = time.monotonic()
    with pytest.raises(JsonRpcException, match="set aside"):
        await generate(client, packs["endless"])
    assert time.monotonic() - start < 2  # refused at once, not after another budget
    assert len((await generate(client, packs["good"], 3))["lines"]) == 2


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.mark.asyncio
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc to find the workers")
async def test_a_worker_that_stops_answering_is_killed_and_replaced(client: LanguageClient, packs) -> None:
    assert len((await generate(client, packs["good"]))["lines"]) == 2
    workers = _children(client._server.pid)
    assert workers
    for pid in workers:  # frozen: neither onnxruntime's time limit nor anything else can answer
        os.kill(pid, signal.SIGSTOP)
    with pytest.raises(JsonRpcException, match="longer than 3 s"):
        await generate(client, packs["good"], 4)
    await asyncio.sleep(0.5)
    assert not set(workers) & set(_children(client._server.pid))  # the frozen one was killed
    os.utime(packs["good"])  # a changed file is tried again
    assert len((await generate(client, packs["good"], 5))["lines"]) == 2
    for pid in set(workers) & set(_children(client._server.pid)):
        os.kill(pid, signal.SIGCONT)
