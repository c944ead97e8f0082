"""The texture codec on its own (torch-free): sizes, decoding, PNG writing, CLI options."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from ganforge.core.errors import GanforgeError, PackError
from ganforge.core.modalities.texture import codec
from ganforge.core.pack import InputSpec, OutputSpec, PackMeta


def meta(stride: int = 16, channels: int = 3, default: list[int] | None = None) -> PackMeta:
    return PackMeta(
        modality="texture",
        inputs=[InputSpec("z_local", ["batch", 8, "h", "w"]), InputSpec("z_global", ["batch", 8])],
        outputs=[OutputSpec("image", "NCHW", [-1.0, 1.0])],
        decoder={"stride": stride, "channels": channels, "default_size": default or [512, 256]},
    )


@pytest.mark.parametrize(("size", "dims"), [
    (None, {"h": 16, "w": 32}), ("64x32", {"h": 2, "w": 4}), (" 48 X 16 ", {"h": 1, "w": 3}),
    ((96, 16), {"h": 1, "w": 6}), (128, {"h": 8, "w": 8}), ("256", {"h": 16, "w": 16}),
])
def test_resolve_dims(size: object, dims: dict[str, int]) -> None:
    assert codec.resolve_dims(meta(), {"size": size}) == dims


@pytest.mark.parametrize(("size", "message"), [
    ("500x500", "size 500x500 is not a multiple of the pack's stride 16; nearest valid: 496x496 or 512x512"),
    ("500x64", "nearest valid: 496x64 or 512x64"),
    ("8x8", "nearest valid: 16x16"),
    ("0x16", "must be positive"),
    ("32768x16", "exceeds the largest supported side 16384"),
    ("big", "is not WIDTHxHEIGHT"),
    ((1.5, 2), "is not WIDTHxHEIGHT"),
])
def test_bad_sizes(size: object, message: str) -> None:
    with pytest.raises(GanforgeError) as err:
        codec.resolve_dims(meta(), {"size": size})
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("decoder", [
    {"stride": 0}, {"stride": 16, "channels": 2}, {"stride": 16, "default_size": [500, 512]},
    {"stride": "16"}, {"stride": 16, "default_size": [10**6, 16]},
])
def test_absurd_decoder_settings(decoder: dict) -> None:
    m = meta()
    m.decoder = decoder
    with pytest.raises(PackError, match="x.onnx: texture decoder"):
        codec.validate(m, "x.onnx")


def test_output_bytes() -> None:
    assert codec.output_bytes(meta(), {"h": 4, "w": 2}, 3) == 3 * 64 * 32 * 3 * 4


def test_decode_maps_range_layout_and_grey() -> None:
    x = np.array([-1.0, 0.0, 1.0, 2.0], np.float32).reshape(1, 1, 2, 2)
    grey = codec.decode([x], meta(channels=1), {})
    assert grey.shape == (1, 2, 2, 3) and grey.dtype == np.float32
    np.testing.assert_allclose(grey[0, :, :, 0], [[0.0, 0.5], [1.0, 1.0]])
    assert np.array_equal(grey[..., 0], grey[..., 2])
    rgb = np.random.default_rng(0).uniform(-1, 1, (2, 3, 4, 5)).astype(np.float32)
    out = codec.decode([rgb], meta(), {})
    assert out.shape == (2, 4, 5, 3)
    np.testing.assert_allclose(out, (rgb.transpose(0, 2, 3, 1) + 1) / 2, atol=1e-6)
    rgba = np.zeros((1, 4, 2, 2), np.float32)
    assert codec.decode([rgba], meta(channels=4), {}).shape == (1, 2, 2, 3)
    assert codec.to_unit([rgba], meta(channels=4)).shape == (1, 2, 2, 4)  # the raw channels


def test_write_single_many_folder_and_preview(tmp_path: Path) -> None:
    images = np.random.default_rng(1).random((2, 8, 12, 3), dtype=np.float32)
    [one] = codec.write(images[:1], tmp_path / "a.png", {})
    back = np.asarray(Image.open(one))
    assert back.shape == (8, 12, 3) and back.dtype == np.uint8
    np.testing.assert_array_equal(back, (images[0] * 255 + 0.5).astype(np.uint8))

    many = codec.write(images, tmp_path / "b.png", {"tile_preview": True})
    assert [p.name for p in many] == ["b_000.png", "b_000_tiled2x2.png", "b_001.png", "b_001_tiled2x2.png"]
    tiled = np.asarray(Image.open(many[1]))
    assert tiled.shape == (16, 24, 3)
    np.testing.assert_array_equal(tiled[8:, 12:], np.asarray(Image.open(many[0])))

    folder = tmp_path / "dir"
    folder.mkdir()
    assert [p.name for p in codec.write(images, folder, {})] == ["texture_000.png", "texture_001.png"]
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".")]  # no temp files left


def test_write_grey_as_one_channel(tmp_path: Path) -> None:
    grey = np.repeat(np.linspace(0, 1, 16, dtype=np.float32).reshape(1, 4, 4, 1), 3, axis=3)
    [path] = codec.write(grey, tmp_path / "g.png", {})
    assert Image.open(path).mode == "L"


def test_write_errors(tmp_path: Path) -> None:
    images = np.zeros((1, 4, 4, 3), np.float32)
    with pytest.raises(GanforgeError, match="use a .png name"):
        codec.write(images, tmp_path / "a.jpg", {})
    with pytest.raises(GanforgeError, match="does not exist"):
        codec.write(images, tmp_path / "missing" / "a.png", {})


def test_generate_options_on_a_click_command() -> None:
    seen = {}

    @click.command()
    def cmd(**kw: object) -> None:
        seen.update(kw)

    cmd.params.extend(codec.TextureCodec.generate_options)  # what `ganforge generate` does
    result = CliRunner().invoke(cmd, ["--size", "64x32", "--tile-preview"])
    assert result.exit_code == 0, result.output
    mine = {k: seen[k] for k in ("size", "tile_preview", "orm")}
    assert mine == {"size": "64x32", "tile_preview": True, "orm": False}
    assert {v for k, v in seen.items() if k not in mine} == {None}  # PBR map options: the library's defaults
    assert codec.resolve_dims(meta(), seen) == {"h": 2, "w": 4}
    assert all(isinstance(o, click.Option) for o in codec.GENERATE_OPTIONS)
