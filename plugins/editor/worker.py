"""A generation worker of the editor server: ``python -m ganforge.plugins.editor.worker``.

The server runs packs here rather than in its own threads because a stranger's pack can keep
onnxruntime busy for as long as it likes; a process can be killed and replaced, a thread cannot
(see :mod:`ganforge.plugins.editor.pool`). The protocol is one JSON object per line: after
``{"ready": true}``, each request ``{"pack", "count", "seed", "temperature", "prefix"?}`` gets
``{"lines": [...]}`` or ``{"error": "one line"}``. End of input ends the worker. Torch-free.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from ganforge.core.errors import GanforgeError


def _die_with_parent() -> None:
    # A worker stuck in a pack's graph never reads the end of its input, so it would outlive a
    # killed server; Linux can send it SIGKILL when the parent goes. Elsewhere the server's own
    # kill on exit and onnxruntime's time limit (GANFORGE_RUN_SECONDS) still end it.
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def answer(packs: Any, request: Any) -> dict[str, Any]:
    """The reply to one request: generated lines, or the one-line error a user can act on."""
    try:
        if not isinstance(request, dict):
            raise GanforgeError("a worker request must be an object")
        rt = packs.get(request["pack"])
        if rt.codec.output_kind != "lines":
            raise GanforgeError(f"{rt.path}: a {rt.meta.modality} pack; the editor needs a text pack")
        options: dict[str, Any] = {"temperature": float(request["temperature"])}
        if request.get("prefix"):  # only then: a pack exported before prefixes still makes whole lines
            options["prefix"] = str(request["prefix"])
        out = rt.generate(int(request["seed"]), int(request["count"]), **options)
        return {"lines": [str(s) for s in out]}
    except GanforgeError as e:
        return {"error": str(e)}
    except MemoryError:
        return {"error": f"{request.get('pack')}: out of memory while generating"}
    except Exception as e:  # a bug or a pack the checks missed: one line, and the worker lives on
        return {"error": f"{request.get('pack')}: generation failed ({type(e).__name__}: {str(e)[:200]})"}


def main() -> None:
    _die_with_parent()
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    # Only this process's replies may reach the server; a library that prints goes nowhere.
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    from ganforge.core.runtime import PackCache

    packs = PackCache(device="cpu", threads=1)
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    for line in sys.stdin:
        try:
            request = json.loads(line)
        except json.JSONDecodeError:
            request = None
        out.write(json.dumps(answer(packs, request)) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
