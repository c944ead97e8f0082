"""``ganforge lsp``: a Language Server (pygls, stdio) that writes generated lines into any editor.

Torch-free: packs run through :mod:`ganforge.core.runtime` (onnxruntime + numpy). What it offers:

- ``workspace/executeCommand`` ``ganforge.generate`` with one object argument
  ``{"uri", "position": {"line", "character"}, "pack"?, "count"?, "seed"?, "temperature"?}``:
  generates ``count`` lines — exactly what ``ganforge generate PACK --count N --seed S
  --temperature T`` prints — and inserts them as whole lines before ``position.line`` with
  ``workspace/applyEdit``. Returns ``{"lines", "seed", "pack", "applied"}``. Without a seed the
  server counts up from the configured one (0), so repeated calls give new lines.
- ``ganforge.listPacks``: the text packs found (configured pack, ``packPaths``, workspace folders).
- a "Generate here" code action (runs ``ganforge.generate`` at the cursor) and completion items
  offering generated candidates at the cursor.
- generation runs in worker processes, with work-done progress when the client supports it, so the
  server keeps answering; a pack whose graph overruns the editor's budget (``GANFORGE_LSP_SECONDS``,
  20 s) has its worker killed and replaced and is refused until its file changes (:mod:`.pool`); configuration (``pack``, ``count``, ``temperature``, ``seed``,
  ``packPaths``) comes from ``initializationOptions`` and ``workspace/didChangeConfiguration``
  (a ``{"ganforge": {...}}`` section or the bare object).
- ``textDocument/inlineCompletion`` (LSP 3.18): ghost text continuing the line before the cursor,
  ``inlineCount`` candidates from the pack's prefix input (:mod:`.inline`: debouncing, cancellation,
  stale versions, latency in the log); ``inlineCount`` (5) and ``inlineDebounceMs`` (100) configure it.
- a malformed message gets a JSON-RPC error response (parse error, invalid request, invalid params,
  method not found) and the server keeps serving: see :class:`RobustProtocol`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcInvalidRequest, JsonRpcParseError
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol

from ganforge.core import __version__
from ganforge.core.errors import GanforgeError

GENERATE = "ganforge.generate"
LIST_PACKS = "ganforge.listPacks"
MAX_COUNT = 200
log = logging.getLogger("ganforge.lsp")


@dataclass
class Settings:
    pack: str | None = None
    count: int = 5
    temperature: float = 1.0
    seed: int | None = None  # None: count up from 0, call by call
    pack_paths: list[str] = field(default_factory=list)
    inline_count: int = 5  # ghost-text candidates per inline completion (Alt+] cycles them in VS Code)
    # automatic (typing) requests wait this long for the next keystroke before generating
    inline_debounce_ms: int = 100

    def updated(self, raw: Any) -> Settings:
        """Settings with ``raw`` (a dict, possibly under a ``ganforge`` key) applied; invalid
        values raise GanforgeError naming the key."""
        if isinstance(raw, dict) and isinstance(raw.get("ganforge"), dict):
            raw = raw["ganforge"]
        if raw is None:
            return self
        if not isinstance(raw, dict):
            raise GanforgeError("ganforge settings must be an object")
        new = replace(self)
        if "pack" in raw:
            new.pack = _opt_str(raw["pack"], "pack")
        if "count" in raw:
            new.count = _int(raw["count"], "count", 1, MAX_COUNT)
        if "temperature" in raw:
            new.temperature = _temperature(raw["temperature"])
        if "seed" in raw:
            new.seed = None if raw["seed"] is None else _int(raw["seed"], "seed", 0, 2**63 - 1)
        if "packPaths" in raw:
            paths = raw["packPaths"]
            if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
                raise GanforgeError("packPaths must be a list of strings")
            new.pack_paths = list(paths)
        if "inlineCount" in raw:
            new.inline_count = _int(raw["inlineCount"], "inlineCount", 1, 20)
        if "inlineDebounceMs" in raw:
            new.inline_debounce_ms = _int(raw["inlineDebounceMs"], "inlineDebounceMs", 0, 5000)
        return new


def _opt_str(v: Any, name: str) -> str | None:
    if v is None or (isinstance(v, str) and v):
        return v
    raise GanforgeError(f"{name} must be a non-empty string")


def _int(v: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise GanforgeError(f"{name} must be an integer in {lo}..{hi}, got {v!r}")
    return v


def _temperature(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < float(v) <= 10:
        raise GanforgeError(f"temperature must be a number in (0, 10], got {v!r}")
    return float(v)


def _makes_lines(modality: str) -> bool:
    """Whether packs of ``modality`` decode to lines of text (asked of its codec; False when the
    modality is not installed)."""
    from ganforge.core import plugins

    try:
        return plugins.codec_for(modality).output_kind == "lines"
    except GanforgeError:
        return False


def uri_to_path(uri: str) -> Path:
    parsed = urlparse(uri)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(uri)


class _Malformed:
    """A request whose parameters did not fit the protocol: answered with this error."""

    def __init__(self, msg_id: Any, error: JsonRpcException) -> None:
        self.id, self.error = msg_id, error


def _valid_id(msg_id: Any) -> Any:
    return msg_id if isinstance(msg_id, (str, int)) and not isinstance(msg_id, bool) else None


class RobustProtocol(LanguageServerProtocol):
    """pygls logs and drops a message it cannot parse or structure; a JSON-RPC client then waits
    forever. Here every such request gets its error response, and the server goes on."""

    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException as e:
            if "method" in data and "id" in data:
                return _Malformed(_valid_id(data["id"]), e)
            if "method" in data:  # a malformed notification: there is no one to answer
                log.warning("dropped a malformed %r notification: %s", data.get("method"), e)
                return None
            raise

    def handle_message(self, message: Any) -> None:
        if message is None:
            return
        if isinstance(message, _Malformed):
            self.send_error(message.id, message.error)
            return
        if not hasattr(message, "jsonrpc"):  # valid JSON that is not a JSON-RPC message
            msg_id = _valid_id(message.get("id")) if isinstance(message, dict) else None
            self.send_error(msg_id, JsonRpcInvalidRequest("not a JSON-RPC 2.0 message"))
            return
        super().handle_message(message)

    def send_error(self, msg_id: Any, error: JsonRpcException) -> None:
        self._send_data({"jsonrpc": "2.0", "id": msg_id,
                         "error": {"code": error.code, "message": str(error.message)[:500]}})


class GanforgeServer(LanguageServer):
    def __init__(self, default_pack: str | None = None) -> None:
        super().__init__("ganforge", __version__, protocol_cls=RobustProtocol)
        self.settings = Settings(pack=default_pack)
        self._seeds = itertools.count()
        self._pool: Any = None  # the generation workers (pool.WorkerPool), made on first use
        #: document URI -> its newest automatic inline request (debouncing, see .inline)
        self.inline_tickets: dict[str, int] = {}

    def report_server_error(self, error: Exception, source: Any) -> None:
        # A body that is not JSON never reached the protocol: answer it as a parse error.
        if source is JsonRpcException and isinstance(error, (json.JSONDecodeError, UnicodeDecodeError)):
            self.protocol.send_error(None, JsonRpcParseError(f"parse error: {error}"))
            return
        log.error("server error: %s", error)

    # ---- packs -------------------------------------------------------------------------------
    async def generate_lines(self, pack: str, count: int, seed: int, temperature: float,
                             prefix: str | None = None) -> list[str]:
        """Lines from a text pack, generated in a worker process (see :mod:`.pool`); with a
        ``prefix``, each line is the prefix as given plus the pack's continuation, raw (the
        caller cuts the continuation off and makes that printable)."""
        from ganforge.core.display import printable

        from .pool import WorkerPool

        if self._pool is None:  # made on first use: a bad GANFORGE_LSP_* value is this request's error
            self._pool = WorkerPool()
        lines = await self._pool.generate(pack, count, seed, temperature, prefix)
        if prefix:
            return lines
        # a pack's vocabulary is a stranger's: no control characters into the user's buffer
        return [printable(s) for s in lines]

    def list_packs(self) -> list[dict[str, Any]]:
        from ganforge.core.pack import PackMeta, read_props

        candidates: list[Path] = []
        if self.settings.pack:
            candidates.append(Path(self.settings.pack).expanduser())
        roots = [Path(p).expanduser() for p in self.settings.pack_paths]
        roots += [uri_to_path(f.uri) for f in (self.workspace.folders or {}).values()]
        if self.workspace.root_path:
            roots.append(Path(self.workspace.root_path))
        for root in roots:
            if root.is_file():
                candidates.append(root)
            elif root.is_dir():
                candidates += sorted(itertools.islice(root.rglob("*.onnx"), 200))
        found, seen = [], set()
        for path in candidates:
            if path.resolve() in seen:
                continue
            seen.add(path.resolve())
            try:
                meta = PackMeta.from_props(read_props(path), str(path))
            except GanforgeError:
                continue
            if _makes_lines(meta.modality):
                found.append({"path": str(path), "family": meta.family, "data": meta.train.get("data"),
                              "default": str(path) == self.settings.pack})
        return found

    # ---- requests ----------------------------------------------------------------------------
    def parse_request(self, args: Any) -> dict[str, Any]:
        """Validate ``ganforge.generate``'s argument; JsonRpcInvalidParams on anything wrong."""
        try:
            if not isinstance(args, (list, tuple)) or len(args) != 1 or not isinstance(args[0], dict):
                raise GanforgeError(f"{GENERATE} takes one object argument {{uri, position, pack?, count?, "
                                    "seed?, temperature?}")
            a = args[0]
            uri = a.get("uri")
            if not isinstance(uri, str) or not uri:
                raise GanforgeError("'uri' must be the document's URI")
            pos = a.get("position")
            if not isinstance(pos, dict):
                raise GanforgeError("'position' must be {line, character}")
            line = _int(pos.get("line"), "position.line", 0, 2**31 - 1)
            char = _int(pos.get("character", 0), "position.character", 0, 2**31 - 1)
            s = self.settings
            pack = _opt_str(a.get("pack"), "pack") or s.pack
            if not pack:
                raise GanforgeError("no pack: pass 'pack' or configure ganforge.pack")
            count = _int(a["count"], "count", 1, MAX_COUNT) if a.get("count") is not None else s.count
            temp = _temperature(a["temperature"]) if a.get("temperature") is not None else s.temperature
            if a.get("seed") is not None:
                seed = _int(a["seed"], "seed", 0, 2**63 - 1)
            else:
                seed = s.seed if s.seed is not None else next(self._seeds)
        except GanforgeError as e:
            raise JsonRpcInvalidParams(str(e)) from None
        return {"uri": uri, "line": line, "character": char, "pack": pack, "count": count,
                "seed": seed, "temperature": temp}

    async def run_generation(self, req: dict[str, Any], token: Any = None) -> list[str]:
        """Generate in a worker process, with work-done progress when the client can show it."""
        progress = None
        caps = self.client_capabilities.window
        if caps is not None and caps.work_done_progress:
            progress = token or str(uuid.uuid4())
            if token is None:
                try:
                    await asyncio.wait_for(self.work_done_progress.create_async(progress), 5)
                except Exception:  # a client that refuses the token: go on without progress
                    progress = None
        if progress is not None:
            self.work_done_progress.begin(progress, types.WorkDoneProgressBegin(
                title="ganforge", message=f"generating {req['count']} line(s)", cancellable=False))
        try:
            return await self.generate_lines(req["pack"], req["count"], req["seed"], req["temperature"])
        except GanforgeError as e:
            raise JsonRpcInvalidParams(str(e)) from None
        finally:
            if progress is not None:
                self.work_done_progress.end(progress, types.WorkDoneProgressEnd(message="done"))


