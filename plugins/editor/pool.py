"""The editor server's generation workers: processes that a pack which never ends cannot keep.

A pack is a stranger's file, and its graph may loop for ever. In threads, eight such requests
once held every worker of the server until the runtime's own limit (``GANFORGE_RUN_SECONDS``,
300 s), and generation did not answer meanwhile. Here each request runs in a worker process
(:mod:`ganforge.plugins.editor.worker`) under the editor's budget (``GANFORGE_LSP_SECONDS``,
default 20 s — an editor waits seconds, not minutes); a worker that overruns it is killed and a
fresh one takes its place, and the pack is set aside until its file changes, so further requests
for it are refused at once instead of each spending the budget. ``GANFORGE_LSP_WORKERS``
(default 2) bounds how many packs run at once.

A request the client cancels (``$/cancelRequest``: inline completions are cancelled at nearly
every keystroke) stops waiting at once, but its worker finishes the run in the background and
goes back to the pool: killing it would make the next keystroke pay a worker start (~1 s)
instead of a run (milliseconds). The budget still bounds that background run.

Torch-free, and without onnxruntime in the server itself: only the workers import it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from ganforge.core.errors import GanforgeError
from ganforge.core.limits import RUN_SECONDS_ENV, env_number, env_seconds
from ganforge.core.packcache import PackCache

BUDGET_ENV = "GANFORGE_LSP_SECONDS"
DEFAULT_BUDGET = 20.0
WORKERS_ENV = "GANFORGE_LSP_WORKERS"
DEFAULT_WORKERS = 2
#: A worker's own start (Python, numpy, onnxruntime) is not the pack's fault: timed apart.
START_SECONDS = 120.0
#: The worker stops a run itself at the budget (onnxruntime's terminate flag) and stays usable;
#: the server kills it only when it has not answered this much later.
GRACE_SECONDS = 2.0
#: Replies are lines of a pack's text; bounded so a hostile vocabulary cannot flood the server.
MAX_REPLY_BYTES = 64 << 20


class Worker:
    """One worker process and its pipes."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, budget: float) -> Worker:
        env = dict(os.environ)
        # The worker's runtime stops a graph at the editor's budget too, so a pack that hangs
        # in onnxruntime usually costs an error and not a process start.
        env[RUN_SECONDS_ENV] = f"{budget:g}"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ganforge.plugins.editor.worker", env=env, limit=MAX_REPLY_BYTES,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        worker = cls(proc)
        try:
            ready = await worker._reply(START_SECONDS)
        except BaseException:
            worker.kill()
            raise
        if not ready.get("ready"):
            worker.kill()
            raise GanforgeError("the generation worker did not start")
        return worker

    async def ask(self, request: dict[str, Any], seconds: float) -> dict[str, Any]:
        """The worker's reply to ``request``; asyncio.TimeoutError after ``seconds``."""
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(request) + "\n").encode("utf-8"))
        await self.proc.stdin.drain()
        return await self._reply(seconds)

    async def _reply(self, seconds: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), seconds)
        except (ValueError, asyncio.LimitOverrunError):
            raise GanforgeError(f"the generation worker's reply exceeded {MAX_REPLY_BYTES >> 20} MiB") from None
        if not line:
            code = await asyncio.wait_for(self.proc.wait(), 5)
            raise GanforgeError(f"the generation worker ended (exit status {code}) while generating")
        reply = json.loads(line)
        if not isinstance(reply, dict):
            raise GanforgeError("the generation worker answered nonsense")
        return reply

    def kill(self) -> None:
        if self.proc.returncode is None:
            try:
                self.proc.kill()
            except (ProcessLookupError, RuntimeError):  # gone already, or its event loop has closed
                pass


class WorkerPool:
    """Up to ``size`` workers, each request under ``budget`` seconds; made inside the event loop."""

    def __init__(self, size: int | None = None, budget: float | None = None) -> None:
        self.size = size or int(env_number(WORKERS_ENV, DEFAULT_WORKERS, "workers"))
        self.budget = budget or env_seconds(BUDGET_ENV, DEFAULT_BUDGET)
        self._idle: list[Worker] = []
        self._slots = asyncio.Semaphore(self.size)
        #: pack file version (PackCache.key) -> why it is refused
        self._set_aside: dict[tuple[str, int, int], str] = {}

    async def generate(self, pack: str, count: int, seed: int, temperature: float,
                       prefix: str | None = None) -> list[str]:
        """Lines from ``pack``, exactly as ``ganforge generate`` draws them (``prefix``: as
        ``--prefix``); GanforgeError in one line on any failure, including a pack that overran
        the budget (now or before)."""
        key = PackCache.key(pack)
        self._refuse_if_set_aside(key)
        request: dict[str, Any] = {"pack": pack, "count": count, "seed": seed, "temperature": temperature}
        if prefix:
            request["prefix"] = prefix
        await self._slots.acquire()  # a request cancelled while it waits here costs nothing
        try:
            self._refuse_if_set_aside(key)  # it may have overrun while this request waited
        except BaseException:
            self._slots.release()
            raise
        job = asyncio.ensure_future(self._run(key, pack, request))
        # A cancelled caller leaves nobody to read the job's outcome; reading it here keeps
        # asyncio from logging "exception never retrieved" for an error no one asked for.
        job.add_done_callback(lambda j: j.cancelled() or j.exception())
        reply, seconds = await asyncio.shield(job)
        if "error" in reply:
            if seconds >= self.budget:  # the worker's runtime stopped it at the budget
                raise self._set_aside_now(key, pack)
            raise GanforgeError(str(reply["error"]))
        lines = reply.get("lines")
        if not isinstance(lines, list):
            raise GanforgeError("the generation worker answered nonsense")
        return [str(s) for s in lines]

    async def _run(self, key: tuple[str, int, int], pack: str, request: dict[str, Any]) -> tuple[dict[str, Any], float]:
        """One request on one worker, holding a slot (taken by the caller) until the worker is
        back in the pool or killed; the reply and the seconds the run took."""
        try:
            worker = self._idle.pop() if self._idle else await Worker.start(self.budget)
            loop = asyncio.get_running_loop()
            began = loop.time()
            try:
                reply = await worker.ask(request, self.budget + GRACE_SECONDS)
            except asyncio.TimeoutError:
                worker.kill()
                raise self._set_aside_now(key, pack) from None
            except BaseException:  # died or answered nonsense: start afresh
                worker.kill()
                raise
            self._idle.append(worker)
            return reply, loop.time() - began
        finally:
            self._slots.release()

    def _refuse_if_set_aside(self, key: tuple[str, int, int]) -> None:
        if key in self._set_aside:
            raise GanforgeError(self._set_aside[key])

    def _set_aside_now(self, key: tuple[str, int, int], pack: str) -> GanforgeError:
        message = (f"{pack}: generation took longer than {self.budget:g} s and was stopped; the pack is "
                   f"set aside until its file changes (set {BUDGET_ENV} to allow more)")
        self._set_aside[key] = message
        return GanforgeError(message)

    def close(self) -> None:
        """Kill every idle worker (busy ones are killed as their requests end)."""
        for worker in self._idle:
            worker.kill()
        self._idle.clear()
