"""The relational-memory generator (``--model-option generator=rmc``): it learns, it is the
same network in teacher forcing and in both samplers, its pack equals torch, and a RelGAN run
with it resumes exactly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from text_helpers import LINES, TINY_TEXT_MODEL, train_config, write_corpus

RMC = {**TINY_TEXT_MODEL, "generator": "rmc", "mem_slots": 2, "heads": 2, "head_size": 8}


def test_teacher_forcing_and_the_step_are_one_network() -> None:
    from ganforge.core.modalities.text.model import BOS_ID
    from ganforge.core.modalities.text.rmc import RelationalMemoryGenerator

    torch.manual_seed(0)
    G = RelationalMemoryGenerator(40, 7, emb=8, slots=2, heads=2, head_size=4).eval()
    ids = torch.randint(4, 40, (3, 7))
    logits = G.teacher_forced(ids)
    x, state = G.start(3, ids.float())
    assert torch.equal(x, G.emb.weight[BOS_ID].expand(3, -1))
    for t in range(7):  # stepping by hand gives the same logits at every position
        h, state = G.step(x, state)
        torch.testing.assert_close(G.logits(h), logits[:, t], rtol=0, atol=1e-5)
        x = G.emb(ids[:, t])
    assert state[0].shape == (3, 2, 8)


def test_rmc_learns_exports_and_matches_torch(tmp_path: Path) -> None:
    from ganforge.core import runtime
    from ganforge.core.training.run import load_for_export, train
    from ganforge.exporters.onnx.export import export_pack

    data = write_corpus(tmp_path / "c.txt")
    run = tmp_path / "run"
    train(train_config(run, data, "mle", steps=120, log_every=10, model=dict(RMC)), progress=False)
    log = [json.loads(s) for s in (run / "log.jsonl").read_text().splitlines()]
    nll = [r["nll"] for r in log if "nll" in r and "event" not in r]
    assert nll[-1] < 0.6 * nll[0], nll
    pack = tmp_path / "rmc.onnx"
    export_pack(run, pack)
    rt = runtime.load(pack, device="cpu")
    feeds = rt.draw_inputs(5, 16, {}, {"temperature": 0.8})
    bundle = load_for_export(run)
    with torch.no_grad():
        expected = bundle.generator.sample(torch.from_numpy(feeds["u"]), torch.from_numpy(feeds["temperature"]))
    np.testing.assert_array_equal(rt.run(feeds)[0], expected.numpy())
    lines = list(rt.generate(0, 100, temperature=0.5))
    assert sum(s in set(LINES) for s in lines) > 30  # it has learnt the corpus


def test_relgan_with_rmc_resumes_exactly(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from ganforge.core.training.run import train

    data = write_corpus(tmp_path / "c.txt")
    model = {**RMC, "pretrain_steps": 3, "anneal_steps": 8}  # the schedule must not depend on --steps
    train(train_config(tmp_path / "straight", data, "relgan", steps=8, model=model, checkpoint_every=4),
          progress=False)
    train(train_config(tmp_path / "split", data, "relgan", steps=4, model=model), progress=False)
    train(train_config(tmp_path / "split", data, "relgan", steps=8, model=model), resume=True, progress=False)
    a = load_file(str(tmp_path / "straight" / "checkpoints" / "step_000000008.safetensors"))
    b = load_file(str(tmp_path / "split" / "checkpoints" / "step_000000008.safetensors"))
    for k in a:
        if k.startswith(("G.", "D.")):
            assert torch.equal(a[k], b[k]), k


def test_unknown_generator_is_a_clear_error(tmp_path: Path) -> None:
    from ganforge.core.errors import RunError
    from ganforge.core.training.run import train

    cfg = train_config(tmp_path / "run", write_corpus(tmp_path / "c.txt"), "mle", steps=1,
                       model={**TINY_TEXT_MODEL, "generator": "gru"})
    with pytest.raises(RunError, match="generator='gru': choose lstm or rmc"):
        train(cfg, progress=False)
