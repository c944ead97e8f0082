"""The music model family: MuseGAN-style generator conditioned on the previous bar, hinge loss.

Pack inputs, in draw order: ``z`` (shared), ``z_tracks`` (one per track), ``z_bars`` (one per bar;
the bar count is the symbolic dimension ``bars``), then ``condition``: the previous bar as 0/1
``(batch, tracks, steps_per_bar, pitches)``, passed by the host (zeros = start from silence).
Output ``roll``: note probabilities in [0, 1], ``(batch, tracks, bars * steps_per_bar, pitches)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ...atomic import write_atomic
from ...pack import InputSpec, OutputSpec
from ...training.family import Family
from .model import MusicDiscriminator, MusicGenerator, pitch_classes

# Small on purpose: MIDI sets are small (JSB: ~2,900 four-bar windows) and training runs on CPUs.
# d_streams: D also reads onsets, pitch classes and beat position (MuseGAN's extra streams).
# d_mbstd: D sees how much the samples of a batch differ (against mode collapse).
# mode_seeking: weight of MSGAN's term (Mao et al. 2019): two latents for the same previous bar
# must give different bars. Without it every run collapsed to one phrase per condition.
# note_stats: weight of a statistics term for G: the distributions, over steps, of how many notes
# sound and of which pitch classes, against the real batch's (sliced Wasserstein); 0: none.
# Without it G played ~5.6 voices where Bach writes 3.9, and drifted from the data after its first
# few hundred steps (benchmarks/RESULTS.md, Music).
DEFAULTS: dict[str, Any] = {"z_dim": 32, "cond_dim": 64, "channels": 64, "d_channels": 64, "d_streams": True,
                            "d_mbstd": True, "mode_seeking": 1.0, "note_stats": 1.0}

#: what a run saved before each option existed meant by its absence (Family.added_later)
ADDED_LATER: dict[str, Any] = {"note_stats": 0.0}


class MusicExport(nn.Module):
    """(z, z_tracks, z_bars, condition in {0, 1}) -> note probabilities in [0, 1]."""

    def __init__(self, G: MusicGenerator) -> None:
        super().__init__()
        self.G = G

    def forward(self, z: torch.Tensor, z_tracks: torch.Tensor, z_bars: torch.Tensor,
                condition: torch.Tensor) -> torch.Tensor:
        return (self.G(z, z_tracks, z_bars, condition * 2 - 1) + 1) * 0.5


class MusicFamily(Family):
    loss = "hinge"
    takes_labels = True  # its "labels" are each bar's condition: the previous bar
    eval_batch = 64
    defaults = DEFAULTS
    added_later = ADDED_LATER
    honours = tuple(o for o in Family.honours if o != "crop")
    instead = {"crop": "a music sample's length is --bars, its height --pitches"}

    def __init__(self, options: dict[str, Any], data_info: dict[str, Any]) -> None:
        super().__init__(self.complete_options(options), data_info)
        self.tracks = int(data_info.get("tracks", 1))
        self.pitches = int(data_info.get("pitches", 48))
        self.steps_per_beat = int(data_info.get("steps_per_beat", 4))
        self.steps_per_bar = 4 * self.steps_per_beat
        self.bars = int(data_info.get("bars", 4))

    def build_generator(self) -> MusicGenerator:
        o = self.options
        return MusicGenerator(self.tracks, self.pitches, self.steps_per_bar, o["z_dim"], o["cond_dim"], o["channels"])

    def build_discriminator(self) -> MusicDiscriminator:
        return MusicDiscriminator(self.tracks, self.pitches, self.options["d_channels"],
                                  int(self.data_info.get("low", 0)), self.steps_per_beat,
                                  bool(self.options["d_streams"]), bool(self.options["d_mbstd"]))

    def sample_inputs(self, batch: int, gen: torch.Generator, device: torch.device,
                      labels: torch.Tensor | None = None, bars: int | None = None) -> dict[str, torch.Tensor]:
        zd = self.options["z_dim"]
        z = torch.randn(batch, zd, generator=gen)
        z_tracks = torch.randn(batch, self.tracks, zd, generator=gen)
        z_bars = torch.randn(batch, bars or self.bars, zd, generator=gen)
        if labels is None:  # outside training: start from silence
            labels = -torch.ones(batch, self.tracks, self.steps_per_bar, self.pitches)
        return {"z": z.to(device), "z_tracks": z_tracks.to(device), "z_bars": z_bars.to(device),
                "condition": labels.to(device)}

    def generator_penalty(self, G: nn.Module, fake: torch.Tensor, inputs: dict[str, torch.Tensor],
                          real: torch.Tensor | None = None, step: int = 0,
                          D: nn.Module | None = None) -> torch.Tensor | None:
        """MSGAN's mode-seeking term, plus the note-statistics term when ``note_stats`` > 0.

        Mode seeking: half the batch is generated again from the same previous bars with
        another sample's latents; the term is the inverse of how far apart the two results are
        per unit of latent distance (large when G ignores its latents). Note statistics: per
        step and track, the number of sounding notes and the pitch-class profile of the fakes'
        note probabilities against the real bars' (sliced Wasserstein, seeded by the step)."""
        terms = []
        weight, b = float(self.options["mode_seeking"]), fake.shape[0]
        if weight > 0 and b >= 2:
            h = b // 2
            other = torch.arange(h, device=fake.device) + h  # no new randomness: resume stays exact
            latents = ("z", "z_tracks", "z_bars")
            again = G(**{k: inputs[k][other] if k in latents else inputs[k][:h] for k in inputs})
            z = torch.cat([inputs[k].flatten(1) for k in latents], dim=1)
            apart = (fake[:h] - again).abs().mean(dim=(1, 2, 3))
            dz = (z[:h] - z[other]).abs().mean(dim=1)
            terms.append(weight / ((apart / dz).mean() + 1e-5))
        stats = float(self.options["note_stats"])
        if stats > 0 and real is not None:
            from ...training.sliced import sliced_w2

            gen = torch.Generator().manual_seed(step)
            a, r = self._note_features(fake), self._note_features(real)
            terms.append(stats * sum(sliced_w2(x, y, gen) for x, y in zip(a, r, strict=True)))
        return sum(terms) if terms else None

    def _note_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, T, L, P) in [-1, 1] -> per step: (B L, T) sounding counts and (B L, T 12)
        pitch-class profiles."""
        on = (x.float() + 1) * 0.5
        chroma = pitch_classes(self.pitches, int(self.data_info.get("low", 0))).to(x.device)
        counts = on.sum(-1).permute(0, 2, 1).reshape(-1, on.shape[1])
        classes = (on @ chroma).permute(0, 2, 1, 3).reshape(-1, on.shape[1] * 12)
        return [counts, classes]

    def discriminate(self, D: nn.Module, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        if labels is None:
            labels = -torch.ones(x.shape[0], self.tracks, self.steps_per_bar, self.pitches, device=x.device)
        return D(x, labels)

    #: no image augmentation: colour jitter and cutout of a piano-roll make notes half-on and D's
    #: task meaningless, and translation would move bar lines
    augment_ops: list[str] = []

    # ---- export ------------------------------------------------------------------------------
    def export_module(self, G: nn.Module) -> nn.Module:
        return MusicExport(G).eval()

    def pack_inputs(self) -> list[InputSpec]:
        zd = self.options["z_dim"]
        return [
            InputSpec("z", ["batch", zd], "float32", "normal", "shared latent (all tracks, all bars)"),
            InputSpec("z_tracks", ["batch", self.tracks, zd], "float32", "normal", "one latent per track"),
            InputSpec("z_bars", ["batch", "bars", zd], "float32", "normal", "one latent per bar (temporal)"),
            InputSpec("condition", ["batch", self.tracks, self.steps_per_bar, self.pitches], "float32", "condition",
                      "the previous bar as 0/1 notes (tracks, steps, pitches); zeros: start from silence"),
        ]

    def pack_outputs(self) -> list[OutputSpec]:
        return [OutputSpec("roll", "NTLP", [0.0, 1.0], "note probability per track, step and pitch")]

    def decoder_settings(self) -> dict[str, Any]:
        d = self.data_info
        return {"steps_per_beat": self.steps_per_beat, "bars": self.bars, "beats_per_bar": 4,
                "low": int(d.get("low", 36)), "pitches": self.pitches,
                "track_names": list(d.get("track_names", ["piano"])), "programs": list(d.get("programs", [0])),
                "drums": list(d.get("drums", [False])), "threshold": 0.5,
                "min_note_steps": int(d.get("min_note_steps", 1))}

    def example_inputs(self, batch: int, dims: dict[str, int], seed: int = 0) -> tuple[torch.Tensor, ...]:
        gen = torch.Generator().manual_seed(seed)
        zd = self.options["z_dim"]
        cond = (torch.rand(batch, self.tracks, self.steps_per_bar, self.pitches, generator=gen) < 0.1).float()
        return (torch.randn(batch, zd, generator=gen), torch.randn(batch, self.tracks, zd, generator=gen),
                torch.randn(batch, dims.get("bars", self.bars), zd, generator=gen), cond)

    def export_dims(self) -> dict[str, int]:
        return {"bars": max(self.bars, 2)}

    def parity_dims(self) -> list[dict[str, int]]:
        return [{"bars": 1}, {"bars": 7}]

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        return {"z": {0: "batch"}, "z_tracks": {0: "batch"}, "z_bars": {0: "batch", 1: "bars"},
                "condition": {0: "batch"}}

    # ---- training-time quality -----------------------------------------------------------------
    @torch.no_grad()
    def sample_rolls(self, G: nn.Module, count: int, seed: int, condition: torch.Tensor | None = None) -> np.ndarray:
        """``count`` samples as note probabilities (N, T, L, P) in [0, 1]."""
        gen = torch.Generator().manual_seed(seed)
        device = next(G.parameters()).device
        inputs = self.sample_inputs(count, gen, device, condition)
        return ((G(**inputs) + 1) / 2).float().cpu().numpy()

    def evaluate(self, G: nn.Module, real: Any, seed: int) -> dict[str, float]:
        """Gap between the music statistics of EMA samples (decoded like a pack's) and of the
        real batch — the validation split's, where the data has one — continuing the real
        batch's previous bars: mean relative gap of EB, UPC, QN, scale consistency and diversity
        (so a collapsed generator never looks best) over tracks first (the best checkpoint is
        chosen by it), then the raw values and the note threshold.

        The threshold is chosen here, per checkpoint, so that the samples sound as many notes at
        once as the real batch (a generator that is unsure spreads probability over extra
        pitches, which a fixed 0.5 turns into extra voices); the export records the chosen
        checkpoint's (:meth:`calibrated_decoder`). Chosen on validation bars, it is reported on
        test bars with everything else."""
        from ...metrics.music import mean_of, music_stats

        x, cond = real
        low, drums = int(self.data_info.get("low", 0)), list(self.data_info.get("drums", [False] * self.tracks))
        prob = self.sample_rolls(G, len(x), seed, cond)
        ref = music_stats(x.cpu().numpy() > 0, low, self.steps_per_beat, drums)
        threshold, fake = self.calibrate_threshold(prob, mean_of(ref["polyphony"]))
        got = music_stats(fake, low, self.steps_per_beat, drums)
        pairs = [(mean_of(ref[k]), mean_of(got[k])) for k in ("EB", "UPC", "QN", "scale_consistency")]
        pairs.append((ref["diversity"], got["diversity"]))  # one value, not one per track
        gaps = [1.0 if np.isnan(g) else abs(g - r) / max(abs(r), 0.05) for r, g in pairs]
        return {"stat_gap": float(np.mean(gaps)), "EB": mean_of(got["EB"]), "UPC": mean_of(got["UPC"]),
                "QN": mean_of(got["QN"]), "polyphony": mean_of(got["polyphony"]),
                "scale_consistency": mean_of(got["scale_consistency"]), "diversity": got["diversity"],
                "threshold": threshold}

    def calibrate_threshold(self, prob: np.ndarray, polyphony: float) -> tuple[float, np.ndarray]:
        """The note threshold (0.3-0.9, steps of 0.025) whose decoded notes come closest to
        ``polyphony`` pitches per sounding step, and the notes it gives; 0.5 when the target is
        not a number (a silent batch)."""
        from ...metrics.music import mean_of
        from ...metrics.music import polyphony as measure
        from .codec import DEFAULT_THRESHOLD, threshold_notes

        min_steps = int(self.data_info.get("min_note_steps", 1))
        if not np.isfinite(polyphony):
            return DEFAULT_THRESHOLD, threshold_notes(prob, DEFAULT_THRESHOLD, min_steps=min_steps)
        best: tuple[float, float, np.ndarray] | None = None
        for t in np.round(np.arange(0.3, 0.9001, 0.025), 3):
            notes = threshold_notes(prob, float(t), min_steps=min_steps)
            got = mean_of(measure(notes)[0])
            miss = abs(got - polyphony) if np.isfinite(got) else np.inf
            if best is None or miss < best[1] - 1e-9:  # ties: the lower threshold (keeps more notes)
                best = (float(t), miss, notes)
        assert best is not None
        return best[0], best[2]

    def calibrated_decoder(self, settings: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
        t = metrics.get("threshold")
        if isinstance(t, (int, float)) and 0 < t < 1:
            return {**settings, "threshold": round(float(t), 3)}
        return settings

    def write_samples(self, G: nn.Module, path: Path, seed: int, real: torch.Tensor | None = None) -> None:
        """Four samples' piano-rolls stacked (decoded with the default threshold)."""
        from PIL import Image

        from .codec import Settings, threshold_notes, velocities
        from .render import pianoroll_image

        d = self.decoder_settings()
        s = Settings(self.steps_per_beat, self.bars, d["low"], self.pitches, d["track_names"], d["programs"], d["drums"])
        prob = self.sample_rolls(G, 4, seed)
        vel = velocities(prob, threshold_notes(prob, min_steps=d["min_note_steps"]))
        images = [pianoroll_image(v, s) for v in vel]
        gap = np.full((6, images[0].shape[1], 3), 255, np.uint8)
        write_atomic(path, Image.fromarray(np.concatenate([x for img in images for x in (img, gap)][:-1])).save)
