"""Relational memory (Santoro et al., NeurIPS 2018), the generator of the RelGAN paper.

A few memory slots attend, with several heads, over themselves and the current token; an MLP
and layer norms follow, as in a transformer block; LSTM-style input and forget gates then mix
the result into the memory. The memory, flattened, feeds the output layer. The RelGAN authors'
synthetic-data setting is one slot, two heads of 256; every step is MatMul, Softmax,
LayerNormalization and elementwise ops, so the sampler exports to plain ONNX ops inside its Loop.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .model import SequenceGenerator

FORGET_BIAS = 1.0  # the forget gate starts mostly open: the memory persists until it learns not to


class RelationalMemoryGenerator(SequenceGenerator):
    def __init__(self, vocab: int, length: int, emb: int = 32, slots: int = 1, heads: int = 2,
                 head_size: int = 256, dropout: float = 0.0) -> None:
        width = heads * head_size
        super().__init__(vocab, length, emb, slots * width, dropout)
        self.slots, self.heads, self.head_size, self.width = slots, heads, head_size, width
        self.inp = nn.Linear(emb, width)
        self.qkv = nn.Linear(width, 3 * width)
        self.mlp = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width))
        self.norm_att, self.norm_mlp = nn.LayerNorm(width), nn.LayerNorm(width)
        self.gate_x = nn.Linear(width, 2 * width)
        self.gate_m = nn.Linear(width, 2 * width, bias=False)

    def initial_state(self, batch: int, ref: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Slot i starts as the i-th unit vector (Santoro et al.), so slots begin distinct."""
        eye = torch.eye(self.slots, self.width, dtype=ref.dtype, device=ref.device)
        return (eye.expand(batch, -1, -1),)

    def attend(self, m: torch.Tensor) -> torch.Tensor:
        """Multi-head self-attention over the rows of ``m`` (B, N, width)."""
        b, n, _ = m.shape
        q, k, v = (t.reshape(b, n, self.heads, self.head_size).transpose(1, 2)
                   for t in self.qkv(m).chunk(3, dim=-1))
        w = F.softmax(q @ k.transpose(2, 3) / math.sqrt(self.head_size), dim=-1)
        return (w @ v).transpose(1, 2).reshape(b, n, self.width)

    def step(self, x: torch.Tensor, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        (memory,) = state
        xi = self.inp(x)[:, None]                      # (B, 1, width)
        m = torch.cat([memory, xi], dim=1)             # the slots and the token attend together
        m = self.norm_att(m + self.attend(m))
        m = self.norm_mlp(m + self.mlp(m))[:, :self.slots]
        i, f = (self.gate_x(xi) + self.gate_m(torch.tanh(memory))).chunk(2, dim=-1)
        memory = torch.sigmoid(i) * torch.tanh(m) + torch.sigmoid(f + FORGET_BIAS) * memory
        return memory.reshape(memory.shape[0], -1), (memory,)
