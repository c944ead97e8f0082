"""MuseGAN-style networks for multi-track piano-rolls, conditioned on the previous bar.

Latents (MuseGAN's "hybrid" model): ``z`` shared by all tracks and bars, ``z_tracks`` one per
track, ``z_bars`` one per bar shared by the tracks, passed through a temporal network (1-D
convolutions over the bar axis) so consecutive bars are related. A conditioner (like MidiNet's)
encodes the previous bar — its overall content and its last step, so a held note can continue —
into a vector every bar sees. The generator is fully convolutional over time: any number of bars
comes out of one run (the bar count is a symbolic dimension of the pack).

Shapes: rolls are ``(B, tracks, time, pitches)`` in [-1, 1] (1 = note sounding).
"""

from __future__ import annotations

import torch
from torch import nn


def _act() -> nn.Module:
    return nn.LeakyReLU(0.2)


class Conditioner(nn.Module):
    """Previous bar ``(B, T, S, P)`` -> ``(B, cond_dim)``."""

    def __init__(self, tracks: int, pitches: int, cond_dim: int, channels: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv1d(tracks * pitches, channels, 3, padding=1), _act(),
            nn.Conv1d(channels, channels, 4, stride=2, padding=1), _act(),
        )
        self.last = nn.Linear(tracks * pitches, channels)  # what sounds at the bar's end
        self.out = nn.Linear(2 * channels, cond_dim)

    def forward(self, prev: torch.Tensor) -> torch.Tensor:
        x = prev.transpose(2, 3).flatten(1, 2)  # (B, T*P, S)
        pooled = self.conv(x).mean(dim=2)
        return self.out(torch.cat([pooled, torch.relu(self.last(x[:, :, -1]))], dim=1))


