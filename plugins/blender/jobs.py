"""A generation job on a worker thread, polled from Blender's main thread (no bpy here).

The worker only computes numpy arrays; it never touches Blender data. Results, progress and
errors travel through a queue that the modal operator drains on a timer, so pixels are applied
on the main thread and Blender stays responsive. Cancelling is cooperative: the worker stops at
the next item boundary (one onnxruntime call cannot be interrupted).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Hashable, Iterable
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


class Debouncer:
    """Live previews while a slider moves: the latest request wins, one job at a time.

    ``request(key)`` records what the UI wants now (e.g. a seed); :meth:`tick`, called from a
    main-thread timer, starts a :class:`Job` computing ``make(key)`` once requests have been
    quiet for ``delay`` seconds and no job is running, and returns the finished items. Seeds
    scrubbed past while a job runs are never computed: only the newest is, after it. One
    onnxruntime call at a time, on the worker thread, so Blender's UI never waits on it.
    """

    def __init__(self, make: Callable[[Hashable], Iterable[Any]], delay: float = 0.15,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.make, self.delay, self.clock = make, delay, clock
        self.wanted: Hashable | None = None
        self.shown: Hashable | None = None   # the key of the last finished job
        self.error: BaseException | None = None
        self.started = 0                     # jobs started (tests and the panel read it)
        self._at = 0.0
        self._job: Job | None = None
        self._job_key: Hashable | None = None

    def request(self, key: Hashable) -> None:
        self.wanted, self._at = key, self.clock()

    @property
    def running(self) -> bool:
        return self._job is not None

    @property
    def idle(self) -> bool:
        """Nothing running and nothing newer wanted: the timer may stop."""
        return self._job is None and (self.wanted is None or self.wanted == self.shown)

    def tick(self) -> list[tuple[Hashable, Any]]:
        """Main thread: ``(key, item)`` for each finished item; starts the next job when due."""
        out: list[tuple[Hashable, Any]] = []
        if self._job is not None:
            for msg in self._job.poll():
                if msg.kind == "item":
                    out.append((self._job_key, msg.value))
                elif msg.kind == "error":
                    self.error = msg.value
            if self._job.finished:
                self.shown, self._job = self._job_key, None
        due = self.clock() - self._at >= self.delay
        if self._job is None and self.wanted is not None and self.wanted != self.shown and due:
            key = self.wanted
            self.error = None
            self._job, self._job_key = Job(lambda: self.make(key), 1).start(), key
            self.started += 1
        return out

    def cancel(self) -> None:
        """Stop wanting anything; a running job's result is dropped."""
        if self._job is not None:
            self._job.cancel()
        self.wanted = self.shown = self._job = self._job_key = None
