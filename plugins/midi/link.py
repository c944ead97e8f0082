"""MIDI connections for the bridge: a mido socket server (``socket://HOST:PORT``), a named port,
or a virtual port — behind one small interface that survives the other end going away.

:class:`Link` sends messages (dropping them, never raising, while disconnected), hands every
incoming message to a callback as soon as it arrives (a blocking reader thread for sockets,
rtmidi's callback for ports: no polling delay), and reopens itself in the background after a
disconnect, calling ``on_reconnect`` so the bridge can silence the synth.
"""

from __future__ import annotations

import re
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from ganforge.core.errors import GanforgeError

Callback = Callable[[Any], None]
RETRY_SECONDS = 0.5


def parse_socket(spec: str) -> tuple[str, int] | None:
    """``socket://HOST:PORT`` -> ``(host, port)``; None for an ordinary port name."""
    if not spec.startswith("socket://"):
        return None
    host, _, port = spec[len("socket://"):].rpartition(":")
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not host or not 0 < number < 65536:
        raise GanforgeError(f"{spec}: expected socket://HOST:PORT (e.g. socket://127.0.0.1:9080)")
    return host, number


#: a SysEx message longer than this is dropped as it streams in (a peer sending an endless SysEx
#: once grew the bridge by 515 MB per 64 MB sent); real SysEx dumps are a few KB
MAX_SYSEX = 64 * 1024
_SYSEX_END = re.compile(rb"[\x80-\xf7]")  # any status byte but realtime (0xf8-0xff) ends a SysEx


class BoundedParser:
    """mido's Parser with SysEx bounded by :data:`MAX_SYSEX`: bytes of a longer one are dropped
    (and counted in ``dropped``) instead of accumulated, so memory stays flat whatever a peer sends."""

    def __init__(self) -> None:
        import mido

        self._parser = mido.Parser()
        self._ready: list[Any] = []  # complete messages saved from a parser that was reset
        self.in_sysex = self.discarding = False
        self.sysex_len = self.dropped = 0

    def feed(self, data: bytes) -> None:
        pos = 0
        while pos < len(data):
            skip = 0
            if not self.in_sysex:
                start = data.find(b"\xf0", pos)
                if start < 0:
                    self._parser.feed(data[pos:])
                    return
                self._parser.feed(data[pos:start])
                self.in_sysex, self.discarding, self.sysex_len, pos, skip = True, False, 0, start, 1
            end = _SYSEX_END.search(data, pos + skip)  # past our own 0xf0
            stop = end.start() if end else len(data)
            piece = data[pos:stop]
            self.sysex_len += len(piece)
            if not self.discarding and self.sysex_len > MAX_SYSEX:
                import mido

                self._ready.extend(self._parser)  # keep what was complete before it
                self._parser = mido.Parser()  # forget the SysEx bytes gathered so far
                self.discarding, self.dropped = True, self.dropped + 1
            if not self.discarding:
                self._parser.feed(piece)
            if end is None:
                return
            self.in_sysex = False
            pos = stop
            if self.discarding and data[stop] == 0xF7:
                pos += 1  # the dropped message's end byte goes with it

    def __iter__(self) -> Any:
        ready, self._ready = self._ready, []
        yield from ready
        yield from self._parser


