"""Run a function in a forked child whose address space may grow by at most ``extra_mb``: a
memory-bomb regression then fails the test (MemoryError in the child) instead of swapping the
machine. Linux only (RLIMIT_AS, /proc); callers skip elsewhere."""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable
from typing import Any


def _vm_size_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize")


def _child(fn: Callable[..., Any], args: tuple, extra: int, out: Any) -> None:
    import resource

    limit = _vm_size_bytes() + extra
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        fn(*args)
        out.put((None, ""))
    except BaseException as e:  # report, whatever it is
        out.put((type(e).__name__, str(e)))


def under_memory_limit(fn: Callable[..., Any], *args: Any, extra_mb: int = 1024) -> tuple[str | None, str]:
    """``(exception class name or None, message)`` of ``fn(*args)`` run under the limit."""
    if not sys.platform.startswith("linux"):
        import pytest

        pytest.skip("memory limits are tested on Linux")
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    p = ctx.Process(target=_child, args=(fn, args, extra_mb << 20, out))
    p.start()
    p.join(120)
    if p.is_alive():
        p.kill()
        raise AssertionError("the child did not finish in 120 s")
    return out.get(timeout=5)
