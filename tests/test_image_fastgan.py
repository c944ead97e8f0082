"""The ``fastgan`` image family: its networks, standing batch-norm statistics (a sample must not
depend on its batch mates once exported), its pack, exact resume, and what it refuses."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_image_end_to_end import CATEGORIES, discs, invoke, one_error_line

TINY = {"width": 4, "z_dim": 16, "eval_samples": 32}


def _config(root, out: str, steps: int, **extra):
    from ganforge.core.training.config import TrainConfig

    base = dict(modality="image", family="fastgan", data=str(root / "d.npz"), out=str(root / out), steps=steps,
                crop=16, batch=8, device="cpu", model=dict(TINY), sample_every=8, log_every=4,
                augment=["translate", "color", "cutout"])
    return TrainConfig(**{**base, **extra})


def _train(cfg, resume: bool = False):
    from ganforge.core.modalities.image.data import build_dataset
    from ganforge.core.modalities.image.fast_family import FastImageFamily
    from ganforge.core.training.run import train

    return train(cfg, resume=resume, progress=False, family_factory=FastImageFamily, dataset_factory=build_dataset)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("fastgan")
    images, labels = discs(60)
    np.savez(root / "d.npz", images=images, labels=labels, categories=np.array(CATEGORIES))
    _train(_config(root, "run", 16))
    result = invoke("export", root / "run", "-o", root / "f.onnx", "--checkpoint", "best")
    assert result.exit_code == 0, result.output
    return root


@pytest.mark.parametrize("size", [16, 32, 64])
def test_networks_shapes_and_self_supervision(size):
    from ganforge.core.modalities.image.fastgan import FastDiscriminator, FastGenerator, reconstruction_loss

    G, D = FastGenerator(size, 4, 3, z_dim=8, width=4), FastDiscriminator(size, 4, 3, width=4)
    labels = torch.tensor([0, 1, 2, 0])
    x = G(torch.randn(4, 8), labels)
    assert x.shape == (4, 4, size, size) and x.abs().max() <= 1
    assert D(x, labels).shape == (4,)
    logits, rec = reconstruction_loss(D, x.detach(), labels, quadrant=3)
    assert logits.shape == (4,) and rec.ndim == 0 and rec > 0
    rec.backward()  # the decoders train D's trunk
    assert D.stem[0].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="needs labels"):
        G(torch.randn(1, 8))


def test_standing_statistics_make_each_sample_independent_of_its_batch():
    from ganforge.core.modalities.image.fastgan import FastGenerator, standing_statistics

    G = FastGenerator(16, 3, 2, z_dim=8, width=4)

    def draw(n, gen):
        return {"z": torch.randn(n, 8, generator=gen), "labels": torch.randint(0, 2, (n,), generator=gen)}

    z, labels = torch.randn(6, 8), torch.tensor([0, 1, 0, 1, 1, 0])
    with torch.no_grad():
        in_train_mode = G.train()(z, labels)
        assert not torch.allclose(in_train_mode[:1], G(z[:1].repeat(2, 1), labels[:1].repeat(2))[:1])
        g = standing_statistics(G, draw, samples=64, batch=16)
        np.testing.assert_allclose(g(z, labels)[:1].numpy(), g(z[:1], labels[:1]).numpy(), atol=1e-5)
        again = standing_statistics(G, draw, samples=64, batch=16)  # fixed seed: the same model
        assert torch.equal(g(z, labels), again(z, labels))
    assert G.training  # the trained model is left alone


def test_pack_keeps_the_seed_contract_categories_and_truncation(trained):
    from ganforge.core import runtime

    pack = runtime.load(trained / "f.onnx", device="cpu")
    assert pack.meta.family == "fastgan"
    assert [s.name for s in pack.meta.inputs] == ["z", "class_u", "label", "truncation"]
    batch = pack.generate(seed=5, count=3)
    assert batch.shape == (3, 16, 16, 4) and 0 <= batch.min() and batch.max() <= 1
    np.testing.assert_array_equal(batch[2], pack.generate(seed=7, count=1)[0])  # alone = in a batch
    red, blue = pack.generate(0, 2, category="red"), pack.generate(0, 2, category="blue")
    assert not np.allclose(red, blue)
    centre = pack.generate(0, 3, category="green", truncation=0.0)  # z scaled to 0: one image
    np.testing.assert_allclose(centre[0], centre[2], atol=1e-6)
    assert not np.allclose(*pack.generate(0, 2, category="green", truncation=0.5))


def test_training_logs_the_reconstruction_term_and_writes_previews(trained):
    log = [json.loads(line) for line in (trained / "run" / "log.jsonl").read_text().splitlines()]
    steps = [r for r in log if "d_term" in r]
    assert steps and all(np.isfinite(r["d_term"]) and r["d_term"] > 0 for r in steps)
    assert (trained / "run" / "samples" / "step_000016.png").is_file()


def test_eval_scores_a_fastgan_pack(trained):
    result = invoke("eval", trained / "f.onnx", "--data", trained / "d.npz", "--samples", 48, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    for key in ("kid", "accuracy", "variety_worst", "coverage"):
        assert np.isfinite(report[key]), key


def test_r1_options_are_refused_with_the_reason(tmp_path):
    images, labels = discs(12)
    np.savez(tmp_path / "d.npz", images=images, labels=labels)
    result = invoke("train", "image", "--family", "fastgan", "--data", tmp_path / "d.npz", "--size", 16,
                    "--steps", 1, "--r1-gamma", 0.5, "--out", tmp_path / "run", "--no-progress")
    one_error_line(result, "--r1-gamma", "reconstruction")


def test_resume_is_exact(tmp_path):
    from ganforge.core.training import checkpoint as ckpt

    images, labels = discs(30)
    np.savez(tmp_path / "d.npz", images=images, labels=labels, categories=np.array(CATEGORIES))
    _train(_config(tmp_path, "straight", 6, batch=4, sample_every=1000, checkpoint_every=3))
    _train(_config(tmp_path, "split", 3, batch=4, sample_every=1000, checkpoint_every=3))
    _train(_config(tmp_path, "split", 6, batch=4, sample_every=1000, checkpoint_every=3), resume=True)
    a = ckpt.load_latest(tmp_path / "straight")[1]
    b = ckpt.load_latest(tmp_path / "split")[1]
    keys = [k for k in a if k.startswith(("G.", "D.", "G_ema."))]
    assert any("running_mean" in k for k in keys)  # batch-norm statistics are part of the state
    for key in keys:
        assert torch.equal(a[key], b[key]), key
