"""A peer on the MIDI socket cannot grow the bridge without bound: SysEx over 64 KiB is dropped
as it streams in, and the messages after it still arrive (issue 18)."""

from __future__ import annotations

import socket
import threading
import time

import mido
import pytest

from ganforge.plugins.midi.link import MAX_SYSEX, BoundedParser, Link

NOTE = mido.Message("note_on", note=60, velocity=90).bin()


def test_small_sysex_passes_and_a_huge_one_is_dropped_in_any_chunking() -> None:
    small = bytes([0xF0, 0x7D, 1, 2, 3, 0xF7])
    huge = bytes([0xF0]) + bytes([0x11]) * (3 * MAX_SYSEX) + bytes([0xF7])
    stream = small + NOTE + huge + NOTE
    for chunk in (1, 7, 4096, len(stream)):
        p = BoundedParser()
        for i in range(0, len(stream), chunk):
            p.feed(stream[i:i + chunk])
        got = [m.type for m in p]
        assert got == ["sysex", "note_on", "note_on"], (chunk, got)
        assert p.dropped == 1 and len(p._parser._tok._bytes) <= MAX_SYSEX + 2


def test_an_unterminated_sysex_flood_from_a_socket_peer_keeps_memory_flat() -> None:
    resource = pytest.importorskip("resource")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    got: list[str] = []
    link = Link(f"socket://127.0.0.1:{port}", on_message=lambda m: got.append(m.type))
    conn, _ = server.accept()
    try:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        conn.sendall(b"\xf0")
        block = b"\x22" * (1 << 20)
        for _ in range(32):  # 32 MB of one SysEx that never ends
            conn.sendall(block)
        conn.sendall(b"\xf7" + NOTE)
        deadline = time.monotonic() + 20
        while "note_on" not in got and time.monotonic() < deadline:
            time.sleep(0.05)
        grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        assert got == ["note_on"] and grown_mb < 48, (got, grown_mb)
    finally:
        conn.close()
        link.close()
        server.close()
        threading.Event().wait(0.05)
