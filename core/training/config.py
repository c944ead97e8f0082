"""TrainConfig: everything needed to re-create a run, saved as ``config.json`` in the run dir.

Torch-free on purpose: the CLI builds and validates a config before deciding to import torch.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..atomic import write_text_atomic
from ..errors import RunError
from ..limits import DEVICES

#: The engine's GAN losses (implemented in :mod:`.losses`; named here so the CLI can offer them
#: without importing torch).
LOSSES = ("ns_r1", "hinge", "wgan_gp")
AUGMENTS = ("translate", "color", "cutout")
MAX_BATCH = 4096
MAX_CROP = 4096

#: Fields a resumed run takes from the command line rather than from the saved config: how long
#: to run and how to execute/report, never what is learned.
RUNTIME_FIELDS = ("steps", "minutes", "out", "device", "amp", "channels_last", "sample_every", "log_every",
                  "checkpoint_every", "checkpoint_minutes", "keep_last", "patience")

#: ``steps`` of a run bounded by time alone (``--minutes`` without ``--steps``): never reached.
UNBOUNDED_STEPS = 10**12


@dataclass
class TrainConfig:
    modality: str = "texture"
    family: str = "texture"
    data: str = "builtin:skimage"
    out: str = "runs/texture"
    steps: int = 20_000
    #: wall-clock budget of one invocation (this many minutes of training, then a checkpoint and
    #: a clean stop; a resume with ``minutes`` trains that many more); None: ``steps`` alone decides
    minutes: float | None = None
    seed: int = 0
    device: str = "auto"
    batch: int = 16
    crop: int = 128
    #: 2e-4 (DCGAN's): the networks use plain convs without StyleGAN's equalised learning rate,
    #: and at 2e-3 they collapse to a flat image within a few dozen steps at small batches.
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: list[float] = field(default_factory=lambda: [0.0, 0.99])
    #: from this step on both learning rates fall as sqrt(lr_decay_steps / step) (0: constant).
    #: A function of the step alone, so a resumed, a staged and a one-go run train alike
    lr_decay_steps: int = 0
    #: None = the family's default ("ns_r1" for textures)
    loss: str | None = None
    r1_gamma: float = 1.0
    #: lazy R1: penalise every N discriminator steps, scaled by N (StyleGAN2); 1 = every step
    r1_every: int = 16
    gp_weight: float = 10.0
    #: EMA of G with this half-life in images (StyleGAN2's ema_kimg); 0 disables the average
    ema_half_life_images: float = 10_000.0
    #: early on the half-life is capped at this fraction of images seen, so short runs average too
    ema_rampup: float = 0.05
    #: DiffAugment ops applied to real and fake for both D and G steps. "translate" rolls with
    #: wrap-around; it is off by default for textures because a rolled *real* crop gains a seam
    #: that a periodic fake never has, which the discriminator can learn to spot.
    augment: list[str] = field(default_factory=lambda: ["color", "cutout"])
    amp: bool = True
    channels_last: bool = True
    sample_every: int = 500
    log_every: int = 50
    checkpoint_every: int = 1000
    checkpoint_minutes: float = 10.0
    keep_last: int = 3
    #: early stopping: end the run once this many sample evaluations in a row have not bettered
    #: the best metric (0: train all ``steps``); the best checkpoint is the early-stopped model
    patience: int = 0
    model: dict[str, Any] = field(default_factory=dict)
    data_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.betas = [float(b) for b in self.betas]
        self.augment = list(self.augment)

    def validate(self) -> None:
        """Raise RunError (one line) on an option outside its range."""
        def bad(msg: str) -> RunError:
            return RunError(f"invalid training option: {msg}")

        if self.loss is not None and self.loss not in LOSSES:
            raise bad(f"loss {self.loss!r} (choose from {', '.join(LOSSES)})")
        unknown = [a for a in self.augment if a not in AUGMENTS]
        if unknown:
            raise bad(f"augment {unknown[0]!r} (choose from {', '.join(AUGMENTS)})")
        if self.device not in DEVICES:
            raise bad(f"device {self.device!r} (choose from {', '.join(DEVICES)})")
        for name in ("steps", "batch", "crop", "r1_every", "sample_every", "log_every", "checkpoint_every",
                     "keep_last"):
            if int(getattr(self, name)) < 1:
                raise bad(f"{name} must be at least 1 (got {getattr(self, name)})")
        if self.minutes is not None and not (isinstance(self.minutes, (int, float))
                                             and not isinstance(self.minutes, bool)
                                             and math.isfinite(self.minutes) and self.minutes > 0):
            raise bad(f"minutes must be a number above 0 (got {self.minutes!r})")
        if int(self.lr_decay_steps) < 0:
            raise bad(f"lr_decay_steps must be 0 (constant) or more (got {self.lr_decay_steps})")
        if int(self.patience) < 0:
            raise bad(f"patience must be 0 (off) or more (got {self.patience})")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise bad(f"betas must be two numbers in [0, 1) (got {self.betas})")
        for name in ("lr_g", "lr_d", "r1_gamma", "gp_weight", "ema_half_life_images", "ema_rampup"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0 or (name.startswith("lr") and value == 0):
                raise bad(f"{name} must be a finite number {'above' if name.startswith('lr') else 'of at least'} 0 "
                          f"(got {value})")
        if not 0 <= int(self.seed) < 2**63:  # the engine's RNG streams take 63-bit seeds
            raise bad(f"seed must be between 0 and 2^63-1 (got {self.seed})")
        for name, most in (("batch", MAX_BATCH), ("crop", MAX_CROP)):
            if int(getattr(self, name)) > most:  # refused before any allocation, not by the allocator
                raise bad(f"{name} must be at most {most} (got {getattr(self, name)})")

    # ---- (de)serialisation -------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        extra = sorted(set(d) - known)
        if extra:
            raise RunError(f"unknown training option(s) in config: {', '.join(extra)}")
        return cls(**d)

    def save(self, path: str | Path) -> None:
        """Write JSON atomically (see :mod:`ganforge.core.atomic`)."""
        write_text_atomic(path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        path = Path(path)
        try:
            d = json.loads(path.read_text())
        except FileNotFoundError:
            raise RunError(f"{path}: no such config file") from None
        except (OSError, json.JSONDecodeError) as e:
            raise RunError(f"{path}: unreadable training config ({e})") from None
        if not isinstance(d, dict):
            raise RunError(f"{path}: training config must be a JSON object")
        try:
            return cls.from_dict(d)
        except RunError as e:
            raise RunError(f"{path}: {e}") from None
        except TypeError as e:
            raise RunError(f"{path}: malformed training config ({e})") from None


def resume_config(saved: TrainConfig, given: dict[str, Any], run: str | Path,
                  label: Callable[[str], str] | None = None) -> TrainConfig:
    """The config a resumed run trains with — the one rule the CLI and :func:`.run.train` share.

    ``saved`` is the run's config; ``given`` maps field names to what this invocation asks for
    (the CLI: the options typed on the command line; the Python API: every field of its
    config). :data:`RUNTIME_FIELDS` (how long and how to run) are taken from ``given``; any
    other field must equal the saved value, else RunError naming it (``label(field)``, e.g.
    ``--lr``): what is learned cannot change in the middle of a run, and an ignored option
    would be a silent lie. Values are compared as ``config.json`` stores them (JSON).
    """
    label = label or (lambda name: name)

    def stored(value: Any) -> Any:
        return json.loads(json.dumps(value))

    unknown = sorted(set(given) - {f.name for f in fields(TrainConfig)})
    if unknown:
        raise RunError(f"unknown training option(s): {', '.join(unknown)}")
    if "modality" in given and given["modality"] != saved.modality:
        raise RunError(f"{run}: is a {saved.modality!r} run, not {given['modality']!r}")
    merged = TrainConfig.from_dict(saved.to_dict())  # a deep copy: ``saved`` stays as it was
    for name, value in given.items():
        if name in RUNTIME_FIELDS:
            setattr(merged, name, value)
        elif stored(value) != stored(getattr(saved, name)):
            raise RunError(f"{label(name)} cannot change when resuming {run} (saved: {getattr(saved, name)!r}, "
                           f"given: {value!r})")
    return merged
