"""A generation job on a worker thread, polled from Blender's main thread (no bpy here).

The worker only computes numpy arrays; it never touches Blender data. Results, progress and
errors travel through a queue that the modal operator drains on a timer, so pixels are applied
on the main thread and Blender stays responsive. Cancelling is cooperative: the worker stops at
the next item boundary (one onnxruntime call cannot be interrupted).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


@dataclass
class Message:
    kind: str  # "item" | "error" | "done"
    value: Any = None


class Job:
    """Run ``produce()`` (an iterable of items) on a daemon thread; :meth:`poll` collects."""

    def __init__(self, produce: Callable[[], Iterable[Any]], total: int) -> None:
        self.total = max(1, total)
        self.done_items = 0
        self.finished = False
        self._produce = produce
        self._queue: queue.Queue[Message] = queue.Queue()
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ganforge-job", daemon=True)

    def start(self) -> Job:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            for item in self._produce():
                if self._cancel.is_set():
                    break
                self._queue.put(Message("item", item))
        except Exception as e:  # reported on the main thread as a Blender report
            self._queue.put(Message("error", e))
        finally:
            self._queue.put(Message("done"))

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def progress(self) -> float:
        return min(1.0, self.done_items / self.total)

    def poll(self) -> list[Message]:
        """Messages that arrived since the last poll (never blocks)."""
        out = []
        while True:
            try:
                msg = self._queue.get_nowait()
            except queue.Empty:
                return out
            if msg.kind == "item":
                self.done_items += 1
            elif msg.kind == "done":
                self.finished = True
            out.append(msg)

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)
