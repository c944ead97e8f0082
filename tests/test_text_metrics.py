"""Text metrics: our BLEU/Self-BLEU equal NLTK's sentence_bleu (smoothing method 1) exactly."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from ganforge.core.metrics.text import (
    ReferenceTable,
    bleu,
    novelty,
    plot_quality_diversity,
    self_bleu,
    tokens_of,
)

nltk_bleu = pytest.importorskip("nltk.translate.bleu_score")


def _random_lines(rng: random.Random, n: int, vocab: list[str], lo: int = 1, hi: int = 9) -> list[list[str]]:
    return [[rng.choice(vocab) for _ in range(rng.randint(lo, hi))] for _ in range(n)]


def _nltk(refs: list[list[str]], hyp: list[str], k: int) -> float:
    return nltk_bleu.sentence_bleu(refs, hyp, tuple([1.0 / k] * k),
                                   smoothing_function=nltk_bleu.SmoothingFunction().method1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bleu_equals_nltk(seed: int) -> None:
    rng = random.Random(seed)
    words = "a the cat dog on mat sat big small red".split()[: 4 + 2 * seed]
    refs, hyps = _random_lines(rng, 50, words), _random_lines(rng, 40, words, 1, 12)
    table = ReferenceTable(refs)
    for h in hyps:
        ours = table.score(h)
        for k in (2, 3, 4, 5):
            assert ours[k] == pytest.approx(_nltk(refs, h, k), abs=1e-12)


def test_self_bleu_leaves_the_line_itself_out() -> None:
    rng = random.Random(5)
    lines = _random_lines(rng, 30, list("abcdef"), 2, 7)
    lines += [lines[0]]  # a duplicate: Self-BLEU of it against the others is 1
    table = ReferenceTable(lines)
    for i, h in enumerate(lines):
        others = lines[:i] + lines[i + 1:]
        ours = table.score(h, exclude=i, exclude_len=len(h))
        for k in (2, 5):
            assert ours[k] == pytest.approx(_nltk(others, h, k), abs=1e-12)
    assert table.score(lines[0], exclude=0, exclude_len=len(lines[0]))[5] == pytest.approx(1.0)


def test_protocol_functions() -> None:
    gen = ["a cat on a mat", "a dog on a mat", "the the the", "a cat sat"] * 5
    ref = ["a cat sat on the mat", "a dog sat on a mat", "there is a cat"]
    b = bleu(gen, ref, sample=10, seed=1)
    assert set(b) == {"bleu2", "bleu3", "bleu4", "bleu5"} and 0 < b["bleu5"] < b["bleu2"] <= 1
    assert bleu(gen, ref, sample=10, seed=1) == b  # the subset is seeded
    sb = self_bleu(gen, sample=None)
    assert sb["self_bleu2"] == pytest.approx(1.0)  # every line has a duplicate among the others
    assert self_bleu([f"line {i} x{i}" for i in range(20)], sample=None)["self_bleu5"] < 0.3
    assert novelty(["a", "b", "c", "a"], ["a"]) == 0.5
    assert tokens_of(["李小龙"]) == [["李", "小", "龙"]] and tokens_of(["a b", "c d"]) == [["a", "b"], ["c", "d"]]


def test_plot(tmp_path: Path) -> None:
    from PIL import Image

    curves = {"mle": [{"temperature": t, "bleu5": 0.1 + t / 10, "self_bleu5": 0.2 + t / 5} for t in (0.5, 1.0)],
              "relgan": [{"temperature": 1.0, "bleu5": 0.3, "self_bleu5": 0.4}]}
    path = plot_quality_diversity(curves, tmp_path / "qd.png", {"real data": {"bleu5": 0.2, "self_bleu5": 0.38}})
    img = Image.open(path)
    assert img.size == (760, 540) and len(np.unique(np.asarray(img).reshape(-1, 3), axis=0)) > 3
