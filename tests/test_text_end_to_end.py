"""Text end to end through the public API and the CLI: train (mle, relgan) -> export -> generate,
the seed contract, temperature, no random ops in the graph, eval, and the bad-input errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from text_helpers import LINES, text_pack, train_config, write_corpus

GANFORGE = [sys.executable, "-m", "ganforge.core.cli"]


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}  # stdout must be UTF-8 whatever the locale
    proc = subprocess.run([*GANFORGE, *args], capture_output=True, env=env, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(proc.stderr.decode("utf-8", "replace"))
    return proc


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return text_pack(tmp_path_factory.mktemp("textpack"), "mle")


def test_generate_stdout_equals_file_and_seed_contract(pack: Path, tmp_path: Path) -> None:
    out = cli("generate", str(pack), "--count", "5", "--seed", "1", "--temperature", "0.8").stdout.decode("utf-8")
    lines = out.split("\n")[:-1]
    assert len(lines) == 5 and out.endswith("\n")
    cli("generate", str(pack), "--count", "5", "--seed", "1", "--temperature", "0.8", "-o", str(tmp_path / "l.txt"))
    assert (tmp_path / "l.txt").read_text(encoding="utf-8") == out

    from ganforge.core import runtime

    rt = runtime.load(pack, device="cpu")
    assert list(rt.generate(1, 5, temperature=0.8)) == lines
    # item i of a batch is what seed + i gives alone
    assert [rt.generate(1 + i, 1, temperature=0.8)[0] for i in range(5)] == lines
    # characters of the corpus (accented Latin, Chinese) come back as text
    alphabet = set("".join(LINES)) | {"\ufffd"}
    sample = list(rt.generate(0, 200, temperature=1.0))
    assert set("".join(sample)) <= alphabet
    assert any(set(s) & set("李王张陈小龙芳伟静") for s in sample)


def test_int8_export_is_one_line(pack: Path, tmp_path: Path) -> None:
    """Issue 17: ``export TEXT_RUN --int8`` ended in "Histogram has not been collected"."""
    proc = cli("export", str(pack.parent / "run-mle"), "-o", str(tmp_path / "q.onnx"), "--int8", check=False)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and err.startswith("error: ") and err.strip().count("\n") == 0, err
    assert "--int8 is for texture packs; this is a text model" in err and "Histogram" not in err
    assert list(tmp_path.iterdir()) == []


def test_temperature_changes_the_distribution(pack: Path) -> None:
    from ganforge.core import runtime

    rt = runtime.load(pack, device="cpu")
    cold = list(rt.generate(0, 100, temperature=0.2))
    hot = list(rt.generate(0, 100, temperature=3.0))
    assert len(set(cold)) < len(set(hot))
    with pytest.raises(Exception, match="temperature 0 must be in"):
        rt.generate(0, 1, temperature=0.0)


def test_graph_has_no_random_ops_and_matches_torch(pack: Path) -> None:
    import onnx
    import torch

    from ganforge.core import runtime
    from ganforge.core.training.run import load_for_export

    model = onnx.load(str(pack))
    ops = {n.op_type for n in model.graph.node}
    assert not {op for op in ops if "Random" in op or op == "Multinomial"}, ops
    rt = runtime.load(pack, device="cpu")
    # the prefix inputs come last and are never drawn, so a seed draws what it drew before them
    assert [s.name for s in rt.meta.inputs] == ["u", "temperature", "prefix", "prefix_len"]
    assert [s.draw for s in rt.meta.inputs] == ["uniform", "scalar", "condition", "condition"]
    feeds = rt.draw_inputs(3, 4, {}, {"temperature": 0.7})
    ids = rt.run(feeds)[0]
    bundle = load_for_export(pack.parent / "run-mle")
    with torch.no_grad():
        expected = bundle.generator.sample(torch.from_numpy(feeds["u"]), torch.from_numpy(feeds["temperature"]))
    np.testing.assert_array_equal(ids, expected.numpy())


def test_eval_json(pack: Path, tmp_path: Path) -> None:
    test = write_corpus(tmp_path / "test.txt", LINES[:16])
    res = json.loads(cli("eval", str(pack), "--data", str(test), "--samples", "50", "--json",
                         "--sweep", str(tmp_path / "qd.png"), "--temperature", "0.9").stdout)
    assert [p["temperature"] for p in res["sweep"]] == [0.6, 0.8, 1.0, 1.2, 1.4]
    assert all(0 <= p["bleu5"] <= 1 and 0 <= p["self_bleu5"] <= 1 for p in res["sweep"])
    # lower temperature: less diverse samples (higher Self-BLEU)
    assert res["sweep"][0]["self_bleu5"] > res["sweep"][-1]["self_bleu5"]
    assert (tmp_path / "qd.png").stat().st_size > 1000
    for key in ("bleu", "self_bleu", "novelty"):
        assert 0.0 <= res[key] <= 1.0
    assert set(res["details"]["bleu"]) == {"bleu2", "bleu3", "bleu4", "bleu5"}
    assert set(res["details"]["self_bleu"]) == {"self_bleu2", "self_bleu3", "self_bleu4", "self_bleu5"}


def test_relgan_trains_pretrain_then_adversarial(tmp_path: Path) -> None:
    from ganforge.core.training.run import train

    data = write_corpus(tmp_path / "c.txt")
    cfg = train_config(tmp_path / "run", data, "relgan", steps=26, log_every=1)
    train(cfg, progress=False)
    log = [json.loads(s) for s in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    steps = {r["step"]: r for r in log if "event" not in r}
    assert "nll" in steps[20] and "loss_d" not in steps[20]  # MLE pre-training (20 steps)
    assert {"loss_d", "loss_g", "beta"} <= set(steps[26])  # then the GAN
    assert steps[21]["beta"] < steps[26]["beta"] <= 100.0  # the temperature anneals
    assert all(np.isfinite(v) for r in steps.values() for k, v in r.items() if isinstance(v, float))
    # resume continues from the checkpoint, in the adversarial phase
    train(train_config(tmp_path / "run", data, "relgan", steps=28, log_every=1), resume=True, progress=False)
    log = [json.loads(s) for s in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert any(r.get("step") == 28 and "loss_d" in r for r in log)


def test_cli_train_options_and_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\n\xff\xfe\n")
    proc = cli("train", "text", "--data", str(bad), "--out", str(tmp_path / "r"), "--steps", "1", check=False)
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert err.count("\n") == 1 and "bad.txt: not UTF-8 text" in err
    assert not (tmp_path / "r" / "checkpoints").exists()

    data = write_corpus(tmp_path / "w.txt", ["a red fox jumps", "the big dog sleeps"] * 8)
    proc = cli("train", "text", "--data", str(data), "--out", str(tmp_path / "w"), "--steps", "2", "--family", "mle",
               "--level", "word", "--max-len", "3", "--batch", "4", "--no-progress")
    assert "truncated" in proc.stderr.decode()
    cfg = json.loads((tmp_path / "w" / "config.json").read_text())
    assert cfg["crop"] == 3 and cfg["data_options"] == {"level": "word"} and cfg["family"] == "mle"
    proc = cli("generate", str(tmp_path / "nope.onnx"), check=False)
    assert proc.returncode == 2 and "nope.onnx: no such pack file" in proc.stderr.decode()


def test_mle_learns_the_corpus(tmp_path: Path) -> None:
    """Maximum likelihood really fits: the NLL of the training lines falls well below its start,
    and samples at a low temperature are mostly lines of the corpus."""
    from ganforge.core.training.run import load_for_export, train

    data = write_corpus(tmp_path / "c.txt")
    train(train_config(tmp_path / "run", data, "mle", steps=150, log_every=10, sample_every=150), progress=False)
    log = [json.loads(s) for s in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    nll = [r["nll"] for r in log if "nll" in r and "event" not in r]
    assert nll[-1] < 0.5 * nll[0], nll
    assert (tmp_path / "run" / "samples" / "step_000150.txt").is_file()
    bundle = load_for_export(tmp_path / "run")
    lines = bundle.family.sample_lines(bundle.generator, 100, seed=0, temperature=0.5)
    assert sum(s in set(LINES) for s in lines) > 50
