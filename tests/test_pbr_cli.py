"""``ganforge generate --maps/--orm`` on a tiny trained pack: files, names, bits, pixels, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import train_texture_pack
from PIL import Image
from test_cli import one_error_line
from test_export_trained import seam_ratios

from ganforge.core import pbr, plugins, runtime
from ganforge.core.cli import cli

ALL = "color,normal,height,roughness,ao"


@pytest.fixture(autouse=True)
def _fresh_plugins():
    plugins.reset()
    yield
    plugins.reset()


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A colour texture pack (scikit-image's micrograph) trained for 6 steps, tiny model, exported."""
    _, report = train_texture_pack(tmp_path_factory.mktemp("pbr"), "builtin:ihc", steps=6, log_every=3)
    return report.path


def invoke(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args], prog_name="ganforge")


def read(path: Path) -> np.ndarray:
    image = Image.open(path)
    scale = 65535.0 if image.mode.startswith("I") else 255.0
    return np.asarray(image, dtype=np.float64) / scale


def test_every_map_is_written_and_equals_the_library(pack: Path, tmp_path: Path) -> None:
    result = invoke("generate", pack, "--seed", 7, "--size", "64x48", "--maps", ALL, "--orm", "-o", tmp_path / "b.png")
    assert result.exit_code == 0, result.output
    names = [Path(p).name for p in result.stdout.split()]
    assert names == ["b_color.png", "b_normal.png", "b_height.png", "b_roughness.png", "b_ao.png", "b_orm.png"]
    modes = {n: Image.open(tmp_path / n).mode for n in names}
    assert modes == {"b_color.png": "RGB", "b_normal.png": "RGB", "b_height.png": "I;16", "b_roughness.png": "L",
                     "b_ao.png": "L", "b_orm.png": "RGB"}
    colour = runtime.load(pack).generate(seed=7, size="64x48")[0]
    want = pbr.derive(colour)
    for name in pbr.MAPS:
        step = 0.5 / (65535 if name == "height" else 255) + 1e-7
        got = read(tmp_path / f"b_{name}.png")
        assert got.shape[:2] == (48, 64) and np.abs(got - want[name]).max() <= step, name
    orm = read(tmp_path / "b_orm.png")
    assert np.abs(orm[..., 0] - want["ao"]).max() <= 0.5 / 255 + 1e-7
    assert np.abs(orm[..., 1] - want["roughness"]).max() <= 0.5 / 255 + 1e-7 and np.all(orm[..., 2] == 0)
    # The colour map is the plain texture, byte for byte.
    assert invoke("generate", pack, "--seed", 7, "--size", "64x48", "-o", tmp_path / "plain.png").exit_code == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "plain.png")), np.asarray(Image.open(tmp_path / "b_color.png")))


def test_maps_of_a_trained_pack_tile(pack: Path, tmp_path: Path) -> None:
    colours = runtime.load(pack).generate(seed=0, count=16, size="128x128")  # AO is sparse: many rows
    assert max(seam_ratios(colours)) <= 1.2
    derived = [pbr.derive(c) for c in colours]
    for name in ("normal", "height", "roughness", "ao"):
        stack = np.stack([d[name] for d in derived])
        cols, rows = seam_ratios(stack if stack.ndim == 4 else stack[..., None])
        assert cols <= 1.2 and rows <= 1.2, (name, cols, rows)


def test_folder_count_options_and_directx(pack: Path, tmp_path: Path) -> None:
    out = tmp_path / "maps"
    result = invoke("generate", pack, "--seed", 3, "--count", 2, "--size", "32x32", "--maps", "normal,height",
                    "--normal-format", "directx", "--normal-strength", 4, "--roughness-range", "0.1,0.5", "-o", out)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["texture_000_height.png", "texture_000_normal.png",
                                                     "texture_001_height.png", "texture_001_normal.png"]
    colour = runtime.load(pack).generate(seed=4, size="32x32")[0]  # item 1 is seed 4
    want = pbr.derive(colour, ["normal"], pbr.PbrOptions(normal_format="directx", normal_strength=4.0))["normal"]
    assert np.abs(read(out / "texture_001_normal.png") - want).max() <= 0.5 / 255 + 1e-7
    # --orm alone: the colour and the packed file.
    result = invoke("generate", pack, "--size", "32x32", "--orm", "-o", tmp_path / "o.png")
    assert [Path(p).name for p in result.stdout.split()] == ["o_color.png", "o_orm.png"], result.output


def test_bad_map_options_are_one_line_and_leave_nothing(pack: Path, tmp_path: Path) -> None:
    out = tmp_path / "x"
    one_error_line(invoke("generate", pack, "--maps", "color,albedo", "-o", out), "albedo", ALL.replace(",", ", "))
    one_error_line(invoke("generate", pack, "--maps", "color", "--roughness-range", "0.5", "-o", out), "LOW,HIGH")
    one_error_line(invoke("generate", pack, "--maps", "color", "--height-detail", 3, "-o", out), "detail")
    assert not out.exists() or not any(out.iterdir())


def test_a_failing_map_leaves_no_file(pack: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ganforge.core.errors import GanforgeError
    from ganforge.core.modalities.texture import maps

    real, calls = maps._save, []

    def third_fails(array: np.ndarray, path: Path, bits: int = 8) -> Path:
        calls.append(path.name)
        if len(calls) == 3:
            raise GanforgeError(f"{path}: disk full")
        return real(array, path, bits)

    monkeypatch.setattr(maps, "_save", third_fails)
    out = tmp_path / "all"
    out.mkdir()
    one_error_line(invoke("generate", pack, "--size", "32x32", "--maps", ALL, "-o", out / "t.png"), "disk full")
    assert len(calls) == 3 and list(out.iterdir()) == []  # the first two were never renamed into place


def test_maps_refused_for_a_non_texture_pack(tmp_path: Path) -> None:
    from test_blender_addon import make_image_pack

    icons = make_image_pack(tmp_path / "icons.onnx")
    one_error_line(invoke("generate", icons, "--maps", "normal", "-o", tmp_path / "i.png"),
                   "--maps does not apply to image packs", str(icons))
