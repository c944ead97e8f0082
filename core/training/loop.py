"""The training loop, shared by every modality. Read it top to bottom.

    while step < steps:
        one D step + one G step + EMA            (Trainer.step, trainer.py)
        every log_every:        a line in log.jsonl, the progress bar
        every sample_every:     samples/step_N.png from G_ema + the family's metric;
                                checkpoints/best.safetensors when the metric improves
        every checkpoint_every / checkpoint_minutes, at the end, and on SIGINT/SIGTERM:
                                checkpoints/step_N.safetensors (atomic), keep the last K
        once ``minutes`` of wall-clock time have passed (this invocation):
                                the same as the end: samples, a checkpoint, a "time_budget" event

A signal never interrupts a step: the handler only sets a flag, the current step finishes, a
checkpoint is written and ``fit`` returns ``interrupted=True``. The time budget works the same
way (``out_of_time=True``). Under torchrun the flags are OR-ed over ranks each step so all ranks
stop and save at the same step; only rank 0 writes files.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from . import checkpoint as ckpt
from .config import TrainConfig
from .distributed import any_flags, gather_objects
from .trainer import Trainer

EVAL_SEED_OFFSET = 7_919  # the fixed real batch the metric compares against
EVAL_BATCH = 32


class StopFlag:
    """SIGINT/SIGTERM set ``requested``; a second SIGINT aborts at once (KeyboardInterrupt)."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.requested, self.say = False, say
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        self.say(f"{signal.Signals(signum).name}: finishing this step, then saving a checkpoint "
                 "(press Ctrl-C again to abort without saving)")

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():  # signals only work there
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def save_checkpoint(trainer: Trainer, path: Path, static_meta: dict[str, Any], extra: dict[str, Any]) -> None:
    """Collective under torchrun (every rank's RNG state is gathered); rank 0 writes."""
    rng = gather_objects(trainer.rng_state(), trainer.dist)
    if not trainer.dist.is_main:
        return
    tensors, meta = trainer.state()
    for rank, states in enumerate(rng):
        for name, state in states.items():
            tensors[f"rng.{name}.rank{rank}"] = state
    meta.update(static_meta)
    meta.update(extra)
    meta.update(world_size=trainer.dist.world_size, saved_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    ckpt.save(path, tensors, meta)


def fit(trainer: Trainer, cfg: TrainConfig, run_dir: Path, static_meta: dict[str, Any],
        best: dict[str, Any] | None = None, progress: bool = True,
        say: Callable[[str], None] = print) -> tuple[int, bool, bool]:
    """Train until ``cfg.steps`` or ``cfg.minutes``; returns (step reached, interrupted, out_of_time)."""
    from tqdm.auto import tqdm

    dist, main = trainer.dist, trainer.dist.is_main
    family = trainer.family
    # A dataset that holds data out (text lines, music windows, a texture photo's band when
    # asked for) evaluates on those; the rest on a fixed batch of training data.
    eval_sample = getattr(trainer.dataset, "eval_sample", trainer.dataset.sample)
    real_eval = eval_sample(getattr(family, "eval_batch", EVAL_BATCH),
                            torch.Generator().manual_seed(cfg.seed + EVAL_SEED_OFFSET))
    metrics: dict[str, float] = {}
    log = open(run_dir / "log.jsonl", "a") if main else None  # closed in the finally below
    budget = None if cfg.minutes is None else float(cfg.minutes) * 60.0
    if budget is None:
        bar = tqdm(total=cfg.steps, initial=trainer.step_count, unit="step", dynamic_ncols=True,
                   disable=not (progress and main), file=sys.stderr)
    else:  # a time bar: its total is the budget, so the ETA is the time left
        bar = tqdm(total=budget, unit="s", dynamic_ncols=True, disable=not (progress and main),
                   file=sys.stderr, bar_format="{l_bar}{bar}| {elapsed}<{remaining} left{postfix}")
    # the bar's postfix: the step (on a time bar), losses, img/s, the latest metric
    shown: dict[str, str] = {} if budget is None else {"step": str(trainer.step_count)}
    if main and progress:
        def say(msg: str) -> None:  # keeps messages above the bar
            tqdm.write(msg, file=sys.stderr)

    def write_log(record: dict[str, Any]) -> None:
        if log is not None:
            log.write(json.dumps(record) + "\n")
            log.flush()

    def checkpoint(extra_best: bool = False) -> float:
        t = time.monotonic()
        meta = {"best": best, "metrics": metrics}
        path = run_dir / ckpt.SUBDIR / (ckpt.BEST if extra_best else f"step_{trainer.step_count:09d}.safetensors")
        save_checkpoint(trainer, path, static_meta, meta)
        if main and not extra_best:
            ckpt.rotate(run_dir, cfg.keep_last)
            write_log({"event": "checkpoint", "step": trainer.step_count, "path": str(path.relative_to(run_dir))})
        return time.monotonic() - t

    t_start = t_window = last_save = time.monotonic()
    paused, window_steps = 0.0, 0
    interrupted = early = out_of_time = False
    try:
        with StopFlag(say) as stop:
            while trainer.step_count < cfg.steps:
                out = trainer.step()
                step, window_steps = trainer.step_count, window_steps + 1
                now = time.monotonic()
                if budget is None:
                    bar.update(1)
                else:
                    bar.update(max(min(now - t_start, budget) - bar.n, 0.0))
                due = now - last_save >= cfg.checkpoint_minutes * 60
                spent = budget is not None and now - t_start >= budget
                stop_now, due, spent = any_flags([stop.requested, due, spent], dist, trainer.device)
                last = step >= cfg.steps or stop_now or spent

                if step % cfg.log_every == 0 or last:
                    now = time.monotonic()
                    values = {k: round(v.item(), 6) for k, v in out.items()}
                    rate = window_steps * trainer.batch * dist.world_size / max(now - t_window - paused, 1e-9)
                    write_log({"step": step, **values, "images_per_s": round(rate, 2),
                               "time": round(now - t_start, 3)})
                    if budget is not None:
                        shown["step"] = str(step)
                    shown.update({k: f"{v:.3f}" for k, v in values.items()})
                    shown["img/s"] = f"{rate:.1f}"
                    bar.set_postfix(shown, refresh=False)
                    t_window, paused, window_steps = now, 0.0, 0

                if step % cfg.sample_every == 0 or last:
                    t = time.monotonic()
                    improved = False
                    if main:
                        (run_dir / "samples").mkdir(exist_ok=True)
                        family.write_samples(trainer.G_ema, run_dir / "samples" / f"step_{step:06d}.png", cfg.seed,
                                             real=real_eval)
                        metrics = family.evaluate(trainer.G_ema, real_eval, cfg.seed)
                        if metrics:
                            name, value = next(iter(metrics.items()))
                            improved = best is None or value < best["value"]
                            if improved:
                                best = {"metric": name, "value": value, "step": step}
                            if budget is not None:
                                shown["step"] = str(step)
                            shown[name] = f"{value:.4g}"
                            bar.set_postfix(shown, refresh=False)
                        write_log({"event": "sample", "step": step, **metrics})
                    [improved] = any_flags([improved], dist, trainer.device)  # rank 0 decides
                    if improved:
                        checkpoint(extra_best=True)
                    paused += time.monotonic() - t

                # Early stopping, stateless so a resume decides the same: no better metric in
                # the last `patience` evaluations.
                stale = False
                if cfg.patience and step % cfg.sample_every == 0 and not last:
                    stale = best is not None and step - int(best["step"]) >= cfg.patience * cfg.sample_every
                    [stale] = any_flags([stale], dist, trainer.device)  # rank 0 holds `best`
                if stale:
                    if main:
                        say(f"early stop at step {step}: {best['metric']} has not improved on "
                            f"{best['value']:.4g} (step {best['step']}) in {cfg.patience} evaluations")
                    write_log({"event": "early_stop", "step": step, "best": best})
                    last = stop_now = True
                    early = True

                if spent and not stop_now and step < cfg.steps:
                    minutes = (time.monotonic() - t_start) / 60
                    if main:
                        say(f"time budget of {cfg.minutes:g} minutes spent at step {step}: saving a checkpoint")
                    write_log({"event": "time_budget", "step": step, "minutes": cfg.minutes,
                               "elapsed_minutes": round(minutes, 3)})
                    out_of_time = True

                if step % cfg.checkpoint_every == 0 or last or due:
                    paused += checkpoint()
                    last_save = time.monotonic()

                if stop_now:
                    interrupted = step < cfg.steps and not early
                    break
                if out_of_time:
                    break
    finally:
        bar.close()
        if log is not None:
            log.close()
    return trainer.step_count, interrupted, out_of_time
