"""Shared helpers for the benchmarks: machine facts, medians, result files.

Benchmarks compare against a reference run *in the same process* and report medians and
ratios, because absolute timings on a shared 2-core machine are noisy.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {"cpu": cpu, "cpus": os.cpu_count(), "python": platform.python_version(),
                            "platform": platform.platform()}
    try:
        mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal"))
        info["memory_gib"] = round(mem_kb / 2**20, 1)
    except (OSError, StopIteration):
        pass
    for mod in ("torch", "onnxruntime", "numpy"):
        if mod in sys.modules:
            info[mod] = sys.modules[mod].__version__
    return info


#: /proc/stat's per-state CPU columns, in order
_CPU_STATES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def cpu_seconds() -> dict[str, float]:
    """The machine's CPU seconds since boot by state (all cores), from /proc/stat; empty where
    there is none. ``steal`` is time the hypervisor gave this VM's virtual cores to someone else:
    a wall-clock training budget then buys fewer steps, and no load average shows it."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
        tick = os.sysconf("SC_CLK_TCK")
        return {name: value / tick for name, value in zip(_CPU_STATES, fields, strict=True)}
    except (OSError, ValueError, IndexError):
        return {}


def cpu_share(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Between two :func:`cpu_seconds` readings, the share of all cores' time that was ``busy``
    (this VM's processes), ``steal`` (taken by the host) and ``idle``; empty without readings."""
    if not before or not after:
        return {}
    delta = {k: after[k] - before[k] for k in _CPU_STATES}
    total = sum(delta.values())
    if total <= 0:
        return {}
    busy = total - delta["idle"] - delta["iowait"] - delta["steal"]
    return {"busy": round(busy / total, 3), "steal": round(delta["steal"] / total, 3),
            "idle": round((delta["idle"] + delta["iowait"]) / total, 3)}


def time_call(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def run_python(code: str, env: dict[str, str] | None = None, timeout: float = 600) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; it must print one JSON object as its last line."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        raise RuntimeError(f"subprocess failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def save(name: str, result: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    result = {"benchmark": name, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "machine": machine(), **result}
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def side_by_side(pictures: list[Any], gap: int) -> Any:
    """(H, W, 3) uint8 pictures left to right on white, ``gap`` px apart, top-aligned (shorter
    ones padded below): the benchmarks' picture rows and sheets."""
    import numpy as np

    height = max(p.shape[0] for p in pictures)
    canvas = np.full((height, sum(p.shape[1] for p in pictures) + gap * (len(pictures) - 1), 3), 255, np.uint8)
    x = 0
    for p in pictures:
        canvas[:p.shape[0], x:x + p.shape[1]] = p
        x += p.shape[1] + gap
    return canvas
