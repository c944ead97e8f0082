"""Text metrics: BLEU and Self-BLEU exactly as NLTK's ``sentence_bleu`` with smoothing method 1
(the Texygen protocol the published text-GAN numbers use), novelty, and the quality-diversity
plot. Torch-free.

NLTK against 10,000 references re-counts every reference for every hypothesis. The clipped count
of an n-gram is its largest count in any one reference, which does not depend on the hypothesis:
we build that table once (with the runner-up, so Self-BLEU can leave the hypothesis' own line
out) and score each hypothesis in microseconds. ``tests/test_text_metrics.py`` checks the numbers
against ``nltk.translate.bleu_score.sentence_bleu`` to 1e-12.

Protocol (stated in the benchmark): BLEU for a seeded random 1,000 generated lines against the
whole test file; Self-BLEU for a seeded random 1,000 generated lines, each against all the *other*
generated lines; tokens are words (split on spaces) or, for lines without spaces (names, Chinese),
characters.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ORDERS = (2, 3, 4, 5)
EPSILON = 0.1  # NLTK SmoothingFunction().method1


def tokens_of(lines: Sequence[str], level: str | None = None) -> list[list[str]]:
    """Words when the lines are spaced (most contain a space), else characters."""
    if level is None:
        spaced = sum(" " in s for s in lines)
        level = "word" if spaced * 2 > len(lines) else "char"
    return [s.split() if level == "word" else list(s) for s in lines]


def _ngrams(toks: Sequence[str], n: int) -> Counter:
    return Counter(tuple(toks[i:i + n]) for i in range(len(toks) - n + 1))


class ReferenceTable:
    """Per n-gram: the largest count in one reference, who has it, and the runner-up count."""

    def __init__(self, references: Sequence[Sequence[str]], max_order: int = max(ORDERS)) -> None:
        self.max_order = max_order
        self.best: list[dict[tuple, tuple[int, int, int]]] = [{} for _ in range(max_order + 1)]
        for r, toks in enumerate(references):
            for n in range(1, max_order + 1):
                table = self.best[n]
                for g, c in _ngrams(toks, n).items():
                    top, owner, second = table.get(g, (0, -1, 0))
                    if c > top:
                        table[g] = (c, r, top)
                    elif c > second:
                        table[g] = (top, owner, c)
        self.lengths = Counter(len(t) for t in references)
        self.sorted_lengths = sorted(self.lengths)

    def clip(self, g: tuple, n: int, exclude: int) -> int:
        top, owner, second = self.best[n].get(g, (0, -1, 0))
        return second if owner == exclude else top

    def closest_length(self, hyp_len: int, exclude_len: int | None) -> int:
        """NLTK's closest reference length (ties: the shorter), leaving one length out once."""
        lengths = self.sorted_lengths
        i = bisect.bisect_left(lengths, hyp_len)
        candidates = []
        for j in range(max(0, i - 2), min(len(lengths), i + 2)):
            length = lengths[j]
            if exclude_len == length and self.lengths[length] == 1:
                continue
            candidates.append(length)
        if not candidates:  # every other length was excluded: search all
            candidates = [x for x in lengths if not (x == exclude_len and self.lengths[x] == 1)]
        return min(candidates, key=lambda x: (abs(x - hyp_len), x))

    def score(self, hyp: Sequence[str], orders: Iterable[int] = ORDERS, exclude: int = -1,
              exclude_len: int | None = None) -> dict[int, float]:
        """Sentence BLEU-n of ``hyp`` for each n in ``orders`` (uniform weights, method 1)."""
        orders = tuple(orders)
        top = max(orders)
        num, den = [0] * (top + 1), [0] * (top + 1)
        for n in range(1, top + 1):
            counts = _ngrams(hyp, n)
            num[n] = sum(min(c, self.clip(g, n, exclude)) for g, c in counts.items())
            den[n] = max(1, sum(counts.values()))
        if num[1] == 0:
            return {k: 0.0 for k in orders}
        hyp_len = len(hyp)
        ref_len = self.closest_length(hyp_len, exclude_len)
        bp = 1.0 if hyp_len > ref_len else (0.0 if hyp_len == 0 else math.exp(1 - ref_len / hyp_len))
        p = [0.0] + [(EPSILON / den[n]) if num[n] == 0 else num[n] / den[n] for n in range(1, top + 1)]
        return {k: bp * math.exp(math.fsum(1.0 / k * math.log(p[n]) for n in range(1, k + 1))) for k in orders}


def _subset(count: int, sample: int | None, seed: int) -> np.ndarray:
    if sample is None or sample >= count:
        return np.arange(count)
    return np.sort(np.random.Generator(np.random.PCG64(seed)).choice(count, sample, replace=False))


def bleu(generated: Sequence[str], references: Sequence[str], orders: Iterable[int] = ORDERS,
         sample: int | None = 1000, seed: int = 0, level: str | None = None) -> dict[str, float]:
    """Mean sentence BLEU-n of a seeded random ``sample`` of ``generated`` against all of
    ``references``: ``{"bleu2": ..., "bleu5": ...}``."""
    orders = tuple(orders)
    if not generated or not references:
        raise ValueError("BLEU needs generated lines and reference lines")
    level = level or _level(references)
    table = ReferenceTable(tokens_of(references, level), max(orders))
    hyps = tokens_of([generated[i] for i in _subset(len(generated), sample, seed)], level)
    scores = [table.score(h, orders) for h in hyps]
    return {f"bleu{k}": float(np.mean([s[k] for s in scores])) for k in orders}


