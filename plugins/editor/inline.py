"""``textDocument/inlineCompletion`` (LSP 3.18): ghost text that continues the line being typed.

The text of the current line before the cursor is the pack's prefix (``ganforge generate
--prefix``); each candidate is the continuation only — what follows the prefix in the line the
CLI prints for the same seed — deduplicated, never empty and never the text already after the
cursor (accepting it would change nothing). Candidate ``i`` comes from seed ``S + i``, ``S`` the
configured seed; without one, automatic requests use 0 so the ghost text stays put while the
user types on (the same ``u`` continues a longer prefix much as it continued the shorter one),
and an invoked request takes the server's next seed, so asking again brings new candidates.

Automatic requests (typing) are debounced per document: only the newest one that is still the
newest after ``inlineDebounceMs`` generates, and an empty prefix gets nothing. Invoked requests
(the user's keystroke) run at once and report a bad prefix or an old pack as an error; automatic
ones only log it. Generation runs in the server's worker processes (:mod:`.pool`), so the event
loop keeps reading ``$/cancelRequest`` and ``didChange``: a cancelled request is answered
"cancelled" at once (its worker finishes in the background and is reused), and a result whose
document changed version meanwhile is dropped. Latency is logged per request.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from ganforge.core.errors import GanforgeError

if TYPE_CHECKING:
    from .server import GanforgeServer

log = logging.getLogger("ganforge.lsp")
_tickets = itertools.count(1)


def line_at(ls: GanforgeServer, uri: str, position: types.Position) -> tuple[str, str, int | None]:
    """``(text before the cursor, text after it, document version)`` on the cursor's line; the
    client's position is in its own units (UTF-16 by default), converted to Python's."""
    doc = ls.workspace.get_text_document(uri)
    lines = doc.lines
    if position.line >= len(lines):
        return "", "", doc.version
    pos = doc.position_from_client_units(position)
    text = lines[position.line].rstrip("\r\n")
    return text[:pos.character], text[pos.character:], doc.version


def candidates(lines: list[str], before: str, after: str) -> list[str]:
    """Continuations of ``before`` from whole generated lines, as the client should show them."""
    from ganforge.core.display import printable

    out: dict[str, None] = {}
    for line in lines:
        if not line.startswith(before):  # the codec builds every line as prefix + continuation
            continue
        rest = printable(line[len(before):])  # a stranger's vocabulary: no control characters
        if rest and rest != after:
            out.setdefault(rest)
    return list(out)


async def inline_completion(ls: GanforgeServer, params: types.InlineCompletionParams) -> types.InlineCompletionList | None:
    started = asyncio.get_running_loop().time()
    try:
        return await _complete(ls, params, started)
    except asyncio.CancelledError:  # $/cancelRequest: pygls answers "cancelled"; we log the time
        log.info("inlineCompletion cancelled after %.1f ms", (asyncio.get_running_loop().time() - started) * 1000)
        raise


async def _complete(ls: GanforgeServer, params: types.InlineCompletionParams,
                    started: float) -> types.InlineCompletionList | None:
    loop = asyncio.get_running_loop()
    s = ls.settings
    uri = params.text_document.uri
    automatic = params.context.trigger_kind == types.InlineCompletionTriggerKind.Automatic
    if not s.pack:
        return None
    before, after, version = line_at(ls, uri, params.position)
    if automatic:
        if not before.strip():
            return None  # nothing typed yet: ghost text from nothing would only distract
        ticket = ls.inline_tickets[uri] = next(_tickets)
        await asyncio.sleep(s.inline_debounce_ms / 1000)  # a cancel or a newer keystroke ends it here
        if ls.inline_tickets.get(uri) != ticket:
            return None
    seed = s.seed if s.seed is not None else (0 if automatic else next(ls._seeds))
    try:
        lines = await ls.generate_lines(s.pack, s.inline_count, seed, s.temperature, prefix=before)
    except GanforgeError as e:
        log.info("inlineCompletion %s: %s", "automatic" if automatic else "invoked", e)
        if automatic:
            return None  # a long line or an old pack: say nothing while the user types
        raise JsonRpcInvalidParams(str(e)) from None
    now = ls.workspace.get_text_document(uri).version
    ms = (loop.time() - started) * 1000
    if now != version:
        log.info("inlineCompletion dropped after %.1f ms: %s changed (version %s -> %s)", ms, uri, version, now)
        return None
    items = [types.InlineCompletionItem(insert_text=text, range=types.Range(params.position, params.position))
             for text in candidates(lines, before, after)]
    log.info("inlineCompletion %s: %d candidate(s) for a %d-character prefix in %.1f ms (seed %d)",
             "automatic" if automatic else "invoked", len(items), len(before), ms, seed)
    return types.InlineCompletionList(items=items)


def register(ls: GanforgeServer) -> None:
    """Add the feature (and so the ``inlineCompletionProvider`` capability) to ``ls``."""
    ls.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())(inline_completion)


__all__ = ["candidates", "inline_completion", "line_at", "register"]
