"""A minimal LSP client over a subprocess's stdio for the editor tests: frames messages, answers
the server's own requests (``workspace/applyEdit``, progress creation) and collects the rest."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from typing import Any

SERVER = [sys.executable, "-m", "ganforge.core.cli", "lsp"]


class LspClient:
    def __init__(self, *args: str, apply_edit_ok: bool = True) -> None:
        self.proc = subprocess.Popen([*SERVER, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.responses: dict[Any, queue.Queue] = {}
        self.edits: list[dict[str, Any]] = []
        self.notifications: list[dict[str, Any]] = []
        self.null_id_errors: list[dict[str, Any]] = []
        self.apply_edit_ok = apply_edit_ok
        self._lock = threading.Lock()
        self._next = 1000
        threading.Thread(target=self._read, daemon=True).start()

    # ---- framing -----------------------------------------------------------------------------
    def send_raw(self, body: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def send(self, message: dict[str, Any]) -> None:
        self.send_raw(json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8"))

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    return
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
                if line in (b"\r\n", b"\n"):
                    break
            msg = json.loads(out.read(length))
            if "method" in msg and "id" in msg:  # a request from the server
                self._answer(msg)
            elif "method" in msg:
                self.notifications.append(msg)
            elif msg.get("id") is None:
                self.null_id_errors.append(msg)
            else:
                self._queue(msg["id"]).put(msg)

    def _answer(self, msg: dict[str, Any]) -> None:
        result: Any = None
        if msg["method"] == "workspace/applyEdit":
            self.edits.append(msg["params"])
            result = {"applied": self.apply_edit_ok}
        self.send({"id": msg["id"], "result": result})

    def _queue(self, msg_id: Any) -> queue.Queue:
        with self._lock:
            return self.responses.setdefault(msg_id, queue.Queue())

    # ---- requests ----------------------------------------------------------------------------
    def request(self, method: str, params: Any = None, timeout: float = 60) -> dict[str, Any]:
        with self._lock:
            self._next += 1
            msg_id = self._next
        self.send({"id": msg_id, "method": method, **({} if params is None else {"params": params})})
        return self.wait(msg_id, timeout)

    def wait(self, msg_id: Any, timeout: float = 60) -> dict[str, Any]:
        return self._queue(msg_id).get(timeout=timeout)

    def initialize(self, options: dict[str, Any] | None = None, root: str | None = None) -> dict[str, Any]:
        caps = {"window": {"workDoneProgress": True}, "workspace": {"applyEdit": True}}
        res = self.request("initialize", {"processId": None, "rootUri": root, "capabilities": caps,
                                          "initializationOptions": options})
        self.send({"method": "initialized", "params": {}})
        return res

    def close(self) -> int:
        try:
            self.request("shutdown", timeout=10)
            self.send({"method": "exit"})
            return self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()
            return self.proc.wait()
        finally:
            for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                if stream:
                    stream.close()
