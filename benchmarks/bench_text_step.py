"""RelGAN training-step speed on the CPU: with and without flushing denormal floats to zero.

At a high inverse temperature the Gumbel-softmax's relaxed one-hots are mostly underflowing
numbers, and an x86 core takes ~100 cycles per operation on a denormal. The engine therefore
flushes them on the CPU (``Trainer``); this measures what that buys at the oracle benchmark's
sizes (vocabulary 5,004, 21 positions, batch 64, hidden 32, D of 8 embeddings x 32), at three
inverse temperatures, interleaved in one process, one thread.

    python benchmarks/bench_text_step.py          # ~2 min
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, median, save, table, time_call  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--betas", type=float, nargs="+", default=[1.0, 10.0, 100.0])
    args = p.parse_args()

    import torch

    from ganforge.core.modalities.text.model import MultiRepDiscriminator, TextGenerator

    torch.set_num_threads(1)
    torch.manual_seed(0)
    vocab, length, batch = 5004, 21, 64
    G, D = TextGenerator(vocab, length, 32, 32), MultiRepDiscriminator(vocab, length, 32, 8, channels=32)
    gen = torch.Generator().manual_seed(0)
    cpu = torch.device("cpu")

    def g_step(beta: float) -> None:  # what RelGAN's generator update computes
        G.zero_grad(set_to_none=True)
        soft, _ = G.gumbel_sample(batch, beta, gen, cpu)
        D(soft).mean().backward()

    rows, out = [], {"machine": machine(), "vocab": vocab, "length": length, "batch": batch, "results": []}
    for beta in args.betas:
        times: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(args.repeats):  # interleaved: the machine's drift hits both alike
            for flush in (False, True):
                torch.set_flush_denormal(flush)
                times[flush] += time_call(lambda b=beta: g_step(b), repeats=1)
        torch.set_flush_denormal(False)
        slow, fast = median(times[False]), median(times[True])
        rows.append([f"{beta:g}", f"{slow * 1000:.0f} ms", f"{fast * 1000:.0f} ms", f"{slow / fast:.1f}x"])
        out["results"].append({"beta": beta, "denormals_ms": slow * 1000, "flushed_ms": fast * 1000,
                               "speedup": slow / fast})
    print(table(["beta", "G step, denormals", "G step, flushed (engine)", "speed-up"], rows))
    save("text_step", out)


if __name__ == "__main__":
    main()
