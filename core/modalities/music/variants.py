"""Interpolations and variations of music seeds (numpy only): the inputs the music codec's
``feeds`` and ``compose`` hooks build.

``--interpolate A B --bars N`` is one piece whose latents travel from seed A's to seed B's across
its bars. The pack has one shared latent per item, so the latents can only change from bar to
bar if each bar is its own run: bar ``i`` runs on ``between(A, B, i / (N - 1))`` (the runtime's
slerp) and is conditioned on bar ``i - 1`` as decoded, the way the MIDI bridge plays. Bar 0 is
exactly ``generate --seed A --bars 1``, and the last bar runs on exactly seed B's latents.

``--variations N`` moves a seed's latents a small angle (``--variation-amount`` of the way along
the great circle towards an independent draw, one per variation): the same phrase, altered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ...errors import GanforgeError
from ...latents import stack_items

VARIATION_STREAM = 0x5A11  # a SeedSequence key of its own: variation draws never equal a seed's draws


def _single(count: int, what: str) -> None:
    if count != 1:
        raise GanforgeError(f"{what} makes its own items: leave --count at 1")


def variation_feeds(runtime: Any, seed: int, count: int, n: int, amount: float, dims: dict[str, int],
                    values: dict[str, Any]) -> dict[str, np.ndarray]:
    """``n`` items, each seed ``seed``'s inputs moved ``amount`` (0..1) of the way towards an
    independent normal draw; host inputs (the condition) stay the seed's."""
    _single(count, "--variations")
    if not 0 < amount <= 1:
        raise GanforgeError(f"--variation-amount {amount:g}: must be in (0, 1]")
    runtime.schedule(n, dims)  # the memory guard, before anything is drawn
    base = runtime.draw_inputs(seed, 1, dims, values)
    items = []
    for i in range(n):
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), VARIATION_STREAM, i])))
        other = {spec.name: rng.standard_normal(base[spec.name].shape, np.float32) if spec.draw == "normal"
                 else base[spec.name] for spec in runtime.meta.inputs}
        items.append(runtime.between(base, other, amount))
    return stack_items(runtime.meta.inputs, items)


def interpolation_outputs(runtime: Any, seed_a: int, seed_b: int, count: int, bars: int, values: dict[str, Any],
                          decode_bar: Callable[[np.ndarray, int], np.ndarray]) -> list[np.ndarray]:
    """The graph output ``(1, tracks, bars * steps, pitches)`` of an interpolation played bar by
    bar; ``decode_bar(prob, index)`` turns one bar's probabilities into the notes the next bar
    continues (the same decoding, controls included, that the whole piece gets)."""
    _single(count, "--interpolate")
    if bars < 2:
        raise GanforgeError(f"--interpolate needs --bars 2 or more (got {bars})")
    runtime.schedule(1, {"bars": 1})
    a = runtime.draw_inputs(seed_a, 1, {"bars": 1}, values)
    b = runtime.draw_inputs(seed_b, 1, {"bars": 1}, values)
    condition = a["condition"]  # the user's --continue clip, or silence
    probs = []
    for i in range(bars):
        feeds = runtime.between(a, b, i / (bars - 1))
        feeds["condition"] = condition
        prob = runtime.run(feeds)[0]
        probs.append(prob)
        condition = decode_bar(prob, i)[None].astype(np.float32)
    return [np.concatenate(probs, axis=2)]


__all__ = ["interpolation_outputs", "variation_feeds"]