server = None  # set by build(); module-level for ``python -m``


def build(default_pack: str | None = None) -> GanforgeServer:
    ls = GanforgeServer(default_pack)

    def apply_settings(ls: GanforgeServer, options: Any) -> None:
        # Bad settings are the user's to fix: say so in the editor, keep the old ones.
        try:
            ls.settings = ls.settings.updated(options)
        except GanforgeError as e:
            ls.window_show_message(types.ShowMessageParams(types.MessageType.Error, f"ganforge: {e}"))

    @ls.feature(types.INITIALIZE)
    def initialize(ls: GanforgeServer, params: types.InitializeParams) -> None:
        apply_settings(ls, params.initialization_options)

    @ls.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(ls: GanforgeServer, params: types.DidChangeConfigurationParams) -> None:
        apply_settings(ls, params.settings)

    @ls.command(GENERATE)
    async def generate(ls: GanforgeServer, *args: Any) -> dict[str, Any]:
        req = ls.parse_request(args)
        lines = await ls.run_generation(req)
        pos = types.Position(line=req["line"], character=0)
        edit = types.WorkspaceEdit(changes={req["uri"]: [
            types.TextEdit(range=types.Range(start=pos, end=pos), new_text="".join(s + "\n" for s in lines))]})
        result = await ls.workspace_apply_edit_async(
            types.ApplyWorkspaceEditParams(edit=edit, label="ganforge: generate"))
        return {"lines": lines, "seed": req["seed"], "pack": req["pack"],
                "applied": bool(getattr(result, "applied", False))}

    @ls.command(LIST_PACKS)
    async def list_packs(ls: GanforgeServer, *args: Any) -> list[dict[str, Any]]:
        return await asyncio.get_running_loop().run_in_executor(None, ls.list_packs)

    @ls.feature(types.TEXT_DOCUMENT_CODE_ACTION,
                types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.RefactorRewrite]))
    def code_action(ls: GanforgeServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        arg = {"uri": params.text_document.uri,
               "position": {"line": params.range.start.line, "character": params.range.start.character}}
        return [types.CodeAction(title="Generate here", kind=types.CodeActionKind.RefactorRewrite,
                                 command=types.Command(title="Generate here", command=GENERATE, arguments=[arg]))]

    @ls.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=[]))
    async def completion(ls: GanforgeServer, params: types.CompletionParams) -> types.CompletionList:
        s = ls.settings
        if not s.pack:
            return types.CompletionList(is_incomplete=False, items=[])
        seed = s.seed if s.seed is not None else next(ls._seeds)
        req = {"pack": s.pack, "count": s.count, "seed": seed, "temperature": s.temperature}
        lines = await ls.run_generation(req, params.work_done_token)
        items = [types.CompletionItem(label=line, kind=types.CompletionItemKind.Text, insert_text=line,
                                      detail=f"ganforge (seed {seed + i})", sort_text=f"{i:04d}")
                 for i, line in enumerate(dict.fromkeys(lines)) if line]
        return types.CompletionList(is_incomplete=True, items=items)

    from .inline import register as register_inline

    register_inline(ls)
    return ls


def main(default_pack: str | None = None, log_file: str | None = None) -> None:
    """Serve over stdio until the client exits."""
    if log_file:
        logging.basicConfig(filename=log_file, level=logging.DEBUG)
    else:
        logging.basicConfig(level=logging.CRITICAL)  # stderr stays quiet: some clients show it
    global server
    server = build(default_pack)
    from .transport import robust_stdin

    try:
        server.start_io(stdin=robust_stdin())  # resynchronises on malformed framing (transport.py)
    finally:
        if server._pool is not None:
            server._pool.close()
