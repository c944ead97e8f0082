"""A forgiving LSP transport in front of pygls's reader.

pygls reads only the exact ``Content-Length: N\\r\\n\\r\\n`` framing and never resynchronises:
after one malformed header (a lower-case name, LF-only lines, a non-numeric, negative or missing
length) it waits forever while the process lives on, so the editor hangs; a length of 10^12 kills
it. Editors restart a dead server, but a silent one hangs them. So the server reads its real
stdin here, in a thread: headers are matched case-insensitively with CRLF or LF lines, the length
must be a whole number up to :data:`MAX_MESSAGE`, and anything else is skipped up to the next
``Content-Length`` header (one line on stderr says so). Each good message is written, framed
exactly as pygls expects, into a pipe that pygls reads. A body that claimed too many bytes and
swallowed the next header is caught the same way: it is not JSON, and the header inside it is
where reading resumes.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from typing import BinaryIO

#: the largest message accepted (a whole document in didOpen is well below this)
MAX_MESSAGE = 64 << 20
_HEADER = re.compile(rb"content-length[ \t]*:", re.IGNORECASE)
_LENGTH = re.compile(rb"^content-length[ \t]*:[ \t]*(\d{1,12})[ \t]*$", re.IGNORECASE)


def _say(msg: str) -> None:
    print(f"ganforge lsp: {msg}", file=sys.stderr, flush=True)


class Reframer:
    """Turns a byte stream from an LSP client into well-framed messages (``feed``/``messages``)."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.skipped = 0

    def feed(self, data: bytes) -> list[bytes]:
        self.buf += data
        out = []
        while True:
            body = self._next()
            if body is None:
                return out
            out.append(body)

    def _resync(self, start: int = 1) -> bool:
        """Drop bytes up to the next header after ``start``; False when none is buffered yet."""
        m = _HEADER.search(self.buf, start)
        if m is None:
            keep = 32  # a header may be arriving split across reads
            if len(self.buf) > keep:
                del self.buf[:len(self.buf) - keep]
            return False
        del self.buf[:m.start()]
        return True

    def _next(self) -> bytes | None:
        while True:
            m = _HEADER.search(self.buf)
            if m is None:
                self._resync(0)
                return None
            if m.start():
                self.skipped += 1
                _say(f"skipped {m.start()} byte(s) of garbage before a header")
                del self.buf[:m.start()]
            end = re.search(rb"\r?\n\r?\n", self.buf)
            if end is None:
                if len(self.buf) > 8192:  # no blank line after a header: not a header block
                    self.skipped += 1
                    _say("skipped a header block that never ended")
                    if not self._resync():
                        return None
                    continue
                return None
            lines = re.split(rb"\r?\n", bytes(self.buf[:end.start()]))
            length = next((int(m2.group(1)) for line in lines if (m2 := _LENGTH.match(line.strip()))), None)
            if length is None or length > MAX_MESSAGE:
                self.skipped += 1
                _say(f"skipped a message with an invalid Content-Length ({lines[0][:60]!r})")
                if not self._resync():
                    return None
                continue
            start = end.end()
            if len(self.buf) < start + length:
                return None  # wait for the rest of the body
            body = bytes(self.buf[start:start + length])
            inner = _HEADER.search(body)
            if inner is not None and not _is_json(body):
                # the claimed length ran into the next message: resume at its header
                self.skipped += 1
                _say("skipped a message whose Content-Length ran into the next header")
                del self.buf[:start + inner.start()]
                continue
            del self.buf[:start + length]
            return body


def _is_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except (ValueError, RecursionError):
        return False
    return True


def robust_stdin(source: BinaryIO | None = None) -> BinaryIO:
    """A readable pipe carrying ``source``'s (default: stdin's) messages, re-framed."""
    source = source or sys.stdin.buffer
    r, w = os.pipe()
    sink = os.fdopen(w, "wb", buffering=0)

    def pump() -> None:
        framer = Reframer()
        try:
            while True:
                data = os.read(source.fileno(), 65536) if hasattr(source, "fileno") else source.read1(65536)
                if not data:
                    break
                for body in framer.feed(data):
                    sink.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        except (OSError, ValueError):
            pass
        finally:
            sink.close()  # EOF for pygls: the client went away

    threading.Thread(target=pump, name="lsp-reframe", daemon=True).start()
    return os.fdopen(r, "rb")
