"""The runtime's bounds, each set by an environment variable: output, input and working memory,
tiling, one graph run's time, and onnxruntime's capped CPU arena. Torch-free."""

from __future__ import annotations

import os
from typing import Any

from .errors import GanforgeError

#: What a base install (``pip install ganforge``) lacks to run a pack, and how to add it.
#: onnxruntime is an extra, not a dependency: onnxruntime and onnxruntime-gpu install the same
#: module and cannot live side by side, so the user picks one (``cpu`` or ``gpu``); a base
#: dependency on onnxruntime would make the GPU build uninstallable next to it.
ONNXRUNTIME_MISSING = ("running a pack needs onnxruntime, which the base install leaves out: "
                       "pip install 'ganforge[cpu]' (or 'ganforge[gpu]' for CUDA)")


def import_onnxruntime() -> Any:
    """The ``onnxruntime`` module, or GanforgeError naming the extra to install. Every import of
    onnxruntime on the runtime side goes through here, so the first use says what to do."""
    try:
        import onnxruntime
    except ImportError:
        raise GanforgeError(ONNXRUNTIME_MISSING) from None
    return onnxruntime


#: Where a pack runs or a model trains (``runtime.load(device=...)``, every ``--device``):
#: ``auto`` picks CUDA when this onnxruntime or torch has it.
DEVICES = ("auto", "cpu", "cuda")
#: Largest side of a generated image whose size the user or host picks (texture codec, the
#: Blender panel); the memory bounds below still have the last word on the bytes.
MAX_SIDE = 16384

#: Bound on the decoded output of one ``generate`` call (MiB).
MAX_OUTPUT_ENV = "GANFORGE_MAX_OUTPUT_MB"
DEFAULT_MAX_OUTPUT_MB = 4096
#: Bound on the drawn inputs of one run call (MiB): a real pack's latents are a few MB per item;
#: a hostile one can declare terabytes.
MAX_INPUT_ENV = "GANFORGE_MAX_INPUT_MB"
DEFAULT_MAX_INPUT_MB = 1024
#: Bound on the estimated working memory of one item (MiB), and the cap of onnxruntime's CPU
#: arena; default: 3/4 of physical memory.
MAX_WORK_ENV = "GANFORGE_MAX_WORK_MB"
#: Above this estimated working memory per item (MiB), items are generated in tiles.
TILE_ENV = "GANFORGE_TILE_MB"
DEFAULT_TILE_MB = 1024
#: Items are batched together only while one batch's working memory stays under this.
BATCH_WORK_BYTES = 256 << 20
#: Time limit of one graph run (seconds): a tile or a batch, not a whole request.
RUN_SECONDS_ENV = "GANFORGE_RUN_SECONDS"
DEFAULT_RUN_SECONDS = 300.0


def env_number(name: str, default: float, unit: str, cast: type = int) -> Any:
    """A positive, finite number from the environment variable ``name`` (``default`` if unset);
    GanforgeError in one line otherwise."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = cast(raw)
    except ValueError:
        raise GanforgeError(f"{name}={raw!r} is not a number of {unit}") from None
    if not 0 < value < float("inf"):
        raise GanforgeError(f"{name}={raw!r} must be a positive number of {unit}")
    return value


def env_mb(name: str, default: int) -> int:
    return env_number(name, default, "MiB")


def env_seconds(name: str, default: float) -> float:
    return env_number(name, default, "seconds", float)


_ARENA_CAPPED = False


def cap_cpu_arena() -> None:
    """Register, once per process, onnxruntime's shared CPU arena with ``max_mem`` set to the
    working-memory bound (``GANFORGE_MAX_WORK_MB``, default 3/4 of physical memory). Process
    global: a later change of the variable applies to the next process."""
    global _ARENA_CAPPED
    if _ARENA_CAPPED:
        return
    ort = import_onnxruntime()

    limit = env_mb(MAX_WORK_ENV, physical_mb() * 3 // 4) << 20
    info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
    try:
        ort.create_and_register_allocator(info, ort.OrtArenaCfg(limit, -1, -1, -1))
    except Exception:  # already registered by the host process (or unsupported): keep its arena
        pass
    ort.set_default_logger_severity(3)  # no onnxruntime warnings on the user's terminal
    _ARENA_CAPPED = True


def physical_mb() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") >> 20
    except (AttributeError, ValueError, OSError):
        return 16384
