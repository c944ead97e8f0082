"""The music metrics `ganforge eval` calls: generated rolls vs a reference set (numpy only).

Each returns ``{"value": mean over tracks of the generated samples, "per_track": [...],
"reference": the reference's mean, "reference_per_track": [...]}``; see
:mod:`ganforge.core.metrics.music` for the definitions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...metrics.music import diversity as _diversity
from ...metrics.music import mean_of, music_stats, note_lengths

_cache: dict[int, dict[str, Any]] = {}


def _stats(generated: Any, reference: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    s = generated.settings
    key = id(generated)
    if key not in _cache:  # six metrics share one pass over the samples and the reference
        _cache.clear()
        _cache[key] = {"gen": music_stats(np.asarray(generated) > 0, s.low, s.steps_per_beat, s.drums),
                       "ref": _reference_stats(reference)}
    return _cache[key]["gen"], _cache[key]["ref"]


def _reference_stats(reference: Any) -> dict[str, Any]:
    """Stats of the reference pieces; QN on whole pieces, so a note held over a bar line (or a
    sample edge) counts once."""
    bars = reference.bars()  # (n, T, S, P)
    merged = music_stats(bars.transpose(1, 0, 2, 3).reshape(1, bars.shape[1], -1, bars.shape[3]),
                         reference.low, reference.steps_per_beat, reference.drums)
    out: list[float | None] = []
    for t, drum in enumerate(reference.drums):
        lengths = np.concatenate([note_lengths(r[t]) for r in reference.rolls])
        out.append(None if drum or not len(lengths) else round(float((lengths >= merged["qn_min_steps"]).mean()), 4))
    merged["QN"] = out
    return merged


def _metric(name: str, generated: Any, reference: Any) -> dict[str, Any]:
    gen, ref = _stats(generated, reference)
    return {"value": mean_of(gen[name]), "per_track": gen[name], "reference": mean_of(ref[name]),
            "reference_per_track": ref[name], "qn_min_steps": gen["qn_min_steps"]}


def eb(generated: Any, reference: Any, **_: Any) -> dict[str, Any]:
    return _metric("EB", generated, reference)


def upc(generated: Any, reference: Any, **_: Any) -> dict[str, Any]:
    return _metric("UPC", generated, reference)


def qn(generated: Any, reference: Any, **_: Any) -> dict[str, Any]:
    return _metric("QN", generated, reference)


def polyphony(generated: Any, reference: Any, **_: Any) -> dict[str, Any]:
    return _metric("polyphony", generated, reference)


def scale_consistency(generated: Any, reference: Any, **_: Any) -> dict[str, Any]:
    return _metric("scale_consistency", generated, reference)


def td(generated: Any, reference: Any, **_: Any) -> dict[str, Any]:
    return _metric("TD", generated, reference)


def diversity(generated: Any, reference: Any, **_: Any) -> dict[str, Any]:
    """Of the generated samples, and of the reference cut into consecutive windows as long as
    one sample (windows of one piece follow each other, as consecutive samples do not)."""
    rolls = np.asarray(generated) > 0
    bars = reference.bars()  # (n, T, S, P)
    per = max(1, rolls.shape[2] // bars.shape[2])
    n = len(bars) // per * per
    windows = bars[:n].reshape(-1, per, *bars.shape[1:]).transpose(0, 2, 1, 3, 4)
    windows = windows.reshape(len(windows), bars.shape[1], per * bars.shape[2], bars.shape[3])
    return {"value": _diversity(rolls), "reference": _diversity(windows > 0)}
