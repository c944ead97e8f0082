"""Inline-completion latency of the editor server (issue 16): p50/p99 of
``textDocument/inlineCompletion`` requests, each asking for 5 candidates, measured at the client of
a live ``ganforge lsp`` over stdio — JSON-RPC, the server's event loop, the worker process and the
pack's graph together, as an editor sees it.

Two packs: a character-level names pack (``builtin:names``, ``--max-len 32``: 33 unrolled steps)
and a word-level captions pack (COCO train captions from ../shared, ``--max-len 35``: 36 steps
over ~6,000 words). Latency depends on the network's sizes, not on how well it was trained, so
each is trained for a few steps with the default model (LSTM, emb 64, hidden 256) and exported
through the real exporter; ``--names PACK`` / ``--captions PACK`` measure packs of your own.
Prefixes are the first 1..n tokens of random corpus lines (seeded), so every request is a real
continuation; invoked requests (no debounce), seed fixed by the configuration.

    nice -n 19 python benchmarks/bench_inline.py              # ~3 min on 2 CPU cores, most of it the two exports
    python benchmarks/bench_inline.py --names names.onnx --captions caps.onnx --requests 500
"""

from __future__ import annotations

import argparse
import json
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--names", type=Path, help="a character-level text pack (default: built from builtin:names)")
    ap.add_argument("--captions", type=Path, help="a word-level text pack (default: built from COCO captions)")
    ap.add_argument("--out", type=Path, default=Path("build/bench_inline"))
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--steps", type=int, default=20, help="training steps of the built packs (latency only)")
    a = ap.parse_args()
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
    path = save("inline_latency", {"target_p99_ms": TARGET_P99_MS, "candidates": 5, "rows": rows})
    print(table(["pack", "level", "requests", "p50 ms", "p90 ms", "p99 ms", "max ms", "candidates"],
                [[Path(r["pack"]).name, r["level"], r["requests"], r["p50_ms"], r["p90_ms"], r["p99_ms"], r["max_ms"],
                  r["mean_candidates"]] for r in rows]))
    print(f"machine: {json.dumps(machine())}\nresults: {path}")


if __name__ == "__main__":
    main()
