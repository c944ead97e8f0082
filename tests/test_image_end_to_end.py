"""Image modality end to end: train (API and CLI) -> export -> runtime and `generate` -> `eval`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from ganforge.core.cli import cli

TINY: dict = {"channel_base": 128, "channel_max": 16, "d_channel_base": 128, "d_channel_max": 16,
              "z_dim": 16, "w_dim": 16, "eval_samples": 32}
CATEGORIES = ["red", "green", "blue"]


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], prog_name="ganforge")


def one_error_line(result, *needles: str) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def discs(n: int, size: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """RGBA discs of three colours on transparency (the colour says the category)."""
    r = np.random.default_rng(seed)
    images = np.zeros((n, size, size, 4), np.uint8)
    labels = np.arange(n) % 3
    yy, xx = np.mgrid[:size, :size]
    for i in range(n):
        cy, cx = r.integers(size // 3, 2 * size // 3, 2)
        inside = (yy - cy) ** 2 + (xx - cx) ** 2 < r.integers(3, size // 3) ** 2
        images[i][inside] = (*[(255, 0, 0), (0, 255, 0), (0, 0, 255)][labels[i]], 255)
    return images, labels


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny conditional RGBA model trained 24 steps and exported (best checkpoint) by the CLI."""
    from ganforge.core.modalities.image.data import build_dataset
    from ganforge.core.modalities.image.family import ImageFamily
    from ganforge.core.training.config import TrainConfig
    from ganforge.core.training.run import train

    root = tmp_path_factory.mktemp("image")
    images, labels = discs(60)
    np.savez(root / "discs.npz", images=images, labels=labels, categories=np.array(CATEGORIES))
    cfg = TrainConfig(modality="image", family="stylish", data=str(root / "discs.npz"), out=str(root / "run"),
                      steps=24, crop=16, batch=8, device="cpu", model=dict(TINY), sample_every=8, log_every=8,
                      augment=["translate", "color", "cutout"], r1_every=4, r1_gamma=0.1)
    train(cfg, progress=False, family_factory=ImageFamily, dataset_factory=build_dataset)
    result = invoke("export", root / "run", "-o", root / "discs.onnx", "--checkpoint", "best")
    assert result.exit_code == 0, result.output
    return root


def test_training_tracks_the_best_checkpoint_by_guarded_kid(trained):
    log = [json.loads(line) for line in (trained / "run" / "log.jsonl").read_text().splitlines()]
    samples = [r for r in log if r.get("event") == "sample"]
    assert [r["step"] for r in samples] == [8, 16, 24] and all("kid_guarded" in r and "kid" in r and "fd" in r and "variety_worst" in r for r in samples)
    assert (trained / "run" / "checkpoints" / "best.safetensors").is_file()
    assert (trained / "run" / "samples" / "step_000024.png").is_file()


def test_pack_declares_its_inputs_and_categories(trained):
    from ganforge.core import runtime

    pack = runtime.load(trained / "discs.onnx", device="cpu")
    assert [(s.name, s.draw) for s in pack.meta.inputs] == [
        ("z", "normal"), ("class_u", "uniform"), ("label", "scalar"), ("truncation", "scalar")]
    assert pack.meta.decoder["categories"] == CATEGORIES and pack.meta.decoder["channels"] == 4
    assert pack.meta.train["best"]["metric"] == "kid_guarded"  # KID + the collapse penalty


def test_runtime_returns_straight_rgba_and_keeps_the_seed_contract(trained):
    from ganforge.core import runtime

    pack = runtime.load(trained / "discs.onnx", device="cpu")
    batch = pack.generate(seed=5, count=3)
    assert batch.shape == (3, 16, 16, 4) and batch.dtype == np.float32
    assert 0.0 <= batch.min() and batch.max() <= 1.0
    assert not batch[batch[..., 3] == 0][..., :3].any()  # a transparent pixel has no colour
    np.testing.assert_array_equal(batch[2], pack.generate(seed=7, count=1)[0])
    np.testing.assert_array_equal(batch, pack.generate(seed=5, count=3))


