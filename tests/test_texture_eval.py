"""``ganforge eval TEXTURE_PACK --data PHOTOS``: SWD/KID on 128-px crops and the photos' baselines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_cli import _fresh_plugins, invoke, one_error_line, texture_pack  # noqa: F401 (autouse fixture)

from ganforge.core.metrics import texture as T
from ganforge.core.modalities.texture import metrics as tm
from ganforge.core.pack import OutputSpec, PackMeta


def structured(h: int, w: int, seed: int) -> np.ndarray:
    """Random coloured diagonal stripes with random discs on top: uint8 (h, w, 3)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = rng.random((40, 3))[((x + 0.5 * y) // 12).astype(int) % 40]
    for _ in range(h * w // 2500):
        cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.integers(4, 14)
        img[(y - cy) ** 2 + (x - cx) ** 2 < r * r] = rng.random(3)
    return (img * 255).astype(np.uint8)


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    d = tmp_path / "photos"
    d.mkdir()
    Image.fromarray(structured(320, 320, 1)).save(d / "a.png")
    Image.fromarray(structured(256, 300, 2)).save(d / "b.png")
    return d


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    return texture_pack(tmp_path / "tex.onnx")


def test_baselines_order_from_real_to_flat(photos: Path) -> None:
    images = [np.asarray(Image.open(p), np.float32) / 255 for p in sorted(photos.iterdir())]
    ref = T.Reference(T.reference_crops(images, 128, 48, seed=0), seed=0)
    sets = T.texture_baselines(images, 128, 48, seed=0)
    assert list(sets) == list(T.BASELINES)
    assert all(v.shape == (48, 128, 128, 3) and v.dtype == np.float32 for v in sets.values())
    assert sets["noise"].min() >= 0 and sets["noise"].max() <= 1
    scores = T.score_baselines(images, ref, 128, 48, seed=0)
    swd = {k: v["swd"] for k, v in scores.items()}
    assert swd["real"] < swd["shuffle64"] < swd["shuffle16"] < swd["flat"], swd
    kid = {k: v["kid"] for k, v in scores.items()}
    assert kid["real"] < kid["flat"] and kid["shuffle16"] < kid["flat"], kid
    # deterministic in the seed; the reference cache scores like a fresh one
    again = T.score_texture(T.texture_baselines(images, 128, 48, seed=0)["shuffle32"],
                            T.reference_crops(images, 128, 48, seed=0), seed=0)
    assert again["swd"] == scores["shuffle32"]["swd"] and again["kid"] == scores["shuffle32"]["kid"]


def test_greyscale_pack_scores_one_channel(photos: Path) -> None:
    meta = PackMeta("texture", [], [OutputSpec("image", "NCHW", [-1.0, 1.0], "")],
                    decoder={"stride": 4, "channels": 1, "default_size": [32, 32]})
    ref = tm.load_reference(photos, meta)
    assert ref.channels == 1 and all(p.shape[2] == 1 for p in ref.images)
    crops = T.reference_crops(ref.images, 128, 8, seed=1)
    assert crops.shape == (8, 128, 128, 1)
    assert set(T.score_texture(crops, ref.reference(8, 0))) >= {"swd", "kid"}


def test_cli_json_has_scores_baselines_and_pixel_std(pack: Path, photos: Path) -> None:
    result = invoke("eval", pack, "--data", photos, "--samples", 16, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert isinstance(data["swd"], float) and isinstance(data["kid"], float)
    assert set(data["baselines"]) == set(T.BASELINES)
    levels = set(data["details"]["swd"])
    assert levels and all(k.startswith("swd_") for k in levels)
    assert all(set(v) == {"swd", "kid"} | levels for v in data["baselines"].values())
    assert data["baselines"]["real"]["swd"] < data["baselines"]["flat"]["swd"]
    assert data["pixel_std"] > 0 and data["reference_pixel_std"] > 0
    assert data["samples"] == data["reference"] == 16 and data["photos"] == 2 and data["crop"] == 128
    again = json.loads(invoke("eval", pack, "--data", photos, "--samples", 16, "--json").stdout)
    assert again["swd"] == data["swd"] and again["baselines"] == data["baselines"]


def test_cli_table(pack: Path, photos: Path) -> None:
    result = invoke("eval", pack, "--data", photos, "--samples", 8)
    assert result.exit_code == 0, result.output
    out = result.stdout
    for word in ("swd ", "kid ", "real", "shuffle64", "shuffle16", "flat", "noise", "> this pack", "pixel std",
                 "128 px", "16 px", "the coarsest"):
        assert word in out, (word, out)
    assert out.index("  real") < out.index("  flat")


def test_bad_input_is_one_error_line(pack: Path, photos: Path, tmp_path: Path) -> None:
    one_error_line(invoke("eval", pack, "--data", tmp_path / "nope"), str(tmp_path / "nope"))
    small = tmp_path / "small"
    small.mkdir()
    Image.fromarray(structured(200, 200, 3)).save(small / "ok.png")
    Image.fromarray(structured(100, 140, 4)).save(small / "tiny.png")
    one_error_line(invoke("eval", pack, "--data", small), str(small / "tiny.png"), "128")


def test_texture_eval_stays_torch_free(pack: Path, photos: Path) -> None:
    code = ("import sys\n"
            "from ganforge.core.commands.eval import evaluate_pack\n"
            "r = evaluate_pack(sys.argv[1], sys.argv[2], samples=4)\n"
            "assert 'torch' not in sys.modules and 'baselines' in r\n")
    proc = subprocess.run([sys.executable, "-c", code, str(pack), str(photos)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_crops_per_texture_sets_how_many_global_latents_are_scored(pack: Path, photos: Path) -> None:
    """16 crops per texture by default (a few textures); 1 draws every crop from its own texture."""
    from ganforge.core import runtime

    rt = runtime.load(pack)
    reference = tm.load_reference(photos, rt.meta)
    counts: list[int] = []
    generate = rt.generate

    def counting(seed: int, count: int, **options):
        counts.append(count)
        return generate(seed, count, **options)

    rt.generate = counting  # type: ignore[method-assign]
    few = tm.eval_samples(rt, reference, 32, seed=0)
    many = tm.eval_samples(rt, reference, 32, seed=0, crops_per_texture=1)
    assert counts == [2, 32] and few.shape == many.shape == (32, tm.CROP, tm.CROP, 3)
    assert np.array_equal(many, tm.eval_samples(rt, reference, 32, seed=0, crops_per_texture=1))
    with pytest.raises(ValueError, match="crops_per_texture"):
        tm.eval_samples(rt, reference, 32, seed=0, crops_per_texture=0)


def test_cli_crops_per_texture_scores_the_family_and_other_modalities_options_are_refused(
        pack: Path, photos: Path) -> None:
    few = json.loads(invoke("eval", pack, "--data", photos, "--samples", 16, "--json").stdout)
    result = invoke("eval", pack, "--data", photos, "--samples", 16, "--crops-per-texture", 1, "--json")
    assert result.exit_code == 0, result.output
    family = json.loads(result.stdout)
    # other generated crops (16 textures, not 1), the same reference crops and baselines
    assert family["swd"] != few["swd"] and family["baselines"] == few["baselines"]
    zero = invoke("eval", pack, "--data", photos, "--crops-per-texture", 0)  # click's usage error
    assert zero.exit_code == 2 and "'--crops-per-texture': 0 is not in the range" in zero.stderr
    # an option meant for another modality is an error, not silently ignored
    one_error_line(invoke("eval", pack, "--data", photos, "--truncation", 0.5),
                   "--truncation applies to image packs", "is a texture pack")
    one_error_line(invoke("eval", pack, "--data", photos, "--temperature", 0.8), "--temperature applies to music and text packs")
