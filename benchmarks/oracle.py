"""Texygen's synthetic oracle: a random LSTM (vocabulary 5,000, embedding and hidden 32, every
parameter drawn from N(0, 1) as in Texygen's OracleLstm) whose samples are the training data, and
whose per-token NLL of a model's samples (NLL-oracle) measures their quality.

Tokens are written as words ``w<id>`` so the ordinary word-level text pipeline trains on them.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

VOCAB, LENGTH, DIM, START = 5000, 20, 32, 0


class OracleLSTM:
    def __init__(self, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)

        def n(*shape: int) -> torch.Tensor:
            return torch.randn(*shape, generator=g)

        self.emb = n(VOCAB, DIM)
        self.w_x, self.w_h, self.b = n(DIM, 4 * DIM), n(DIM, 4 * DIM), n(4 * DIM)
        self.w_o, self.b_o = n(DIM, VOCAB), n(VOCAB)

    def step(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, ...]:
        i, f, o, u = (x @ self.w_x + h @ self.w_h + self.b).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(u)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h @ self.w_o + self.b_o, h, c

    @torch.no_grad()
    def sample(self, count: int, seed: int = 1) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        h = c = torch.zeros(count, DIM)
        tok = torch.full((count,), START)
        out = []
        for _ in range(LENGTH):
            logits, h, c = self.step(self.emb[tok], h, c)
            u = torch.rand(logits.shape, generator=g).clamp_(1e-10, 1 - 1e-10)
            tok = (logits - torch.log(-torch.log(u))).argmax(1)  # Gumbel-max: a draw from softmax
            out.append(tok)
        return torch.stack(out, 1)

    @torch.no_grad()
    def nll(self, ids: torch.Tensor, mask: torch.Tensor) -> float:
        """Mean per-token NLL (nats) of ``ids`` (B, L) over the positions where ``mask`` is 1."""
        b = ids.shape[0]
        h = c = torch.zeros(b, DIM)
        tok = torch.full((b,), START)
        total = torch.zeros(b)
        for t in range(ids.shape[1]):
            logits, h, c = self.step(self.emb[tok], h, c)
            total += F.cross_entropy(logits, ids[:, t], reduction="none") * mask[:, t]
            tok = ids[:, t]
        return float(total.sum() / mask.sum())


def write_oracle_corpus(oracle: OracleLSTM, path: Path, count: int) -> None:
    ids = oracle.sample(count)
    path.write_text("".join(" ".join(f"w{int(t)}" for t in row) + "\n" for row in ids), encoding="utf-8")


def oracle_nll(oracle: OracleLSTM, lines: list[str]) -> float:
    """NLL-oracle of lines of ``w<id>`` words (a token that is not one counts as id 0)."""
    ids = torch.zeros(len(lines), LENGTH, dtype=torch.int64)
    mask = torch.zeros(len(lines), LENGTH)
    for i, line in enumerate(lines):
        words = line.split()[:LENGTH]
        for t, w in enumerate(words):
            ids[i, t] = int(w[1:]) if w[:1] == "w" and w[1:].isdigit() and int(w[1:]) < VOCAB else 0
            mask[i, t] = 1.0
    return oracle.nll(ids, mask)