def test_category_and_truncation_steer_the_output(trained):
    from ganforge.core import runtime

    pack = runtime.load(trained / "discs.onnx", device="cpu")
    red, blue = pack.generate(0, 2, category="red"), pack.generate(0, 2, category="blue")
    assert not np.allclose(red, blue)
    np.testing.assert_array_equal(red, pack.generate(0, 2, scalars={"label": 0}))
    # ψ = 0 puts every seed on the category's average latent: one image per category
    centre = pack.generate(0, 3, category="green", truncation=0.0)
    np.testing.assert_allclose(centre[0], centre[1], atol=1e-6)
    np.testing.assert_allclose(centre[0], centre[2], atol=1e-6)
    assert not np.allclose(centre[0], pack.generate(0, 1, category="red", truncation=0.0)[0])
    half = pack.generate(0, 2, category="green", truncation=0.5)
    assert not np.allclose(half[0], half[1])


def test_interpolation_moves_from_seed_a_to_seed_b(trained):
    from ganforge.core import runtime

    pack = runtime.load(trained / "discs.onnx", device="cpu")
    strip = pack.generate(interpolate=(3, 9), steps=5, category="red")
    assert strip.shape == (5, 16, 16, 4)
    np.testing.assert_allclose(strip[0], pack.generate(3, 1, category="red")[0], atol=1e-5)
    np.testing.assert_allclose(strip[-1], pack.generate(9, 1, category="red")[0], atol=1e-5)


