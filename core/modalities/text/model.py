"""Text networks (torch): language-model generators and RelGAN's multi-representation CNN
discriminator.

A generator is a recurrent step over embedded tokens (:class:`SequenceGenerator`); every sampling
path — Gumbel-softmax during GAN training, and the exported inverse-CDF sampler — runs that step
by hand, which exports to plain ONNX ops. The LSTM (:class:`TextGenerator`) is the default; the
relational memory of the RelGAN paper is in :mod:`.rmc`. ``<pad>`` and ``<bos>`` are never
sampled: a constant mask sits on their logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .vocab import BOS_ID, EOS_ID, PAD_ID

MASKED = -1e4  # added to the logits of tokens a sampler must never emit


class SequenceGenerator(nn.Module):
    """What every text generator shares: token embeddings, the output layer with its mask, and
    the two samplers, written once over a recurrent ``step(x, state) -> (features, state)`` that
    a subclass defines (an LSTM here, relational memory in :mod:`.rmc`)."""

    def __init__(self, vocab: int, length: int, emb: int, features: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.vocab, self.length = vocab, length
        # Dropout regularises teacher-forced (MLE) training only: the samplers never drop, so
        # what GAN training and the pack sample is the whole network.
        self.drop = nn.Dropout(dropout)
        self.emb = nn.Embedding(vocab, emb)
        self.out = nn.Linear(features, vocab)
        mask = torch.zeros(vocab)
        mask[[PAD_ID, BOS_ID]] = MASKED
        self.register_buffer("logit_mask", mask)

    # ---- what a subclass defines ---------------------------------------------------------------
    def initial_state(self, batch: int, ref: torch.Tensor) -> tuple[torch.Tensor, ...]:
        raise NotImplementedError

    def step(self, x: torch.Tensor, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """One position: embedded input (B, emb) -> features (B, F) for the output layer, new state."""
        raise NotImplementedError

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Teacher-forced features (B, L, F) of embedded inputs (B, L, emb); a subclass may
        override this with a fused kernel."""
        state = self.initial_state(x.shape[0], x)
        out = []
        for t in range(x.shape[1]):
            h, state = self.step(x[:, t], state)
            out.append(h)
        return torch.stack(out, 1)

    # ---- shared -------------------------------------------------------------------------------
    def logits(self, h: torch.Tensor) -> torch.Tensor:
        return self.out(h) + self.logit_mask

    def teacher_forced(self, ids: torch.Tensor) -> torch.Tensor:
        """Logits (B, L, V) predicting ``ids`` (B, L) from ``<bos>`` + ``ids[:, :-1]``."""
        bos = torch.full_like(ids[:, :1], BOS_ID)
        h = self.features(self.drop(self.emb(torch.cat([bos, ids[:, :-1]], 1))))
        return self.logits(self.drop(h))

    def start(self, batch: int, ref: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        return self.emb.weight[BOS_ID].expand(batch, -1), self.initial_state(batch, ref)

    def gumbel_sample(self, batch: int, beta: float, gen: torch.Generator,
                      device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """RelGAN's sampler: hard ids ``argmax(o + g)`` fed back, and the relaxed one-hots
        ``softmax(beta (o + g))`` (B, L, V) that carry the gradient to D."""
        x, state = self.start(batch, self.out.weight)
        soft, hard = [], []
        for _ in range(self.length):
            h, state = self.step(x, state)
            o = self.logits(h)
            u = torch.rand(o.shape, generator=gen).to(device).clamp_(1e-10, 1 - 1e-10)
            y = o - torch.log(-torch.log(u))
            tok = y.argmax(1)
            soft.append(F.softmax(beta * y, dim=1))
            hard.append(tok)
            x = self.emb(tok)
        return torch.stack(soft, 1), torch.stack(hard, 1)

    def sample(self, u: torch.Tensor, temperature: torch.Tensor, prefix: torch.Tensor | None = None,
               prefix_len: torch.Tensor | None = None) -> torch.Tensor:
        """Inverse-CDF sampling, no random ops: ``u`` (B, L) uniform, ``temperature`` (B,) ->
        ids (B, L). Token t is the first whose cumulative ``softmax(logits / T)`` exceeds
        ``u_t`` — the same distribution as Gumbel-max, from one number per position.

        ``prefix`` (B, L) ids and ``prefix_len`` (B,): row b emits ``prefix[b, :prefix_len[b]]``
        and samples on from there. The forced token replaces the sampled one *and* is fed back,
        so the continuation is conditioned on the prefix; ``u`` at forced positions is drawn but
        unused, which keeps the seed contract (same seed, same ``u``, same continuation).

        A row ends at its first *sampled* ``<eos>``, and every position after it is ``<pad>``
        (lines are decoded up to that ``<eos>``, so they are those of packs exported before this
        rule, which sampled on there). Exported, the positions are two ONNX ``Loop``s rather
        than an unrolled chain (:meth:`_sample_graph`): the prefix every row shares is stepped
        through without the output layer, and sampling stops once every row has ended, so a
        request costs the positions it uses, not ``L``."""
        if prefix is None or prefix_len is None:
            prefix = torch.zeros_like(u, dtype=torch.int64)
            prefix_len = torch.zeros(u.shape[0], dtype=torch.int64, device=u.device)
        # a host may feed anything: out-of-range ids would make the embedding's Gather fail
        prefix = prefix.clamp(0, self.vocab - 1)
        if torch.compiler.is_exporting():
            return self._sample_graph(u, temperature, prefix, prefix_len)
        x, state = self.start(u.shape[0], u)
        ended = torch.zeros(u.shape[0], dtype=torch.bool, device=u.device)
        out = torch.full(u.shape, PAD_ID, dtype=torch.int64, device=u.device)
        for t in range(self.length):
            if not bool((~ended).any()):
                break  # every row has ended: the rest is <pad>, as in the exported loop
            h, state = self.step(x, state)
            forced = prefix_len > t
            drawn = self._draw(h, temperature, u[:, t:t + 1]) if bool((~ended & ~forced).any()) else prefix[:, t]
            tok, ended = _settle(drawn, prefix[:, t], forced, ended)
            out[:, t] = tok
            x = self.emb(tok)
        return out

    def _sample_graph(self, u: torch.Tensor, temperature: torch.Tensor, prefix: torch.Tensor,
                      prefix_len: torch.Tensor) -> torch.Tensor:
        """:meth:`sample` as two ``while_loop``s (ONNX ``Loop``), token for token the same.

        The unrolled graph this replaces ran every recurrent step and ~35 glue nodes at all
        ``L`` positions (an ``If`` skipped only the output layer): for a 36-word captions pack
        the idle positions after every candidate had ended cost about as much as the sampling.
        The first loop steps through the positions every row forces (the shortest prefix); the
        second samples until every row has sampled ``<eos>`` or ``L`` is reached, drawing at
        each of its positions (a row still inside a longer prefix keeps its forced token)."""
        from torch._higher_order_ops.while_loop import while_loop

        length = u.shape[1]
        x, state = self.start(u.shape[0], u)
        out = torch.full(u.shape, PAD_ID, dtype=torch.int64, device=u.device)
        cols = torch.arange(length, device=u.device)
        forced = prefix_len.min().clamp(0, length)

        def column(a: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return a.index_select(1, t.view(1)).squeeze(1)

        def write(out: torch.Tensor, t: torch.Tensor, tok: torch.Tensor) -> torch.Tensor:
            return torch.where(cols == t, tok[:, None], out)

        def in_prefix(t: torch.Tensor, *_: torch.Tensor) -> torch.Tensor:
            return t < forced

        def step_prefix(t: torch.Tensor, x: torch.Tensor, out: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
            _, state = self.step(x, state)
            tok = column(prefix, t)
            return (t + 1, self.emb(tok), write(out, t, tok), *state)

        def going(t: torch.Tensor, x: torch.Tensor, ended: torch.Tensor, *_: torch.Tensor) -> torch.Tensor:
            return (t < length) & (~ended).any()

        def step_sample(t: torch.Tensor, x: torch.Tensor, ended: torch.Tensor, out: torch.Tensor,
                        *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
            h, state = self.step(x, state)
            tok, ended = _settle(self._draw(h, temperature, column(u, t)[:, None]), column(prefix, t),
                                 prefix_len > t, ended)
            return (t + 1, self.emb(tok), ended, write(out, t, tok), *state)

        # while_loop refuses carried values that alias each other (an LSTM's h and c start as
        # one zeros tensor): each gets its own copy.
        t = torch.zeros((), dtype=torch.int64, device=u.device)
        t, x, out, *state = while_loop(in_prefix, step_prefix, (t, x.clone(), out, *(s.clone() for s in state)))
        ended = torch.zeros(u.shape[0], dtype=torch.bool, device=u.device)
        return while_loop(going, step_sample, (t, x, ended, out, *state))[3]

    def _draw(self, h: torch.Tensor, temperature: torch.Tensor, u_t: torch.Tensor) -> torch.Tensor:
        """The sampled token (B,) at one position: the first whose cumulative probability
        exceeds ``u_t`` (B, 1).

        The softmax is float32 and its running sum float64. A float32 running sum over
        thousands of words differs between runtimes by up to ~1e-4, enough to move the boundary
        past ``u`` about once per hundred lines; the probabilities themselves carry only the
        float32 output layer's own rounding (which a float64 softmax, 2x slower here, cannot
        remove). The count is summed in float32, exact below 2^24 tokens, several times faster
        in onnxruntime than an int64 sum."""
        p = F.softmax(self.logits(h) / temperature.float()[:, None], dim=1).double()
        cdf = torch.cumsum(p, dim=1)
        below = (cdf < u_t.double() * cdf[:, -1:]).to(torch.float32 if self.vocab < 2**24 else torch.float64)
        return below.sum(1).long().clamp(max=self.vocab - 1)


def _settle(drawn: torch.Tensor, forced_tok: torch.Tensor, forced: torch.Tensor,
            ended: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One position's tokens (B,) and the rows ended after it, shared by the eager and the
    exported sampler: a row inside its prefix emits the prefix's token, an ended row ``<pad>``,
    and a row ends at its first *sampled* ``<eos>``."""
    tok = torch.where(forced, forced_tok, drawn)
    tok = torch.where(ended, torch.full_like(tok, PAD_ID), tok)
    return tok, ended | (~ended & ~forced & (tok == EOS_ID))


class TextGenerator(SequenceGenerator):
    """One LSTM layer. Teacher-forced training runs ``nn.LSTM`` (fast kernels); the samplers
    step the same weights by hand, which exports to plain ONNX ops."""

    def __init__(self, vocab: int, length: int, emb: int = 64, hidden: int = 256, dropout: float = 0.0) -> None:
        super().__init__(vocab, length, emb, hidden, dropout)
        self.hidden = hidden
        self.lstm = nn.LSTM(emb, hidden, batch_first=True)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.lstm(x)[0]

    def initial_state(self, batch: int, ref: torch.Tensor) -> tuple[torch.Tensor, ...]:
        h = ref.new_zeros(batch, self.hidden)
        return h, h

    def step(self, x: torch.Tensor, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        h, c = self.cell(x, *state)
        return h, (h, c)

    def cell(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One LSTM step with ``nn.LSTM``'s weights (gate order i, f, g, o)."""
        lstm = self.lstm
        gates = x @ lstm.weight_ih_l0.T + lstm.bias_ih_l0 + h @ lstm.weight_hh_l0.T + lstm.bias_hh_l0
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


def after_eos_mask(ids: torch.Tensor) -> torch.Tensor:
    """(B, L) float: 1 up to and including the first ``<eos>``, 0 after it."""
    ended = (ids == EOS_ID).long().cumsum(1)
    return ((ended - (ids == EOS_ID).long()) == 0).float()


class MultiRepDiscriminator(nn.Module):
    """RelGAN's discriminator: ``reps`` embeddings of the (relaxed) one-hot sequence, each through
    the same CNN (filter widths 2-5, max over time) to its own logit, so D sees several views."""

    def __init__(self, vocab: int, length: int, emb: int = 64, reps: int = 16,
                 filters: tuple[int, ...] = (2, 3, 4, 5), channels: int = 64) -> None:
        super().__init__()
        self.reps, self.emb_dim = reps, emb
        self.embeddings = nn.Parameter(torch.randn(reps, vocab, emb) * 0.1)
        widths = [k for k in filters if k <= length] or [1]
        self.convs = nn.ModuleList(nn.Conv2d(1, channels, (k, emb)) for k in widths)
        width = channels * len(widths)
        self.gate, self.transform = nn.Linear(width, width), nn.Linear(width, width)
        self.head = nn.Sequential(nn.Dropout(0.25), nn.Linear(width, 100), nn.LeakyReLU(0.2), nn.Linear(100, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, V) relaxed one-hots, or (B, L) token ids, -> (B * reps,) logits.

        Ids take an embedding lookup, which equals the one-hot product exactly at a fraction of
        its cost; one-hots take one (B L, V) x (V, reps emb) matrix product (an einsum over the
        4-D tensor ran ~3x slower on the CPU)."""
        b, length = x.shape[:2]
        table = self.embeddings.permute(1, 0, 2).reshape(self.embeddings.shape[1], -1)  # (V, reps * emb)
        if x.dtype in (torch.int32, torch.int64):
            e = F.embedding(x, table)
        else:
            e = (x.reshape(b * length, -1) @ table).reshape(b, length, -1)
        e = e.reshape(b, length, self.reps, self.emb_dim).permute(0, 2, 1, 3).reshape(b * self.reps, 1, length, self.emb_dim)
        feats = torch.cat([F.relu(conv(e)).squeeze(3).amax(2) for conv in self.convs], 1)
        t = torch.sigmoid(self.gate(feats))  # highway layer
        feats = t * F.relu(self.transform(feats)) + (1 - t) * feats
        return self.head(feats).squeeze(1)