class MusicGenerator(nn.Module):
    def __init__(self, tracks: int, pitches: int, steps_per_bar: int, z_dim: int = 32, cond_dim: int = 64,
                 channels: int = 128, track_dim: int = 16) -> None:
        super().__init__()
        self.tracks, self.pitches, self.z_dim = tracks, pitches, z_dim
        self.temporal = nn.Sequential(nn.Conv1d(z_dim, z_dim, 3, padding=1), _act(),
                                      nn.Conv1d(z_dim, z_dim, 3, padding=1))
        self.conditioner = Conditioner(tracks, pitches, cond_dim, channels)
        self.track_embed = nn.Parameter(torch.randn(tracks, track_dim) * 0.5)
        width = 3 * z_dim + cond_dim + track_dim
        c = channels
        # bar -> beats; the network thinks in beats first, then refines steps: notes come out
        # held for whole beats unless the last layers choose otherwise (no fragmented notes)
        per_beat = steps_per_bar // 4  # 4/4: four beats per bar
        self.seed = nn.Sequential(nn.ConvTranspose1d(width, c, 4, stride=4), _act())
        self.up1 = nn.Sequential(nn.Conv1d(c, c, 3, padding=1), _act())
        # tracks listen to each other here (harmony), after which each track is refined alone
        self.mix = nn.Sequential(nn.Conv1d(tracks * c, tracks * c, 3, padding=1), _act())
        self.up2 = nn.Sequential(nn.Upsample(scale_factor=per_beat, mode="nearest") if per_beat > 1 else nn.Identity(),
                                 nn.Conv1d(c, c // 2, 3, padding=1), _act())
        self.head = nn.Conv1d(c // 2, pitches, 3, padding=1)
        self._init_weights()

    def _init_weights(self) -> None:
        # PyTorch's default init shrinks the signal at every layer while its biases do not: at
        # init the output's spread over latents was 0.006 (of 1), so the generator started out
        # ignoring its inputs and training collapsed to one phrase for every seed (measured).
        # He init for the leaky-ReLU layers and zero biases keep the latents' variation
        # (spread 0.25); Glorot for the head keeps tanh out of saturation.
        for m in self.modules():
            if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, a=0.2, nonlinearity="leaky_relu")
                nn.init.zeros_(m.bias)
        nn.init.xavier_normal_(self.head.weight)

    def forward(self, z: torch.Tensor, z_tracks: torch.Tensor, z_bars: torch.Tensor,
                condition: torch.Tensor) -> torch.Tensor:
        """z (B, Z), z_tracks (B, T, Z), z_bars (B, bars, Z), condition (B, T, S, P) in [-1, 1]
        -> (B, T, bars * S, P) in [-1, 1]."""
        b, t = z.shape[0], self.tracks
        temporal = self.temporal(z_bars.transpose(1, 2))  # (B, Z, bars)
        cond = self.conditioner(condition)  # (B, cond_dim)
        shared = torch.cat([z, cond], dim=1)[:, None, :, None]  # (B, 1, Z+C, 1)
        per_bar = temporal[:, None]  # (B, 1, Z, bars)
        per_track = torch.cat([z_tracks, self.track_embed[None].expand(b, -1, -1)], dim=2)[..., None]
        ones = torch.ones_like(temporal[:, :1, :])[:, None]  # (B, 1, 1, bars)
        v = torch.cat([shared.expand(-1, t, -1, -1) * ones, per_bar.expand(-1, t, -1, -1),
                       per_track * ones], dim=2)  # (B, T, width, bars)
        x = self.up1(self.seed(v.flatten(0, 1)))  # (B*T, C, L')
        x = x.unflatten(0, (-1, t)).flatten(1, 2)  # (B, T*C, L')
        x = self.mix(x).unflatten(1, (t, -1)).flatten(0, 1)
        x = torch.tanh(self.head(self.up2(x)))  # (B*T, P, L)
        return x.unflatten(0, (-1, t)).transpose(2, 3)


def pitch_classes(pitches: int, low: int) -> torch.Tensor:
    """(pitches, 12) one-hot: the pitch class of each roll row (row 0 is MIDI pitch ``low``);
    ``roll @ pitch_classes`` sums a step's notes per class."""
    m = torch.zeros(pitches, 12)
    m[torch.arange(pitches), (low + torch.arange(pitches)) % 12] = 1.0
    return m


class MusicDiscriminator(nn.Module):
    """Scores ``bars`` given the previous bar: both are read as one sequence over time.

    Besides the piano-roll it reads what MuseGAN's discriminator streams read: onsets (a note
    starting where it was silent — fragmented notes are onsets in odd places), pitch classes
    (chroma: how many keys a bar uses) and, so an onset can be judged by where it falls, the
    position of each step within its beat.
    """

    def __init__(self, tracks: int, pitches: int, channels: int = 128, low: int = 0,
                 steps_per_beat: int = 4, streams: bool = True, mbstd: bool = True) -> None:
        super().__init__()
        self.streams, self.mbstd = streams, mbstd
        c = channels
        self.register_buffer("chroma", pitch_classes(pitches, low), persistent=False)
        self.steps_per_beat = steps_per_beat
        features = tracks * (2 * pitches + 12) + steps_per_beat if streams else tracks * pitches
        self.net = nn.Sequential(
            nn.Conv1d(features, c, 3, padding=1), _act(),
            nn.Conv1d(c, c, 4, stride=2, padding=1), _act(),
            nn.Conv1d(c, 2 * c, 4, stride=2, padding=1), _act(),
            nn.Conv1d(2 * c, 2 * c, 3, padding=1), _act(),
        )
        self.out = nn.Linear(4 * c + int(mbstd), 1)

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        roll = torch.cat([condition, x], dim=2)  # (B, T, S + L, P) in [-1, 1]
        if not self.streams:
            return self._score(roll.transpose(2, 3).flatten(1, 2))
        on = (roll + 1) * 0.5
        onsets = torch.relu(on - torch.cat([torch.zeros_like(on[:, :, :1]), on[:, :, :-1]], dim=2))
        chroma = (on @ self.chroma).clamp(max=1.0)  # (B, T, S + L, 12)
        b, _, steps, _ = on.shape
        phase = torch.arange(steps, device=on.device) % self.steps_per_beat
        beat = nn.functional.one_hot(phase, self.steps_per_beat).to(on.dtype).T.expand(b, -1, -1)
        seq = torch.cat([on.transpose(2, 3).flatten(1, 2), onsets.transpose(2, 3).flatten(1, 2),
                         chroma.transpose(2, 3).flatten(1, 2), beat], dim=1)  # (B, features, S + L)
        return self._score(seq)

    def _score(self, seq: torch.Tensor) -> torch.Tensor:
        h = self.net(seq)
        pooled = [h.mean(dim=2), h.amax(dim=2)]
        if self.mbstd:
            pooled.append(_minibatch_std(h))
        return self.out(torch.cat(pooled, dim=1))


def _minibatch_std(h: torch.Tensor, group: int = 4) -> torch.Tensor:
    """ProGAN's minibatch standard deviation, one feature per sample: how much the samples of
    its group differ. A collapsed generator's batch has none, which D sees at once; without it
    the music GAN settled on one phrase for every seed within a few hundred steps (measured)."""
    b = h.shape[0]
    g = max(k for k in range(1, min(group, b) + 1) if b % k == 0)
    y = h.reshape(g, b // g, *h.shape[1:])
    std = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2))  # (b // g,)
    return std.repeat(g)[:, None]
