"""Real Neovim (headless) as the LSP client: the plugin in plugins/editor/nvim starts
`ganforge lsp`, `:GanforgeGenerate 5` inserts lines, and the buffer holds exactly the lines
`ganforge generate PACK --count 5 --seed S --temperature 0.8` prints; ghost text (0.12's
vim.lsp.inline_completion) is enabled exactly when that Neovim has it. Required in CI (.ci/run
installs Debian's neovim)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from text_helpers import text_pack

PLUGIN = Path(__file__).resolve().parents[1] / "plugins" / "editor" / "nvim"

SCRIPT = r"""
local out = os.getenv("GANFORGE_TEST_OUT")
vim.opt.runtimepath:prepend(os.getenv("GANFORGE_NVIM_PLUGIN"))
local ganforge = require("ganforge")
ganforge.setup({ cmd = { os.getenv("GANFORGE_PYTHON"), "-m", "ganforge.core.cli", "lsp" },
                 pack = os.getenv("GANFORGE_PACK"), seed = tonumber(os.getenv("GANFORGE_SEED")),
                 temperature = 0.8, count = 2 })
vim.cmd("edit " .. os.getenv("GANFORGE_DOC"))
vim.api.nvim_win_set_cursor(0, { 2, 0 })
vim.cmd("GanforgeGenerate 5")
local done = vim.wait(60000, function() return ganforge.last_result ~= nil or ganforge.last_error ~= nil end, 50)
local f = io.open(out, "w")
f:write(vim.fn.json_encode({ done = done, lines = vim.api.nvim_buf_get_lines(0, 0, -1, false),
                             result = ganforge.last_result, error = ganforge.last_error,
                             inline_enabled = ganforge.inline_enabled, has_012 = vim.fn.has("nvim-0.12") == 1 }))
f:close()
vim.cmd("qa!")
"""


def nvim_or_skip() -> str:
    nvim = shutil.which("nvim")
    if nvim is None:
        pytest.skip("nvim not installed (apt-get install neovim; .ci/run does)")
    return nvim


def run_lua(nvim: str, tmp_path: Path, lua: str, pack: Path, text: str, **extra_env: str) -> dict:
    """Run ``lua`` in headless Neovim with the plugin on its runtimepath, ``pack`` and a document
    holding ``text`` (``GANFORGE_DOC``); returns what the script wrote to ``GANFORGE_TEST_OUT``."""
    doc = tmp_path / "notes.txt"
    doc.write_text(text, encoding="utf-8")
    script = tmp_path / "script.lua"
    script.write_text(lua, encoding="utf-8")
    out = tmp_path / "out.json"
    env = {**os.environ, "GANFORGE_TEST_OUT": str(out), "GANFORGE_NVIM_PLUGIN": str(PLUGIN),
           "GANFORGE_PYTHON": sys.executable, "GANFORGE_PACK": str(pack), "GANFORGE_DOC": str(doc),
           "XDG_STATE_HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path), **extra_env}
    proc = subprocess.run([nvim, "--headless", "--clean", "-n", "-c", f"luafile {script}"], env=env,
                          capture_output=True, timeout=120)
    assert out.is_file(), proc.stderr.decode("utf-8", "replace")
    return json.loads(out.read_text(encoding="utf-8"))


@pytest.mark.required
def test_neovim_inserts_generated_lines(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    nvim = nvim_or_skip()
    from ganforge.core import runtime

    pack = text_pack(tmp_path_factory.mktemp("nvimpack"), "mle")
    rt = runtime.load(pack, device="cpu")
    # a seed whose lines include non-ASCII text (accented Latin or Chinese), to show any script works
    seed = next(s for s in range(100) if any(ord(c) > 127 for c in "".join(rt.generate(s, 5, temperature=0.8))))
    expected = subprocess.run([sys.executable, "-m", "ganforge.core.cli", "generate", str(pack), "--count", "5",
                               "--seed", str(seed), "--temperature", "0.8"], capture_output=True,
                              check=True).stdout.decode("utf-8").split("\n")[:-1]
    got = run_lua(nvim, tmp_path, SCRIPT, pack, "first\nsecond\nthird\n", GANFORGE_SEED=str(seed))
    assert got["done"] and not got.get("error"), got
    assert got["result"]["lines"] == expected
    assert got["lines"] == ["first", *expected, "second", "third"]
    assert any(ord(c) > 127 for c in "".join(got["lines"]))
    # ghost text (issue 16) is switched on exactly where Neovim has vim.lsp.inline_completion
    # (0.12+); older Neovim (Debian's 0.7) keeps the command path above and is left alone
    assert got["inline_enabled"] == got["has_012"], got


STUB_SCRIPT = r"""
-- Neovim 0.12's vim.lsp.inline_completion, stubbed, so the plugin's 0.12 path runs on any Neovim
local calls = {}
vim.lsp.inline_completion = {
  enable = function(on, filter) table.insert(calls, { "enable", on, filter.bufnr }) end,
  get = function() table.insert(calls, { "get" }); return true end,
  select = function(o) table.insert(calls, { "select", o.count }) end,
}
vim.opt.runtimepath:prepend(os.getenv("GANFORGE_NVIM_PLUGIN"))
local ganforge = require("ganforge")
ganforge.setup({ cmd = { os.getenv("GANFORGE_PYTHON"), "-m", "ganforge.core.cli", "lsp" },
                 pack = os.getenv("GANFORGE_PACK") })
vim.cmd("edit " .. os.getenv("GANFORGE_DOC"))
local client = ganforge.attach(0)
local maps = {}
for _, m in ipairs(vim.api.nvim_buf_get_keymap(0, "i")) do maps[m.lhs] = m.desc or "" end
local f = io.open(os.getenv("GANFORGE_TEST_OUT"), "w")
f:write(vim.fn.json_encode({ calls = calls, maps = maps, inline_enabled = ganforge.inline_enabled,
                             bufnr = vim.api.nvim_get_current_buf(),
                             provider = client.server_capabilities.inlineCompletionProvider ~= nil }))
f:close()
vim.cmd("qa!")
"""


@pytest.mark.required
def test_neovim_012_inline_setup_with_a_stub(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    """The installed Neovim may predate 0.12 (Debian's is 0.7): the plugin's 0.12 path runs here
    against a stub of vim.lsp.inline_completion — enabled for the buffer once the server
    advertises inlineCompletionProvider, with buffer-local Tab / M-] / M-[ in insert mode."""
    nvim = nvim_or_skip()
    pack = text_pack(tmp_path_factory.mktemp("nvimstub"), "mle")
    got = run_lua(nvim, tmp_path, STUB_SCRIPT, pack, "Jo\n")
    assert got["provider"] and got["inline_enabled"], got
    assert ["enable", True, got["bufnr"]] in got["calls"], got
    assert {"<Tab>", "<M-]>", "<M-[>"} <= set(got["maps"]), got["maps"]
