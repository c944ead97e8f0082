"""``midi play --clock link``: the bridge as an Ableton Link peer (the ``aalink`` package).

Link has no master: every peer on the network shares one tempo and one beat timeline. The
bridge joins with a quantum of 4 beats (a bar), waits for the session's next bar boundary, then
plays each grid step when Link's timeline reaches it: ``aalink``'s ``sync(d)`` resolves when the
beat crosses the next multiple of ``d``, so a tempo change anywhere in the session shortens or
lengthens the very next step, with no estimate on our side. The grid step is read back from the
beat itself (``round(beat * steps_per_beat)``), so a late wake-up never shifts the bar lines.

Discovery is UDP multicast (224.76.78.75:20808) on every interface: peers on one machine find
each other through it as well, which the tests rely on.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from ganforge.core.errors import GanforgeError

QUANTUM = 4.0  # beats per bar (4/4): the phase that "the next bar" refers to
DISCOVERY_SECONDS = 1.5  # how long to look for a session before starting one of our own


def _aalink() -> Any:
    try:
        import aalink
    except ImportError:
        raise GanforgeError("--clock link needs the aalink package (pip install 'ganforge[link]')") from None
    return aalink


class LinkClock:
    """Plays ``bridge.on_step`` on the Link session's beat grid, in a thread of its own."""

    def __init__(self, bridge: Any, bpm: float, report: Callable[[str], None] | None = None) -> None:
        self.aalink = _aalink()
        self.bridge, self.bpm = bridge, bpm  # our tempo proposal, used only when we are alone
        self.spb = bridge.s.steps_per_beat
        self.report = report or (lambda text: None)
        self.peers = -1  # unknown until the first step: then reported, whatever it is
        self.tempo: float | None = None
        self.started_beat: float | None = None  # the session beat of our first step (a bar line)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._thread, name="midi-link", daemon=True)

    def start(self) -> None:
        self.thread.start()
        if not self._ready.wait(10):
            raise GanforgeError("Ableton Link did not start within 10 s")

    def stop(self) -> None:
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            loop.call_soon_threadsafe(task.cancel)
        self.thread.join(timeout=5)

    def _thread(self) -> None:
        try:
            asyncio.run(self._main())
        except asyncio.CancelledError:
            pass

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        link = self.aalink.Link(self.bpm)
        link.quantum = QUANTUM
        link.enabled = True
        self.link = link
        self._ready.set()
        try:
            await self._play(link)
        except asyncio.CancelledError:
            pass
        finally:
            link.enabled = False  # leave the session: the other peers see one fewer

    async def _play(self, link: Any) -> None:
        steps_per_bar = self.bridge.s.steps_per_bar
        # Discovery takes a few hundred ms: starting before it would put our first bar on a
        # timeline of our own, which the session then shifts under us.
        deadline = asyncio.get_running_loop().time() + DISCOVERY_SECONDS
        while not link.num_peers and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        await link.sync(QUANTUM)  # the session's next bar line (phase 0 of a 4-beat quantum)
        self.started_beat = link.beat
        while not self.bridge.finished.is_set():
            beat = link.beat
            n = round(beat * self.spb)  # the grid step we woke for, from the shared timeline
            self._watch(link)
            self.bridge.on_step(n % steps_per_bar)
            await link.sync(1.0 / self.spb)

    def _watch(self, link: Any) -> None:
        """Peers and tempo, as the session has them now; peer-count changes are reported."""
        peers = int(link.num_peers)
        if peers != self.peers:
            self.report(f"Ableton Link: {peers} other peer(s) at {link.tempo:.1f} BPM")
        self.peers, self.tempo = peers, float(link.tempo)
