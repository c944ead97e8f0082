"""Data-parallel training across processes started by ``torchrun`` (RANK/WORLD_SIZE/LOCAL_RANK).

Gradients are averaged with one flat ``all_reduce`` per optimiser step, as StyleGAN2-ADA does,
rather than by wrapping the networks in ``DistributedDataParallel``. The reason is the GAN's
alternating phases: the G step back-propagates *through* D (whose weights must not receive
gradients then), and the R1 penalty needs a double backward through D's input gradient. A DDP
wrapper fires its reducer on every backward that reaches its parameters and refuses
``autograd.grad``-style use, so both phases would need workarounds (``no_sync``,
``find_unused_parameters``). Reducing explicitly after ``backward()`` is exact, simple, and
costs one collective per step — small next to the convolutions of a GAN.

R1 is thus computed on the plain module on every rank, with each rank's own reals; its gradient
is averaged with the rest of D's gradient.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


@dataclass
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False  # we initialised the process group, so we tear it down

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init(device: torch.device) -> Dist:
    """Join the process group torchrun describes in the environment; a no-op when alone."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    owns = False
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        owns = True
    return Dist(rank, world, local, owns)


def select_device(pref: str, d: Dist) -> torch.device:
    """``auto`` = CUDA when available; under torchrun each process takes GPU ``LOCAL_RANK``."""
    want_cuda = pref == "cuda" or (pref == "auto" and torch.cuda.is_available())
    if not want_cuda:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        from ..errors import RunError

        raise RunError("--device cuda was requested but torch sees no CUDA device")
    index = int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count()
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


def shutdown(d: Dist) -> None:
    if d.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_module(module: nn.Module, d: Dist) -> None:
    """Make every rank start from rank 0's weights and buffers."""
    if not d.enabled:
        return
    for t in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(t.data, src=0)


def average_gradients(params: list[nn.Parameter], d: Dist) -> None:
    """Average ``.grad`` over ranks with one flat all_reduce (missing grads count as zero)."""
    if not d.enabled or not params:
        return
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    flat = torch.cat([p.grad.flatten() for p in params])
    dist.all_reduce(flat)
    flat /= d.world_size
    offset = 0
    for p in params:  # copy back in place: keeps each grad's memory format (channels-last)
        n = p.numel()
        p.grad.copy_(flat[offset:offset + n].view(p.grad.shape))
        offset += n


def any_flags(flags: list[bool], d: Dist, device: torch.device) -> list[bool]:
    """Logical OR of each flag over ranks (so every rank stops or checkpoints together)."""
    if not d.enabled:
        return flags
    t = torch.tensor([float(f) for f in flags], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(v) for v in t.tolist()]


def gather_objects(obj: Any, d: Dist) -> list[Any]:
    """Every rank's ``obj`` (a small picklable value sent over the process group, not a file)."""
    if not d.enabled:
        return [obj]
    out: list[Any] = [None] * d.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(d: Dist) -> None:
    if d.enabled:
        dist.barrier()