def self_bleu(generated: Sequence[str], orders: Iterable[int] = ORDERS, sample: int | None = 1000,
              seed: int = 0, level: str | None = None) -> dict[str, float]:
    """Mean BLEU-n of a seeded random ``sample`` of ``generated``, each against all the other
    generated lines (lower: more diverse)."""
    orders = tuple(orders)
    if len(generated) < 2:
        raise ValueError("Self-BLEU needs at least two generated lines")
    level = level or _level(generated)
    toks = tokens_of(generated, level)
    table = ReferenceTable(toks, max(orders))
    scores = [table.score(toks[i], orders, exclude=int(i), exclude_len=len(toks[i]))
              for i in _subset(len(toks), sample, seed)]
    return {f"self_bleu{k}": float(np.mean([s[k] for s in scores])) for k in orders}


def _level(lines: Sequence[str]) -> str:
    return "word" if sum(" " in s for s in lines) * 2 > len(lines) else "char"


def novelty(generated: Sequence[str], training: Iterable[str]) -> float:
    """Share of generated lines that are not a line of the training data."""
    seen = {s.strip() for s in training}
    return float(np.mean([s.strip() not in seen for s in generated])) if len(generated) else 0.0


def distinct(generated: Sequence[str]) -> float:
    """Share of generated lines that differ from each other (1: no repeats; near 0: collapse)."""
    return len(set(generated)) / len(generated) if len(generated) else 0.0


# ---- the registered metrics (``ganforge eval``) ------------------------------------------------
def bleu_metric(generated: Sequence[str], reference: Sequence[str], seed: int = 0, **_: Any) -> dict[str, Any]:
    scores = bleu(list(generated), list(reference), seed=seed)
    return {"value": scores["bleu5"], **scores}


def self_bleu_metric(generated: Sequence[str], reference: Sequence[str], seed: int = 0, **_: Any) -> dict[str, Any]:
    scores = self_bleu(list(generated), seed=seed)
    return {"value": scores["self_bleu5"], **scores}


def novelty_metric(generated: Sequence[str], reference: Sequence[str], training: Any = None, **_: Any) -> float:
    return novelty(list(generated), training if training is not None else reference)


# ---- the quality-diversity plot ------------------------------------------------------------------
COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (140, 86, 75),
           (227, 119, 194), (23, 190, 207)]


def plot_quality_diversity(curves: dict[str, list[dict[str, float]]], path: str | Path,
                           points: dict[str, dict[str, float]] | None = None,
                           x: str = "self_bleu5", y: str = "bleu5") -> Path:
    """BLEU-5 (quality, up) against Self-BLEU-5 (diversity, left is more diverse) as a PNG: one
    polyline per model over its temperature sweep (each point labelled with its temperature),
    and single points (the real data). Pillow only."""
    from PIL import Image, ImageDraw

    W, H, M = 760, 540, 70
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    values = [(p[x], p[y]) for c in curves.values() for p in c] + [(p[x], p[y]) for p in (points or {}).values()]
    xs, ys = [v[0] for v in values], [v[1] for v in values]
    x0, x1 = min(xs) - 0.02, max(xs) + 0.02
    y0, y1 = min(ys) - 0.02, max(ys) + 0.02

    def at(px: float, py: float) -> tuple[float, float]:
        return M + (px - x0) / (x1 - x0) * (W - 2 * M), H - M - (py - y0) / (y1 - y0) * (H - 2 * M)

    d.rectangle([M, M, W - M, H - M], outline="black")
    for i in range(6):
        gx, gy = x0 + (x1 - x0) * i / 5, y0 + (y1 - y0) * i / 5
        px, _ = at(gx, y0)
        _, py = at(x0, gy)
        d.line([px, H - M, px, H - M + 5], fill="black")
        d.text((px - 14, H - M + 8), f"{gx:.2f}", fill="black")
        d.line([M - 5, py, M, py], fill="black")
        d.text((M - 40, py - 6), f"{gy:.2f}", fill="black")
    d.text((W // 2 - 120, H - 30), f"{x} (lower = more diverse)", fill="black")
    d.text((8, 20), f"{y} (higher = closer to the test data)", fill="black")
    for k, (name, curve) in enumerate(curves.items()):
        colour = COLOURS[k % len(COLOURS)]
        pts = [at(p[x], p[y]) for p in curve]
        if len(pts) > 1:
            d.line(pts, fill=colour, width=2)
        for p, (px, py) in zip(curve, pts, strict=True):
            d.ellipse([px - 3, py - 3, px + 3, py + 3], fill=colour)
            if "temperature" in p:
                d.text((px + 4, py - 12), f"{p['temperature']:g}", fill=colour)
        ly = M + 16 + 16 * k  # legend: a line in the curve's colour (the default font lacks dashes)
        d.line([W - M - 170, ly, W - M - 155, ly], fill=colour, width=2)
        d.text((W - M - 150, ly - 6), name, fill=colour)
    for j, (name, p) in enumerate((points or {}).items()):
        px, py = at(p[x], p[y])
        d.rectangle([px - 5, py - 5, px + 5, py + 5], outline="black", width=2)
        d.text((px + 7, py + 2), name, fill="black")
        ly = M + 16 + 16 * (len(curves) + j)
        d.rectangle([W - M - 166, ly - 4, W - M - 158, ly + 4], outline="black", width=2)
        d.text((W - M - 150, ly - 6), name, fill="black")
    from ..atomic import write_atomic

    return write_atomic(path, img.save)
