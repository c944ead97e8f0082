"""onnxruntime sessions as ganforge's hosts need them: the providers for a device, session options
that share the CPU and cap memory, and a run that a pack with an endless loop cannot hang."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .errors import GanforgeError
from .limits import (
    DEFAULT_RUN_SECONDS,
    DEVICES,
    RUN_SECONDS_ENV,
    cap_cpu_arena,
    env_seconds,
    import_onnxruntime,
)

#: the most intra-op threads a session may ask for
MAX_THREADS = 256


def default_threads() -> int:
    """Intra-op threads: the CPUs this process may use (cgroup/affinity aware where possible)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def providers_for(device: str) -> list[str]:
    """onnxruntime's providers for ``device`` (auto, cpu, cuda): CUDA first where it is there."""
    ort = import_onnxruntime()

    if device not in DEVICES:
        raise GanforgeError(f"device {device!r} is not one of {', '.join(DEVICES)}")
    has_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    if device == "cuda" and not has_cuda:
        raise GanforgeError("device 'cuda' requested but this onnxruntime has no CUDA support "
                            "(install ganforge[gpu], i.e. onnxruntime-gpu)")
    if device != "cpu" and has_cuda:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def session_options(threads: int | None) -> Any:
    """Options for a pack's session: ``threads`` intra-op threads (None: :func:`default_threads`)."""
    ort = import_onnxruntime()

    if threads is not None and not 1 <= threads <= MAX_THREADS:
        # 100,000 threads segfault onnxruntime and 3,000 hang it; no machine needs more
        raise GanforgeError(f"threads must be between 1 and {MAX_THREADS} (got {threads})")
    opts = ort.SessionOptions()
    # Fatal only: onnxruntime's own error lines would precede ours; its errors reach the user
    # as exceptions turned into one `error:` line.
    opts.log_severity_level = 4
    # Every CPU allocation goes through one arena capped at the working-memory bound: a 1 MB
    # pack whose ConstantOfShape asks for 100 GB fails in one line instead of swapping.
    cap_cpu_arena()
    opts.add_session_config_entry("session.use_env_allocators", "1")
    # No busy-waiting between calls: hosts (Blender, a MIDI bridge) share the CPU with us.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    opts.intra_op_num_threads = threads if threads and threads > 0 else default_threads()
    opts.inter_op_num_threads = 1
    # Memory patterns replay one preplanned block per input shape, allocated beside the arena
    # the first run filled: measured, the second call at a shape (every tile after the first)
    # peaked at 1.8x the first's RSS, for no speed gain. Shapes vary here anyway.
    opts.enable_mem_pattern = False
    return opts


def run_with_time_limit(session: Any, output_names: list[str], feeds: dict[str, np.ndarray],
                        path: Path) -> list[np.ndarray]:
    """``session.run`` stopped after ``GANFORGE_RUN_SECONDS`` (default 300) per call: a pack
    with an endless loop must not hang a host. onnxruntime checks the terminate flag between
    nodes, so a timer thread sets it and the run ends with an error we turn into one line."""
    import threading

    ort = import_onnxruntime()

    limit = env_seconds(RUN_SECONDS_ENV, DEFAULT_RUN_SECONDS)
    options = ort.RunOptions()
    timer = threading.Timer(limit, lambda: setattr(options, "terminate", True))
    timer.daemon = True
    timer.start()
    try:
        return session.run(output_names, feeds, options)
    except Exception as e:
        if options.terminate:
            raise GanforgeError(f"{path}: generation took longer than {limit:g} s and was stopped "
                                f"(set {RUN_SECONDS_ENV} to allow more)") from None
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise GanforgeError(f"{path}: the pack failed while generating ({first})") from None
    finally:
        timer.cancel()
