"""Checkpoints: one safetensors file each, written atomically, never pickle.

A checkpoint holds every tensor of the run (G, D, G_ema, optimiser moments, RNG states as uint8
tensors) and one JSON document in the safetensors metadata (step, config, data facts, optimiser
hyper-parameters, python ``random`` state, best metric). Loading therefore executes no code from
the file.

Crash safety: the file is written under a temporary name in the same folder, fsynced, renamed
over its final name (atomic on POSIX), and the folder is fsynced. A SIGKILL at any moment leaves
either the old set of checkpoints or the old set plus a complete new one; stray temporary files
are ignored by readers and removed by the next save.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from ..atomic import write_atomic
from ..errors import RunError

FORMAT = 1
SUBDIR = "checkpoints"
BEST = "best.safetensors"
_STEP_RE = re.compile(r"^step_(\d+)\.safetensors$")


def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / SUBDIR


def step_path(run_dir: str | Path, step: int) -> Path:
    return checkpoint_dir(run_dir) / f"step_{step:09d}.safetensors"


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Step checkpoints, oldest first (temporary and ``best`` files excluded)."""
    d = checkpoint_dir(run_dir)
    if not d.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in d.iterdir() if (m := _STEP_RE.match(p.name))]
    return [p for _, p in sorted(found)]


def step_of(path: Path) -> int:
    """The step a ``step_N.safetensors`` file was saved at."""
    m = _STEP_RE.match(path.name)
    if m is None:
        raise ValueError(f"{path.name} is not a step checkpoint")
    return int(m.group(1))


def has_checkpoints(run_dir: str | Path) -> bool:
    return bool(list_checkpoints(run_dir)) or (checkpoint_dir(run_dir) / BEST).is_file()


def digest(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes, in name order: flipped bytes
    anywhere in the tensor data change it (safetensors itself checks only the header)."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


# ---- writing -------------------------------------------------------------------------------
def save(path: str | Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Atomically and durably write ``tensors`` + JSON ``meta`` to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Left by a killed writer: ours (".step_….safetensors.XXXX.tmp.safetensors", older
    # versions' ".tmp-…") and the one safetensors itself makes while writing (".tmpXXXXXX",
    # Rust's tempfile crate). This directory holds only our files.
    for stale in [*path.parent.glob(".tmp*"), *path.parent.glob(".*.tmp.safetensors")]:
        stale.unlink(missing_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    meta = {"format": FORMAT, **meta, "sha256": digest(tensors)}
    write_atomic(path, lambda tmp: save_file(tensors, tmp, metadata={"ganforge": json.dumps(meta)}), durable=True)


def rotate(run_dir: str | Path, keep_last: int) -> None:
    """Delete all but the newest ``keep_last`` step checkpoints (``best`` is a separate file)."""
    for old in list_checkpoints(run_dir)[:-keep_last]:
        old.unlink(missing_ok=True)


# ---- reading -------------------------------------------------------------------------------
def load(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint; RunError naming the file when it is missing, truncated or foreign."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            raw = (f.metadata() or {}).get("ganforge")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except FileNotFoundError:
        raise RunError(f"{path}: no such checkpoint") from None
    except Exception as e:  # safetensors raises several types for truncated/garbage files
        raise RunError(f"{path}: unreadable checkpoint ({str(e).splitlines()[0][:120] if str(e) else type(e).__name__})") from None
    try:
        meta = json.loads(raw) if raw else None
    except json.JSONDecodeError:
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise RunError(f"{path}: not a ganforge checkpoint (format {FORMAT} metadata missing)")
    # Checkpoints written before digests existed have none; every newer one is verified.
    if "sha256" in meta and meta["sha256"] != digest(tensors):
        raise RunError(f"{path}: damaged checkpoint (its tensor data do not match the stored sha256)")
    step = meta.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise RunError(f"{path}: invalid checkpoint metadata (step {step!r})")
    broken = next((k for k, t in tensors.items() if t.is_floating_point() and not torch.isfinite(t).all()), None)
    if broken is not None:  # a diverged run: resuming or exporting it would only spread NaN
        raise RunError(f"{path}: checkpoint holds non-finite values ({broken}); the run diverged here")
    return tensors, meta


def load_latest(run_dir: str | Path, warn=print) -> tuple[Path, dict[str, torch.Tensor], dict[str, Any]]:
    """The newest readable step checkpoint. An unreadable newer one (e.g. damaged by a disk
    fault) is reported through ``warn`` and the next older one used."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: no such run directory")
    candidates = list_checkpoints(run_dir)
    if not candidates:
        raise RunError(f"{run_dir}: no checkpoint in this run directory (expected {SUBDIR}/step_*.safetensors)")
    first_error: RunError | None = None
    for path in reversed(candidates):
        try:
            tensors, meta = load(path)
        except RunError as e:
            first_error = first_error or e
            warn(f"warning: skipping {e}")
            continue
        return path, tensors, meta
    assert first_error is not None
    raise first_error


# ---- module / optimiser state <-> flat tensors + JSON -------------------------------------------
def module_tensors(prefix: str, module: nn.Module) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v for k, v in module.state_dict().items()}


def load_module(prefix: str, module: nn.Module, tensors: dict[str, torch.Tensor], source: Path) -> None:
    sd = {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
    try:
        module.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0][:160]
        raise RunError(f"{source}: checkpoint does not match the network ({prefix}: {first})") from None


def optimizer_state(prefix: str, opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split ``opt.state_dict()`` into tensors and a JSON-able rest."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}.{idx}.{key}"] = value
            else:
                scalars.setdefault(str(idx), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def load_optimizer(prefix: str, opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                   info: dict[str, Any], source: Path) -> None:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "."):
            idx, key = name[len(prefix) + 1:].split(".", 1)
            state.setdefault(int(idx), {})[key] = value
    for idx, scalars in info.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(scalars)
    groups = info["param_groups"]
    # JSON turns tuples (Adam's betas) into lists; give them back their type
    for saved, current in zip(groups, opt.param_groups, strict=False):
        for k, v in current.items():
            if isinstance(v, tuple) and isinstance(saved.get(k), list):
                saved[k] = tuple(saved[k])
    try:
        opt.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError, RuntimeError) as e:
        raise RunError(f"{source}: optimiser state does not match the network ({e})") from None
