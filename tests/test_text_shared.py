"""The text protocol on the shared COCO captions (skipped without ../shared; CI requires it):
the real-data row reproduces the numbers in ../shared/data/README.md, and a word-level run trains
on the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from shared_data import shared_path


def coco(name: str) -> Path:
    return shared_path(f"text/{name}")


@pytest.mark.shared
def test_real_data_row_matches_the_published_protocol() -> None:
    """Training lines scored like samples: BLEU-2..5 ≈ .716/.499/.320/.208 and Self-BLEU-2..5 ≈
    .866/.711/.531/.377 (the README's NLTK measurement); three seeded subsets of 1,000."""
    from ganforge.core.metrics.text import bleu, self_bleu
    from ganforge.core.modalities.text.data import read_lines

    train, test = read_lines(coco("coco_train.txt"))[0], read_lines(coco("coco_test.txt"))[0]
    assert len(train) == len(test) == 10_000
    b = [bleu(train, test, seed=s, level="word") for s in (1, 2, 3)]
    sb = [self_bleu(train, seed=s, level="word") for s in (1, 2, 3)]
    for k, ref in zip((2, 3, 4, 5), (0.716, 0.499, 0.320, 0.208), strict=True):
        assert np.mean([x[f"bleu{k}"] for x in b]) == pytest.approx(ref, abs=0.012)
    for k, ref in zip((2, 3, 4, 5), (0.866, 0.711, 0.531, 0.377), strict=True):
        # ours uses all 9,999 other lines as references: a little above a smaller sample's figure
        assert np.mean([x[f"self_bleu{k}"] for x in sb]) == pytest.approx(ref, abs=0.02)


@pytest.mark.shared
def test_word_level_training_on_coco(tmp_path: Path) -> None:
    from text_helpers import train_config

    from ganforge.core.training.run import train

    cfg = train_config(tmp_path / "run", coco("coco_train.txt"), "mle", steps=3, crop=35,
                       data_options={"level": "word"}, model={"emb": 16, "hidden": 32, "eval_samples": 16})
    train(cfg, progress=False)
    import json

    info = [json.loads(s) for s in (tmp_path / "run" / "log.jsonl").read_text().splitlines()][0]["data"]
    assert info["count"] + info["held_out"] == 10_000 and info["held_out"] == 500 and info["truncated"] == 0 and info["unknown_tokens"] == 0
    assert len(info["vocab"]["tokens"]) > 4000
