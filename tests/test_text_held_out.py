"""Held-out lines and early stopping: the split, the metric the best checkpoint is kept by, the
patience rule (also across a resume), and the discriminator's two input forms."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from text_helpers import TINY_TEXT_MODEL, train_config, write_corpus

from ganforge.core.errors import DataError
from ganforge.core.modalities.text.data import build_dataset


def corpus(path: Path, n: int = 400, seed: int = 0) -> Path:
    """``n`` distinct made-up names."""
    rng = random.Random(seed)
    syllables = ["ka", "lo", "mi", "ré", "su", "tan", "vel", "zo", "ñu", "李"]
    names: dict[str, None] = {}
    while len(names) < n:
        names["".join(rng.choice(syllables) for _ in range(rng.randint(2, 5)))] = None
    return write_corpus(path, list(names))


def test_split_is_fixed_disjoint_and_keeps_file_order(tmp_path: Path) -> None:
    f = corpus(tmp_path / "c.txt")
    a, b = build_dataset(f, 16, {}), build_dataset(f, 16, {})
    assert a.data_info["held_out"] == 20 and a.data_info["count"] == 380
    assert torch.equal(a.held_out, b.held_out) and torch.equal(a.ids, b.ids)  # same split every run
    lines = f.read_text(encoding="utf-8").splitlines()
    decode = a.vocab.decode
    train, held = [decode(r) for r in a.ids.tolist()], [decode(r) for r in a.held_out.tolist()]
    assert sorted(train + held) == sorted(lines)
    assert train == [s for s in lines if s not in set(held)]  # the file's order, less the held-out
    # evaluation reads the held-out lines, first ones first, never the training stream
    assert torch.equal(a.eval_sample(8, torch.Generator()), a.held_out[:8])
    assert len(a.eval_sample(512, torch.Generator())) == 20


def test_small_corpus_or_zero_share_holds_nothing_out(tmp_path: Path) -> None:
    small = build_dataset(corpus(tmp_path / "s.txt", n=60), 16, {})
    assert small.data_info["held_out"] == 0 and small.held_out is None
    gen = torch.Generator().manual_seed(3)
    expect = small.sample(4, torch.Generator().manual_seed(3))
    assert torch.equal(small.eval_sample(4, gen), expect)  # falls back to training lines
    assert build_dataset(corpus(tmp_path / "c.txt"), 16, {"held_out": 0}).data_info["held_out"] == 0
    for bad in (0.9, -0.1, "lots"):
        with pytest.raises(DataError, match="held_out"):
            build_dataset(tmp_path / "c.txt", 16, {"held_out": bad})


def _events(run: Path, kind: str) -> list[dict]:
    records = [json.loads(s) for s in (run / "log.jsonl").read_text().splitlines()]
    return [r for r in records if r.get("event") == kind]


def test_patience_stops_at_the_rule_and_best_is_the_early_stopped_model(tmp_path: Path) -> None:
    from ganforge.core.training import checkpoint as ckpt
    from ganforge.core.training.run import train

    data = corpus(tmp_path / "c.txt")
    run = tmp_path / "run"
    # A learning rate far too high: held-out NLL soon stops improving, and the run must end there.
    cfg = train_config(run, data, steps=400, sample_every=5, model={**TINY_TEXT_MODEL, "lr_mle": 0.5}, patience=3)
    result = train(cfg, progress=False)
    assert not result.interrupted and result.step < 400
    samples = _events(run, "sample")
    best = min(samples, key=lambda r: r["nll"])
    assert result.step == best["step"] + 3 * 5  # three evaluations after the best one, not earlier
    assert all(r["nll"] >= best["nll"] for r in samples if r["step"] > best["step"])
    [stop] = _events(run, "early_stop")
    assert stop["step"] == result.step and stop["best"]["step"] == best["step"]
    _, meta = ckpt.load(run / "checkpoints" / ckpt.BEST)
    assert meta["step"] == best["step"] and meta["best"]["value"] == pytest.approx(best["nll"])
    # Stateless rule: a resume to more steps stops at its first evaluation unless it improves.
    cfg.steps = 800
    again = train(cfg, resume=True, progress=False)
    later = [r for r in _events(run, "sample") if r["step"] > result.step]
    if all(r["nll"] >= best["nll"] for r in later):
        assert again.step == result.step + 5
    assert again.step < 800


def test_without_patience_the_run_goes_to_the_end(tmp_path: Path) -> None:
    from ganforge.core.training.run import train

    cfg = train_config(tmp_path / "run", corpus(tmp_path / "c.txt"), steps=30, sample_every=5,
                       model={**TINY_TEXT_MODEL, "lr_mle": 0.5})
    assert train(cfg, progress=False).step == 30


def test_discriminator_embeds_ids_exactly_as_their_one_hots() -> None:
    from ganforge.core.modalities.text.model import MultiRepDiscriminator

    torch.manual_seed(0)
    D = MultiRepDiscriminator(50, 9, emb=8, reps=3, channels=4).eval()
    ids = torch.randint(0, 50, (5, 9))
    assert torch.equal(D(ids), D(torch.nn.functional.one_hot(ids, 50).float()))


def test_dropout_trains_but_never_samples() -> None:
    from ganforge.core.modalities.text.model import TextGenerator

    torch.manual_seed(0)
    G = TextGenerator(30, 6, emb=8, hidden=16, dropout=0.5)
    ids = torch.randint(4, 30, (4, 6))
    G.train()
    assert not torch.equal(G.teacher_forced(ids), G.teacher_forced(ids))  # dropout is on
    u, t = torch.rand(4, 6), torch.ones(4)
    assert torch.equal(G.sample(u, t), G.eval().sample(u, t))  # the sampler never drops
    assert torch.equal(G.teacher_forced(ids), G.teacher_forced(ids))


def test_beta_anneals_over_a_fixed_horizon() -> None:
    from ganforge.core.modalities.text.family import RelGANFamily
    from ganforge.core.modalities.text.vocab import Vocab

    info = {"vocab": Vocab.build([["a", "b"]], "word", 100, 1).to_json(), "max_len": 4}
    fam = RelGANFamily({"pretrain_steps": 0, "anneal_steps": 1000, "beta_max": 100.0}, info)
    assert fam.beta(500, 300) == pytest.approx(10.0)  # the run's --steps do not move the schedule
    assert fam.beta(2000, 3000) == pytest.approx(100.0)
    assert RelGANFamily({"pretrain_steps": 0}, info).beta(150, 300) == pytest.approx(10.0)


def test_cli_early_stops_and_exports_the_best(tmp_path: Path) -> None:
    import subprocess
    import sys

    data, run = corpus(tmp_path / "c.txt"), tmp_path / "run"
    base = [sys.executable, "-m", "ganforge.core.cli"]
    proc = subprocess.run([*base, "train", "text", "--data", str(data), "--out", str(run), "--family", "mle",
                           "--steps", "400", "--batch", "16", "--model-option", "lr_mle=0.5", "--sample-every", "5", "--patience", "2",
                           "--model-option", "dropout=0.2", "--model-option", "hidden=32", "--no-progress"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "early stop at step" in proc.stderr
    [stop] = _events(run, "early_stop")
    proc = subprocess.run([*base, "export", str(run), "-o", str(tmp_path / "best.onnx"), "--checkpoint", "best"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    from ganforge.core import runtime

    train_facts = runtime.load(tmp_path / "best.onnx").meta.train
    assert train_facts["steps"] == stop["best"]["step"] and train_facts["checkpoint"] == "best.safetensors"