class Link:
    """One MIDI connection (output, and input when the far end can talk back)."""

    def __init__(self, spec: str, *, virtual: bool = False, on_message: Callback | None = None,
                 on_reconnect: Callable[[], None] | None = None, wants_input: bool = True,
                 output: bool = True) -> None:
        self.spec, self.virtual, self.wants_input, self.output = spec, virtual, wants_input, output
        self.on_message = on_message or (lambda msg: None)
        self.on_reconnect = on_reconnect or (lambda: None)
        self.address = parse_socket(spec)
        self._send_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._closing = threading.Event()
        self._connected = threading.Event()
        self._sock: socket.socket | None = None
        self._out: Any = None
        self._in: Any = None
        self.dropped = 0  # messages sent while disconnected
        self.reconnects = 0
        self._open()  # the first open fails loudly: a wrong name is the user's mistake
        self._retry_thread: threading.Thread | None = None

    # ---- opening ---------------------------------------------------------------------------
    def _open(self) -> None:
        if self.address is not None:
            try:
                sock = socket.create_connection(self.address, timeout=5)
            except OSError as e:
                raise GanforgeError(f"{self.spec}: cannot connect ({e.strerror or e}); is a mido PortServer "
                                    "listening there?") from None
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock
            threading.Thread(target=self._read_socket, args=(sock,), name="midi-socket-reader", daemon=True).start()
        else:
            self._open_port()
        self._connected.set()

    def _open_port(self) -> None:
        import mido

        if self.virtual and sys.platform == "win32":
            raise GanforgeError("virtual MIDI ports do not exist on Windows: install loopMIDI "
                                "(tobias-erichsen.de/software/loopmidi.html), create a port there and pass "
                                "--port 'loopMIDI Port'")
        try:
            if not self.output:  # an input only (--listen, --control)
                opener = mido.open_input
                self._in = opener(self.spec, virtual=True, callback=self._dispatch) if self.virtual else \
                    opener(self.spec, callback=self._dispatch)
            elif self.virtual:
                self._out = mido.open_output(self.spec, virtual=True)
                if self.wants_input:
                    self._in = mido.open_input(self.spec, virtual=True, callback=self._dispatch)
            else:
                self._out = mido.open_output(self.spec)
                if self.wants_input and self.spec in _safe_names(mido.get_input_names):
                    self._in = mido.open_input(self.spec, callback=self._dispatch)
        except ImportError:
            raise GanforgeError("MIDI ports need python-rtmidi (pip install 'ganforge[midi]')") from None
        except (OSError, SystemError, RuntimeError) as e:
            lister = mido.get_output_names if self.output else mido.get_input_names
            known = ", ".join(_safe_names(lister)) or "none"
            what = "create the virtual port" if self.virtual else "open the port"
            raise GanforgeError(f"{self.spec}: cannot {what} ({str(e)[:120]}); {'output' if self.output else 'input'} ports: {known}") from None

    def _dispatch(self, msg: Any) -> None:
        try:
            self.on_message(msg)
        except Exception as e:  # a bug in a handler must not kill the reader
            print(f"ganforge midi: error handling {msg}: {e}", file=sys.stderr)

    def _read_socket(self, sock: socket.socket) -> None:
        parser = BoundedParser()
        while True:
            try:
                data = sock.recv(4096)
            except OSError:
                data = b""
            if not data:
                break
            parser.feed(data)
            for msg in parser:
                self._dispatch(msg)
        if self._sock is sock:
            self._lost()

    # ---- state -----------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def _lost(self) -> None:
        with self._state_lock:  # the reader and a sender may notice at the same time
            if self._closing.is_set() or not self._connected.is_set():
                return
            self._connected.clear()
        self._close_handles()
        print(f"ganforge midi: {self.spec} disconnected; trying to reopen it", file=sys.stderr)
        self._retry_thread = threading.Thread(target=self._retry, name="midi-reconnect", daemon=True)
        self._retry_thread.start()

    def _retry(self) -> None:
        while not self._closing.wait(RETRY_SECONDS):
            try:
                self._open()
            except GanforgeError:
                continue
            self.reconnects += 1
            print(f"ganforge midi: {self.spec} reconnected", file=sys.stderr)
            self.on_reconnect()
            return

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    # ---- sending ---------------------------------------------------------------------------
    def send(self, msg: Any) -> bool:
        """Send ``msg``; False (and counted in ``dropped``) when the far end is gone."""
        if not self._connected.is_set():
            self.dropped += 1
            return False
        try:
            with self._send_lock:
                if self._sock is not None:
                    self._sock.sendall(msg.bin())
                else:
                    self._out.send(msg)
            return True
        except (OSError, AttributeError, ValueError, RuntimeError):
            self.dropped += 1
            self._lost()
            return False

    def send_many(self, msgs: list[Any]) -> bool:
        """Several messages in one write (one syscall for a socket): a step's notes arrive together."""
        if not msgs:
            return True
        if self._sock is None:
            return all([self.send(m) for m in msgs])
        if not self._connected.is_set():
            self.dropped += len(msgs)
            return False
        try:
            with self._send_lock:
                self._sock.sendall(b"".join(bytes(m.bin()) for m in msgs))
            return True
        except OSError:
            self.dropped += len(msgs)
            self._lost()
            return False

    def _close_handles(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        for port in (self._in, self._out):
            if port is not None:
                try:
                    port.close()
                except Exception:
                    pass
        self._in = self._out = None

    def close(self) -> None:
        self._closing.set()
        self._connected.clear()
        self._close_handles()


def _safe_names(fn: Callable[[], list[str]]) -> list[str]:
    try:
        return list(fn())
    except Exception:  # no backend (python-rtmidi missing) or no MIDI system (no /dev/snd/seq)
        return []


def port_names() -> dict[str, Any]:
    """``{"outputs": [...], "inputs": [...], "backend": name, "error": str | None}``."""
    import mido

    error = None
    try:
        outputs, inputs = mido.get_output_names(), mido.get_input_names()
    except Exception as e:
        outputs, inputs, error = [], [], f"{type(e).__name__}: {str(e)[:160]}"
    backend = getattr(mido.backend, "name", "?")
    return {"outputs": list(outputs), "inputs": list(inputs), "backend": backend, "error": error}


def now() -> float:
    return time.perf_counter()
