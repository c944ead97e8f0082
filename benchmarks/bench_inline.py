"""Inline-completion latency of the editor server (issue 16): p50/p99 of
``textDocument/inlineCompletion`` requests, each asking for 5 candidates, measured at the client of
a live ``ganforge lsp`` over stdio — JSON-RPC, the server's event loop, the worker process and the
pack's graph together, as an editor sees it.

Two packs: a character-level names pack (``builtin:names``, ``--max-len 32``: 33 unrolled steps)
and a word-level captions pack (COCO train captions from ../shared, ``--max-len 35``: 36 steps
over ~6,000 words). Latency depends on the network's sizes and on where lines end (the graph
skips the output layer at forced prefix positions and once every candidate has ended), not on
what the lines say, so each is trained for a few steps with the default model (LSTM, emb 64,
hidden 256: the 20-step captions pack's lines average 9.8 words, COCO's 10.5) and exported
through the real exporter; ``--names PACK`` / ``--captions PACK`` measure packs of your own.
Packs already in ``--out`` are reused: delete them to measure the current exporter's graph.
Prefixes are the first 1..n tokens of random corpus lines (seeded), so every request is a real
continuation; invoked requests (no debounce), seed fixed by the configuration.

    nice -n 19 python benchmarks/bench_inline.py              # ~3 min on 2 CPU cores, most of it the two exports
    python benchmarks/bench_inline.py --names names.onnx --captions caps.onnx --requests 500
    python benchmarks/bench_inline.py --against old-captions.onnx   # also: graph time vs an older export

``--against OLD`` (an export of the same run by an older ganforge) adds an in-process A/B of the
graph alone: both packs generate the same requests in turn (5 candidates, one thread, the order
alternating), the ratio of their medians is reported (a ratio survives a loaded machine better
than absolute times), and every request must give the same lines from both. The load average
before and after is recorded with the results.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import machine, save, table  # noqa: E402

COCO = HERE.parent.parent / "shared" / "data" / "text" / "coco_train.txt"
TARGET_P99_MS = 50.0


class StdioClient:
    """Just enough JSON-RPC over a subprocess's stdio to time requests (answers nothing back)."""

    def __init__(self, command: list[str]) -> None:
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        self.next_id = 0

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        length = 0
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("the server ended")
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
            if line in (b"\r\n", b"\n"):
                break
        return json.loads(self.proc.stdout.read(length))

    def request(self, method: str, params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.send({"id": self.next_id, "method": method, "params": params})
        while True:
            msg = self.read()
            if msg.get("id") == self.next_id and "method" not in msg:
                return msg

    def close(self) -> None:
        try:
            self.request("shutdown", None)
            self.send({"method": "exit"})
            self.proc.wait(10)
        except Exception:
            self.proc.kill()


def build_pack(out: Path, data: str, name: str, steps: int, **data_options: Any) -> Path:
    from ganforge.core.training.config import TrainConfig
    from ganforge.core.training.run import train
    from ganforge.exporters.onnx.export import export_pack

    run = out / f"run-{name}"
    cfg = TrainConfig(modality="text", family="mle", data=data, out=str(run), steps=steps, crop=data_options.pop("crop"),
                      batch=32, seed=0, device="cpu", sample_every=10_000, log_every=10_000,
                      checkpoint_every=10_000, data_options=data_options)
    train(cfg, progress=False)
    pack = out / f"{name}.onnx"
    export_pack(run, pack)
    return pack


def prefixes(lines: list[str], level: str, n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        line = rng.choice(lines)
        toks = list(line) if level == "char" else line.split()
        k = rng.randint(1, max(1, min(len(toks) - 1, 12)))
        out.append("".join(toks[:k]) if level == "char" else " ".join(toks[:k]))
    return out


def measure(pack: Path, corpus: list[str], level: str, requests: int, warmup: int) -> dict[str, Any]:
    client = StdioClient([sys.executable, "-m", "ganforge.core.cli", "lsp"])
    try:
        client.request("initialize", {"processId": None, "rootUri": None, "capabilities": {},
                                      "initializationOptions": {"pack": str(pack), "inlineCount": 5, "seed": 1}})
        client.send({"method": "initialized", "params": {}})
        uri = "file:///bench.txt"
        times, counts = [], []
        for i, prefix in enumerate(prefixes(corpus, level, warmup + requests)):
            # a new line per request: the document changes as it would while typing
            client.send({"method": "textDocument/didOpen" if i == 0 else "textDocument/didChange", "params": {
                "textDocument": {"uri": uri, "languageId": "plaintext", "version": i + 1, "text": prefix},
                **({"contentChanges": [{"text": prefix}]} if i else {})}})
            t0 = time.perf_counter()
            res = client.request("textDocument/inlineCompletion", {
                "textDocument": {"uri": uri}, "position": {"line": 0, "character": len(prefix.encode("utf-16-le")) // 2},
                "context": {"triggerKind": 1}})
            dt = (time.perf_counter() - t0) * 1000
            if "error" in res:
                raise RuntimeError(f"{pack}: {res['error']}")
            if i >= warmup:
                times.append(dt)
                counts.append(len(res["result"]["items"]))
    finally:
        client.close()
    q = statistics.quantiles(times, n=100)
    return {"pack": str(pack), "level": level, "requests": len(times), "p50_ms": round(statistics.median(times), 2),
            "p90_ms": round(q[89], 2), "p99_ms": round(q[98], 2), "max_ms": round(max(times), 2),
            "mean_candidates": round(sum(counts) / len(counts), 2)}


def against(old: Path, new: Path, corpus: list[str], level: str, requests: int) -> dict[str, Any]:
    """Graph-only A/B in one process: median ms of ``old`` and ``new`` over the same requests,
    their ratio, and how many requests gave different lines (must be 0: same seed, same line)."""
    from ganforge.core import runtime

    rts = [runtime.load(p, device="cpu", threads=1) for p in (old, new)]
    times: list[list[float]] = [[], []]
    differ = 0
    for i, prefix in enumerate(prefixes(corpus, level, requests, seed=1)):
        lines = []
        for k in ((0, 1) if i % 2 else (1, 0)):
            t0 = time.perf_counter()
            lines.append(list(rts[k].generate(1 + i, 5, prefix=prefix)))
            times[k].append((time.perf_counter() - t0) * 1000)
        differ += lines[0] != lines[1]
    old_ms, new_ms = statistics.median(times[0]), statistics.median(times[1])
    return {"old": str(old), "new": str(new), "requests": requests, "old_p50_ms": round(old_ms, 2),
            "new_p50_ms": round(new_ms, 2), "ratio_of_medians": round(new_ms / old_ms, 3),
            "requests_with_different_lines": differ}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--names", type=Path, help="a character-level text pack (default: built from builtin:names)")
    ap.add_argument("--captions", type=Path, help="a word-level text pack (default: built from COCO captions)")
    ap.add_argument("--out", type=Path, default=Path("build/bench_inline"))
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--steps", type=int, default=20, help="training steps of the built packs (latency only)")
    ap.add_argument("--against", type=Path, help="an older export of the captions run: graph-only A/B against it")
    a = ap.parse_args()
    load_before = os.getloadavg()
    a.out.mkdir(parents=True, exist_ok=True)

    from ganforge.core.modalities.text.data import read_lines

    names_corpus = read_lines("builtin:names")[0]
    names = a.names or (a.out / "names.onnx" if (a.out / "names.onnx").is_file() else
                        build_pack(a.out, "builtin:names", "names", a.steps, crop=32))
    if not COCO.is_file() and a.captions is None:
        sys.exit(f"no captions pack: pass --captions PACK or provide {COCO}")
    caps_corpus = read_lines(COCO)[0] if COCO.is_file() else ["a man riding a horse"]
    captions = a.captions or (a.out / "captions.onnx" if (a.out / "captions.onnx").is_file() else
                              build_pack(a.out, str(COCO), "captions", a.steps, crop=35, level="word"))
    rows = [measure(names, names_corpus, "char", a.requests, a.warmup),
            measure(captions, caps_corpus, "word", a.requests, a.warmup)]
    for r in rows:
        r["meets_target"] = r["p99_ms"] < TARGET_P99_MS
    result: dict[str, Any] = {"target_p99_ms": TARGET_P99_MS, "candidates": 5, "rows": rows}
    if a.against:
        result["against"] = against(a.against, captions, caps_corpus, "word", a.requests)
        print(json.dumps(result["against"]))
    result["load_average_1m"] = {"before": round(load_before[0], 2), "after": round(os.getloadavg()[0], 2)}
    path = save("inline_latency", result)
    print(table(["pack", "level", "requests", "p50 ms", "p90 ms", "p99 ms", "max ms", "candidates"],
                [[Path(r["pack"]).name, r["level"], r["requests"], r["p50_ms"], r["p90_ms"], r["p99_ms"], r["max_ms"],
                  r["mean_candidates"]] for r in rows]))
    print(f"machine: {json.dumps(machine())}\nresults: {path}")


if __name__ == "__main__":
    main()
