"""The global-latent field (``global_cell``): a texture whose member of the family changes
slowly across it, drawn the same way in training and by the torch-free runtime, and still
tiling exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TINY_MODEL

from ganforge.core.errors import PackError
from ganforge.core.fields import blend_weights, coarse_cells, draw_field, periodic_field
from ganforge.core.modalities.texture.family import TextureFamily
from ganforge.core.pack import InputSpec, OutputSpec, PackMeta


def test_field_entries_are_unit_normal_smooth_and_wrap_around() -> None:
    rng = np.random.default_rng(0)
    f = draw_field(rng, (64, 48, 40), 6)  # 8 x 7 coarse vectors (40 / 6 rounds to 7)
    assert f.shape == (64, 48, 40) and f.dtype == np.float32
    assert abs(f.std() - 1) < 0.1 and abs(f.mean()) < 0.1
    # smooth: neighbours differ far less than independent normals would (sqrt(2) apart)
    steps = np.abs(np.diff(f, axis=2)).mean(axis=(0, 1))  # per column pair
    assert steps.mean() < 0.45
    # and across the wrap (last column -> first) no more than between any two columns: it tiles
    wrap = np.abs(f[..., 0] - f[..., -1]).mean()
    assert wrap < 1.1 * steps.max()
    # each latent cell's weights have unit L2 norm: every entry is exactly N(0, 1)
    for period, offset in ((40, 0.0), (70, 13.3)):
        w = blend_weights(40, 7, period, offset)
        assert np.allclose(np.linalg.norm(w, axis=1), 1.0)


def test_one_coarse_vector_per_cell_and_a_shift_of_the_grid_is_a_shift_of_the_field() -> None:
    coarse = np.random.default_rng(1).standard_normal((3, 4, 5)).astype(np.float32)
    assert np.allclose(periodic_field(coarse, 4, 5), coarse)  # cell 1: the grid itself
    f = periodic_field(coarse, 16, 20)
    rolled = periodic_field(np.roll(coarse, 1, axis=2), 16, 20)
    assert np.allclose(np.roll(f, 4, axis=2), rolled, atol=1e-6)  # periodic, no edge effects
    assert coarse_cells(3, 8) == 1 and np.allclose(periodic_field(coarse[:, :1, :1], 3, 3), coarse[:, :1, :1])


def _family(**options) -> TextureFamily:
    return TextureFamily({**TINY_MODEL, **options}, {"channels": 3, "crop": 32})


def test_training_draws_field_windows_and_the_pack_declares_a_field() -> None:
    fam = _family(global_cell=4)
    inputs = fam.sample_inputs(64, torch.Generator().manual_seed(0), torch.device("cpu"))
    g = inputs["z_global"]
    assert g.shape == (64, 4, 8, 8)  # crop 32 / stride 4 -> 8 x 8 latent cells
    assert abs(float(g.std()) - 1) < 0.1
    # smooth inside a crop, and a window, not a wrapped field: the crop's two edges are
    # farther apart than neighbours
    inside = (g[..., 1:] - g[..., :-1]).abs().mean()
    edges = (g[..., 0] - g[..., -1]).abs().mean()
    assert inside < 0.4 and edges > 2 * inside
    spec = {s.name: s for s in fam.pack_inputs()}["z_global"]
    assert (spec.draw, spec.shape, spec.default) == ("field", ["batch", 4, "h", "w"], 4)
    assert fam.dynamic_axes()["z_global"] == {0: "batch", 2: "h", 3: "w"}
    # global_cell=0 (and runs saved before the option): one vector per texture, as before
    old = {s.name: s for s in _family(global_cell=0).pack_inputs()}["z_global"]
    assert (old.draw, old.shape) == ("normal", ["batch", 4])


def test_generator_with_a_field_still_tiles_exactly() -> None:
    fam = _family(global_cell=2)
    torch.manual_seed(0)
    G = fam.build_generator().eval()
    z, g = fam.example_inputs(1, {"h": 6, "w": 8})
    assert g.shape == (1, 4, 6, 8)
    with torch.no_grad():
        base = G(z, g)
        rolled = G(torch.roll(z, 2, dims=3), torch.roll(g, 2, dims=3))
        other = G(z, torch.flip(g, dims=(3,)))
    assert torch.allclose(torch.roll(base, 2 * fam.stride, dims=3), rolled, atol=1e-5)
    assert not torch.allclose(base, other, atol=1e-3)  # the field does steer the texture
    assert fam.receptive_radius() is not None


def test_a_field_input_needs_a_cell_size() -> None:
    out = [OutputSpec("image", "NCHW")]
    ok = PackMeta("texture", [InputSpec("z", ["batch", 4, "h", "w"], draw="field", default=4)], out)
    ok.validate()
    for default, shape in ((None, ["batch", 4, "h", "w"]), (0, ["batch", 4, "h", "w"]), (True, ["h", "w"]),
                           (2.5, ["h", "w"]), (4, ["batch"])):
        bad = PackMeta("texture", [InputSpec("z", shape, draw="field", default=default)], out)
        with pytest.raises(PackError, match="cell size"):
            bad.validate()


def test_a_field_pack_runs_torch_free_the_same_whole_or_in_tiles_and_tiles_seamlessly(
        tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ganforge.core import plugins, runtime
    from ganforge.core.components import resolve
    from ganforge.core.modalities.texture import codec
    from ganforge.core.training.config import TrainConfig
    from ganforge.core.training.run import train

    cfg = TrainConfig(out=str(tmp_path / "run"), data="builtin:skimage", steps=3, crop=32, batch=4, seed=0,
                      device="cpu", model={**TINY_MODEL, "global_cell": 3}, sample_every=1000, log_every=1,
                      checkpoint_every=1000, r1_every=2)
    run_dir = train(cfg, progress=False).run_dir
    export = resolve(plugins.get_registry().exporters["onnx"].export)
    export(run_dir, tmp_path / "f.onnx", license="CC0-1.0")  # checked against torch on the way
    rt = runtime.load(tmp_path / "f.onnx")
    spec = {s.name: s for s in rt.meta.inputs}["z_global"]
    assert (spec.draw, spec.default) == ("field", 3)
    feeds = rt.draw_inputs(5, 1, {"h": 12, "w": 18})
    assert feeds["z_global"].shape == (1, 4, 12, 18)
    assert np.array_equal(feeds["z_global"][0], rt.draw_inputs(5, 1, {"h": 12, "w": 18})["z_global"][0])
    whole = rt.generate(seed=5, size="256x128")
    monkeypatch.setenv("GANFORGE_TILE_MB", "1")
    dims = codec.resolve_dims(rt.meta, {"size": "256x128"})
    assert rt.schedule(1, dims)[1] is not None
    assert np.abs(rt.generate(seed=5, size="256x128") - whole).max() < 1e-5
    # the texture wraps: across its seams it changes no more than between neighbouring columns
    img = whole[0]
    inner = np.abs(np.diff(img, axis=1)).mean(axis=(0, 2)).max()
    assert np.abs(img[:, 0] - img[:, -1]).mean() <= 1.05 * inner


def test_a_run_saved_before_the_field_keeps_one_global_vector() -> None:
    from ganforge.core.modalities.texture.family import DEFAULTS

    assert _family().options["global_cell"] == 4  # new runs: a field, one vector per 32 px
    saved = {k: v for k, v in DEFAULTS.items() if k != "global_cell"}  # every older option
    old = TextureFamily(saved, {"channels": 3, "crop": 64})
    assert old.options["global_cell"] == 0
    assert old.sample_inputs(2, torch.Generator().manual_seed(0), torch.device("cpu"))["z_global"].shape == (2, 32)