def test_generate_cli_writes_pngs_with_alpha_grids_and_strips(trained, tmp_path):
    from PIL import Image

    pack = trained / "discs.onnx"
    result = invoke("generate", pack, "--seed", 1, "--count", 3, "--category", "blue", "--truncation", 0.7,
                    "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    files = sorted((tmp_path / "out").iterdir())
    assert [f.name for f in files] == ["image_000.png", "image_001.png", "image_002.png"]
    assert Image.open(files[0]).mode == "RGBA" and Image.open(files[0]).size == (16, 16)
    result = invoke("generate", pack, "--count", 4, "--grid", "-o", tmp_path / "sheet.png")
    assert result.exit_code == 0 and Image.open(tmp_path / "sheet.png").size == (38, 38)
    result = invoke("generate", pack, "--interpolate", 3, 9, "--steps", 4, "-o", tmp_path / "strip.png")
    assert result.exit_code == 0 and Image.open(tmp_path / "strip.png").size == (4 * 18 + 2, 20)
    result = invoke("generate", pack, "--interpolate", 3, 9, "--steps", 4, "-o", tmp_path / "morph.gif")
    assert result.exit_code == 0, result.output
    gif = Image.open(tmp_path / "morph.gif")
    assert gif.n_frames == 6  # 4 frames, ping-pong back without repeating the ends


def test_int8_export_is_one_line(trained, tmp_path):
    """Issue 17: --int8 of a non-texture run ended in the quantiser's traceback."""
    one_error_line(invoke("export", trained / "run", "-o", tmp_path / "q.onnx", "--int8"),
                   "--int8 is for texture packs; this is an image model")
    assert list(tmp_path.iterdir()) == []


def test_unknown_category_is_one_line_listing_the_known_ones(trained, tmp_path):
    result = invoke("generate", trained / "discs.onnx", "--category", "purple", "-o", tmp_path / "x.png")
    one_error_line(result, "'purple'", "red, green, blue")
    assert not list(tmp_path.iterdir())  # nothing written
    one_error_line(invoke("generate", trained / "discs.onnx", "--truncation", 5, "-o", tmp_path / "x.png"),
                   "truncation")
    one_error_line(invoke("generate", trained / "discs.onnx", "--size", "64x64", "-o", tmp_path / "x.png"),
                   "--size", "image")


def test_eval_cli_reports_every_metric(trained):
    result = invoke("eval", trained / "discs.onnx", "--data", trained / "discs.npz", "--samples", 60, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    for key in ("fd", "kid", "swd", "memorisation"):
        assert np.isfinite(report[key]), key
    assert report["samples"] == 60 and report["reference"] == 60
    assert isinstance(report["memorisation_flagged"], bool) and report["features"].startswith("random-cnn")
    # what a user sees, each beside held-out real data's value
    for key in ("accuracy", "accuracy_ratio", "variety", "variety_worst", "density", "coverage"):
        assert isinstance(report[key], float), key
    for key in ("accuracy", "variety", "variety_worst", "density", "coverage", "memorisation"):
        assert isinstance(report["floor"][key], float), key
    assert set(report["per_category"]) == set(CATEGORIES) and isinstance(report["collapsed_categories"], list)
    text = invoke("eval", trained / "discs.onnx", "--data", trained / "discs.npz", "--samples", 30)
    assert text.exit_code == 0 and "kid" in text.stdout and "memorisation" in text.stdout
    one_error_line(invoke("eval", trained / "discs.onnx", "--data", trained / "nope.npz"), "nope.npz")


def test_cli_trains_an_unconditional_folder_and_refuses_categories(tmp_path):
    from PIL import Image

    images, _ = discs(8, 20)
    (tmp_path / "sprites").mkdir()
    for i, img in enumerate(images):
        Image.fromarray(img).save(tmp_path / "sprites" / f"{i}.png")
    run = tmp_path / "run"
    result = invoke("train", "image", "--data", tmp_path / "sprites", "--size", 16, "--steps", 2, "--batch", 4,
                    "--data-option", "fit=crop", "--out", run, "--sample-every", 1000, "--no-progress")
    assert result.exit_code == 0, result.output
    config = json.loads((run / "config.json").read_text())
    assert config["crop"] == 16 and config["data_options"] == {"fit": "crop"}
    assert config["family"] == "fastgan"  # the modality's default, which measured best
    assert invoke("export", run, "-o", tmp_path / "u.onnx").exit_code == 0
    from ganforge.core import runtime

    pack = runtime.load(tmp_path / "u.onnx", device="cpu")
    assert [s.name for s in pack.meta.inputs] == ["z", "truncation"] and pack.meta.decoder["fit"] == "crop"
    one_error_line(invoke("generate", tmp_path / "u.onnx", "--category", "red", "-o", tmp_path / "x.png"),
                   "unconditional")


def test_bad_labels_stop_training_before_it_starts(tmp_path):
    images, _ = discs(6)
    np.savez(tmp_path / "bad.npz", images=images, labels=np.zeros(4, int))
    result = invoke("train", "image", "--data", tmp_path / "bad.npz", "--size", 16, "--steps", 2,
                    "--out", tmp_path / "run", "--no-progress")
    one_error_line(result, "bad.npz", "one per image")
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_size_the_generator_cannot_make_is_refused(tmp_path):
    images, _ = discs(6)
    np.savez(tmp_path / "d.npz", images=images)
    result = invoke("train", "image", "--data", tmp_path / "d.npz", "--size", 48, "--steps", 1,
                    "--out", tmp_path / "run", "--no-progress")
    one_error_line(result, "48", "power of two")


def test_conditional_resume_is_exact(tmp_path):
    import torch

    from ganforge.core.modalities.image.data import build_dataset
    from ganforge.core.modalities.image.family import ImageFamily
    from ganforge.core.training import checkpoint as ckpt
    from ganforge.core.training.config import TrainConfig
    from ganforge.core.training.run import train

    images, labels = discs(30)
    np.savez(tmp_path / "d.npz", images=images, labels=labels, categories=np.array(CATEGORIES))

    def run(out: str, steps: int, resume: bool = False) -> None:
        cfg = TrainConfig(modality="image", family="stylish", data=str(tmp_path / "d.npz"), out=str(tmp_path / out),
                          steps=steps, crop=16, batch=4, device="cpu", model=dict(TINY), sample_every=1000,
                          checkpoint_every=2, augment=["translate", "color", "cutout"], r1_every=2)
        train(cfg, resume=resume, progress=False, family_factory=ImageFamily, dataset_factory=build_dataset)

    run("straight", 4)
    run("split", 2)
    run("split", 4, resume=True)
    a = ckpt.load_latest(tmp_path / "straight")[1]
    b = ckpt.load_latest(tmp_path / "split")[1]
    for key in (k for k in a if k.startswith(("G.", "D.", "G_ema."))):
        assert torch.equal(a[key], b[key]), key
