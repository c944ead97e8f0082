"""A scripted DAW on a ``mido.sockets.PortServer``: sends Start, MIDI clock and Stop on absolute
times, and records every message the bridge sends back with its arrival time.

Tests and the timing benchmark use it as the far end of ``--port socket://HOST:PORT``: real MIDI
bytes over a real mido socket port. Arrivals are read from the accepted connection's socket with
a blocking ``recv`` (mido's ``receive()`` polls once a millisecond, which would blur the timing).
"""

from __future__ import annotations

import gc
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import mido
from mido.sockets import PortServer

from .engine import CLOCKS_PER_BEAT


@dataclass
class Run:
    """What one :meth:`SimulatedDaw.play` sent: the time of each clock, by clock index."""

    bpm: float
    clocks: list[float] = field(default_factory=list)
    start: float = 0.0
    stop: float = 0.0


class SimulatedDaw:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = PortServer(host, port)
        self.host, self.port = self.server._socket.getsockname()[:2]
        self.received: list[tuple[float, Any]] = []
        self._lock = threading.Lock()
        self._conn: Any = None
        self._sock: socket.socket | None = None
        self._connected = threading.Event()
        self._disconnected = threading.Event()
        self.connections = 0
        threading.Thread(target=self._accept, name="simdaw-accept", daemon=True).start()

    @property
    def address(self) -> str:
        return f"socket://{self.host}:{self.port}"

    def _accept(self) -> None:
        while self._serve_one():  # one connection at a time; a client that reconnects is served again
            pass

    def _serve_one(self) -> bool:
        try:
            conn = self.server.accept()
        except OSError:
            return False
        self._disconnected.clear()
        self._conn, self._sock = conn, conn._socket
        self.connections += 1
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._connected.set()
        parser = mido.Parser()
        while True:
            try:
                data = self._sock.recv(4096)
            except OSError:
                break
            if not data:
                break
            now = time.perf_counter()
            parser.feed(data)
            with self._lock:
                self.received.extend((now, m) for m in parser)
        self._connected.clear()
        self._disconnected.set()
        return True

    def wait_disconnected(self, timeout: float = 10.0) -> bool:
        return self._disconnected.wait(timeout)

    def wait_connected(self, timeout: float = 20.0) -> bool:
        return self._connected.wait(timeout)

    def send(self, msg: Any) -> float:
        """Send one message now; returns the send time."""
        t = time.perf_counter()
        self._sock.sendall(bytes(msg.bin()))
        return t

    def play(self, bpm: float, beats: int, *, start: bool = True, stop: bool = True,
             tempo: list[tuple[int, float]] | None = None, lead: float = 0.05) -> Run:
        """Start, then ``beats * 24`` clocks on absolute times at ``bpm`` (``tempo``: a list of
        ``(beat, new_bpm)`` changes), then Stop. Clock ``k`` after Start is tick ``k``. Ends early,
        quietly, when the bridge closes the connection."""
        run = Run(bpm)
        gc.collect()  # a measuring instrument: no collector pause in the middle of a run
        gc.freeze()
        try:
            self._play(run, beats, start, stop, dict(tempo or []), lead)
        except OSError:
            pass
        return run

    def _play(self, run: Run, beats: int, start: bool, stop: bool, changes: dict[int, float], lead: float) -> None:
        bpm = run.bpm
        t = time.perf_counter() + lead
        if start:
            _wait_until(t)
            run.start = self.send(mido.Message("start"))
            t += 0.002
        current = bpm
        for k in range(beats * CLOCKS_PER_BEAT):
            if k % CLOCKS_PER_BEAT == 0 and k // CLOCKS_PER_BEAT in changes:
                current = changes[k // CLOCKS_PER_BEAT]
            _wait_until(t)
            run.clocks.append(self.send(mido.Message("clock")))
            t += 60.0 / current / CLOCKS_PER_BEAT
        if stop:
            _wait_until(t)
            run.stop = self.send(mido.Message("stop"))

    def messages(self, since: float = 0.0) -> list[tuple[float, Any]]:
        with self._lock:
            return [(t, m) for t, m in self.received if t >= since]

    def drop_connection(self) -> None:
        """The DAW vanishes (closes the connection): the bridge must not crash, and reconnects."""
        if self._conn is not None:
            self._sock.shutdown(socket.SHUT_RDWR)
            self._conn.close()

    def close(self) -> None:
        try:
            if self._conn is not None:
                self._conn.close()
        finally:
            self.server.close()


def _wait_until(t: float) -> None:
    """Sleep, then spin the last 1.5 ms: the clock the bridge sees is on time."""
    remaining = t - time.perf_counter()
    if remaining > 0.0015:
        time.sleep(remaining - 0.0015)
    while time.perf_counter() < t:
        pass
