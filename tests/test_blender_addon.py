"""The extension in real headless Blender (the ``bpy`` 5.0.1 module, in its own venv).

One Blender session (``tests/blender_driver.py``) installs the built Linux zip the way a user
does, drives the public operators, saves and reopens a .blend. This test builds the packs,
checks what Blender saw against the torch-free runtime run here, and checks the reports for
bad input. The Blender Python has no ganforge and no onnxruntime: the zip's wheels must do.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from PIL import Image

from ganforge.core import runtime
from ganforge.plugins.blender import build as blender_build
from ganforge.plugins.blender import logic

ROOT = Path(__file__).resolve().parents[1]
DRIVER = Path(__file__).with_name("blender_driver.py")
TINY = {"base": 16, "stages": 2, "local_dim": 4, "global_dim": 4, "min_width": 8}
HALF_STEP = 0.5 / 255 + 1e-6  # Blender stores 8-bit images: rounding to the nearest step
pytestmark = pytest.mark.required


def bpy_python() -> Path | None:
    """The Python with bpy: $GANFORGE_BPY_PYTHON, else `make blender-venv`'s."""
    env = os.environ.get(blender_build.BPY_PYTHON_ENV)
    path = Path(env) if env else ROOT / ".venv-blender" / "bin" / "python"
    return path if path.exists() else None


def make_image_pack(path: Path) -> Path:
    """A tiny untrained RGBA sprite pack with two categories."""
    import torch

    from ganforge.core.modalities.image.family import ImageFamily
    from ganforge.exporters.onnx.export import export_generator

    family = ImageFamily({"z_dim": 16, "w_dim": 16, "mapping_layers": 1, "channel_base": 64, "channel_max": 16,
                          "d_channel_base": 64, "d_channel_max": 16},
                         {"channels": 4, "crop": 16, "categories": ["coin", "gem"]})
    torch.manual_seed(0)
    export_generator(family, family.build_generator().eval(), path, facts={}, modality="image",
                     family_name="stylish")
    return path


def make_pack(path: Path, channels: int) -> Path:
    import torch

    from ganforge.core.modalities.texture.family import TextureFamily
    from ganforge.exporters.onnx.export import export_generator

    family = TextureFamily(dict(TINY), {"channels": channels, "crop": 32})
    torch.manual_seed(channels)
    export_generator(family, family.build_generator().eval(), path, facts={"data": "test"}, modality="texture")
    return path


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> dict:
    python = bpy_python()
    if python is None:
        pytest.skip("no bpy: run `make blender-venv` (or set GANFORGE_BPY_PYTHON)")
    root = tmp_path_factory.mktemp("blender")
    pack = make_pack(root / "bricks.onnx", 3)
    grey = make_pack(root / "stone.onnx", 1)
    sprites = make_image_pack(root / "icons.onnx")
    bad = root / "bad.onnx"
    model = onnx.load(str(pack))
    for prop in model.metadata_props:
        if prop.key == "ganforge.schema":
            prop.value = '"99"'
    onnx.save(model, str(bad))
    (zip_path,) = blender_build.build(root / "dist", ["linux-x64"], check=False)
    out = root / "out"
    out.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["BLENDER_USER_RESOURCES"] = str(root / "user")  # never the developer's own Blender config
    proc = subprocess.run([str(python), str(DRIVER), str(zip_path), str(pack), str(grey), str(bad), str(sprites),
                           str(out)],
                          capture_output=True, text=True, cwd=root, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    facts = json.loads((out / "facts.json").read_text())
    return {"facts": facts, "out": out, "pack": pack, "grey": grey, "root": root, "sprites": sprites}


def test_installs_with_its_own_wheels(session: dict) -> None:
    f = session["facts"]
    assert f["background"] and f["version"].startswith("5.0")
    assert f["install"] == ["FINISHED"] and "bl_ext.user_default.ganforge" in f["addons"]
    local = str(session["root"] / "user" / "extensions" / ".local")
    assert f["ganforge_core"].startswith(local) and f["onnxruntime"].startswith(local)
    assert f["plugin_warnings"] == [] and not f["torch_loaded"]


def test_texture_pixels_equal_the_runtime(session: dict) -> None:
    f = session["facts"]
    assert f["generate"] == {"result": ["FINISHED"], "error": None}
    expected = runtime.load(session["pack"]).generate(seed=5, count=1, size="64x32")[0]
    got = np.load(session["out"] / "seed5.npy")
    assert got.shape == (32, 64, 4) and np.all(got[..., 3] == 1.0)
    assert np.abs(got[..., :3] - expected).max() <= HALF_STEP
    # The check can fail: upside down (Blender's bottom-left origin) it would not match.
    assert np.abs(got[::-1, :, :3] - expected).max() > 0.05


def test_image_properties_and_packing(session: dict) -> None:
    img = session["facts"]["generate_image"]
    rt = runtime.load(session["pack"])
    assert img["size"] == [64, 32] and img["packed"] and img["colorspace"] == "sRGB"
    p = img["props"]
    assert p["ganforge_seed"] == 5 and p["ganforge_size"] == [64, 32]
    assert p["ganforge_pack_sha256"] == rt.sha256 and p["ganforge_pack"] == str(session["pack"])


def test_variations_are_consecutive_seeds(session: dict) -> None:
    f = session["facts"]
    assert f["variations"]["result"] == ["FINISHED"] and f["variation_seeds"] == [10, 11, 12]
    expected = runtime.load(session["pack"]).generate(seed=10, count=3, size="32x32")
    for i, seed in enumerate((10, 11, 12)):
        got = np.load(session["out"] / f"var{seed}.npy")[..., :3]
        assert np.abs(got - expected[i]).max() <= HALF_STEP


def test_interpolation_sequence(session: dict) -> None:
    f = session["facts"]
    seq = f["sequence"]
    assert f["interpolate"]["result"] == ["FINISHED"] and seq["source"] == "SEQUENCE"
    assert seq["frames"] == [f"frame_{i:04d}.png" for i in range(1, 5)]
    user_data = session["root"] / "user" / "extensions" / ".user" / "user_default" / "ganforge"
    assert Path(seq["folder"]).is_relative_to(user_data / "sequences")  # bpy.utils.extension_path_user
    assert f["sequence_rerun"] == [f"frame_{i:04d}.png" for i in range(1, 4)]  # a shorter rerun: no stale frames
    assert seq["props"]["ganforge_seed"] == 5 and seq["props"]["ganforge_seed_b"] == 9
    frames = [np.asarray(Image.open(session["out"] / "sequence" / n).convert("RGB"), dtype=np.float32) / 255
              for n in seq["frames"]]
    rt = runtime.load(session["pack"])
    a, b = rt.generate(seed=5, size="64x32")[0], rt.generate(seed=9, size="64x32")[0]
    assert np.abs(frames[0] - a).max() <= HALF_STEP and np.abs(frames[-1] - b).max() <= HALF_STEP
    middle = list(logic.interpolate(session["pack"], 5, 9, 4, 64, 32))[1].pixels
    assert np.abs(frames[1] - middle).max() <= HALF_STEP
    assert np.abs(frames[1] - a).mean() > 0.005 and np.abs(frames[1] - b).mean() > 0.005


def test_material_links(session: dict) -> None:
    f = session["facts"]
    assert f["material"]["result"] == ["FINISHED"]
    links = {tuple(lk) for lk in f["material_links"]}
    assert ("TEX_IMAGE", "Color", "BSDF_PRINCIPLED", "Base Color") in links
    assert ("TEX_COORD", "UV", "MAPPING", "Vector") in links
    assert ("MAPPING", "Vector", "TEX_IMAGE", "Vector") in links
    assert ("BSDF_PRINCIPLED", "BSDF", "OUTPUT_MATERIAL", "Surface") in links
    assert not any(lk[2] == "BUMP" for lk in links)  # an RGB pack gets no bump by default
    assert f["material_image"] == f["generate_image"]["name"]
    assert f["plane_material"] is not None
    box = {tuple(lk) for lk in f["box_links"]}
    assert f["box_projection"] == "BOX" and ("TEX_COORD", "Object", "MAPPING", "Vector") in box
    assert ("TEX_IMAGE", "Color", "BUMP", "Height") in box and ("BUMP", "Normal", "BSDF_PRINCIPLED", "Normal") in box
    grey = {tuple(lk) for lk in f["grey_links"]}
    assert f["grey"]["result"] == ["FINISHED"] and ("BUMP", "Normal", "BSDF_PRINCIPLED", "Normal") in grey


def test_sprites_with_alpha(session: dict) -> None:
    f = session["facts"]
    assert f["sprite"] == {"result": ["FINISHED"], "error": None}
    expected = runtime.load(session["sprites"]).generate(seed=2, count=2, category="gem", truncation=0.7)
    assert expected.shape == (2, 16, 16, 4)
    for i, seed in enumerate((2, 3)):
        got = np.load(session["out"] / f"sprite{seed}.npy")
        assert np.abs(got - expected[i]).max() <= HALF_STEP  # straight alpha, top-left origin
    p = f["sprite_props"]
    assert p["ganforge_seed"] == 3 and p["ganforge_category"] == "gem" and p["ganforge_size"] == [16, 16]
    assert abs(p["ganforge_truncation"] - 0.7) < 1e-6
    links = {tuple(lk) for lk in f["decal_links"]}
    assert ("TEX_IMAGE", "Alpha", "BSDF_PRINCIPLED", "Alpha") in links and f["decal_extension"] == "CLIP"
    for key, words in [("sprite_bad_category", ["sword", "coin, gem"]),
                       ("texture_from_image_pack", ["'image' pack", "Generate Sprite"])]:
        assert f[key]["result"] is None and f[key]["error"].startswith("Error: "), key
        assert all(w in f[key]["error"] for w in words), f[key]["error"]


def test_threaded_generation_applies_on_the_main_thread(session: dict) -> None:
    f = session["facts"]
    ok = f["thread_ok"]
    assert ok["result"] == ["FINISHED"] and ok["running_during"] and not ok["running_after"]
    assert ok["produced"] == 3 and f["thread_images"] == 3 and not ok["thread_alive"] and ok["status"] == "done"
    expected = runtime.load(session["pack"]).generate(seed=41, size="64x64")[0]
    assert np.abs(np.load(session["out"] / "thread41.npy")[..., :3] - expected).max() <= HALF_STEP


def test_escape_cancels_and_errors_are_reports(session: dict) -> None:
    f = session["facts"]
    cancel = f["thread_cancel"]
    assert cancel["result"] == ["CANCELLED"] and not cancel["running_after"] and not cancel["thread_alive"]
    assert cancel["reports"] == [["WARNING", "ganforge: cancelled"]] and cancel["status"] == "cancelled"
    # Nothing is applied after Esc, and the worker stops after the item it is on (not all 64).
    assert cancel["applied"] >= 1 and f["thread_cancel_images"] == cancel["applied"]
    assert cancel["produced"] < 64 and cancel["leftover"][-1] == "done"
    error = f["thread_error"]
    assert error["result"] == ["CANCELLED"] and not error["running_after"]
    assert error["reports"][0][0] == "ERROR" and "schema version '99'" in error["reports"][0][1]


def test_bad_input_is_a_report(session: dict) -> None:
    f = session["facts"]
    for key, words in [("bad_schema", ["schema", "bad.onnx"]), ("missing_pack", ["nope.onnx"]),
                       ("bad_size", ["101x101", "stride"]), ("absurd_size", ["MiB"]),
                       ("no_image", ["no such image"])]:
        error = f[key]["error"]
        assert f[key]["result"] is None and error, key
        assert error.startswith("Error: ") and "Traceback" not in error, (key, error)
        assert all(w in error for w in words), (key, error)
    assert f["images_after_errors"] == 0 and f["status"].startswith("error:")


def test_saved_blend_reopens(session: dict) -> None:
    f = session["facts"]
    assert f["reopened"]["props"] == f["generate_image"]["props"]
    assert f["reopened"]["material_links"] == f["material_links"]
    assert f["reopened"]["plane_material"] == f["plane_material"]
    np.testing.assert_array_equal(np.load(session["out"] / "reopened.npy"), np.load(session["out"] / "seed5.npy"))


def test_recent_packs_in_user_data(session: dict) -> None:
    recent = session["facts"]["recent"]  # most recent first; packs that failed are not listed
    assert recent == [str(session[k].resolve()) for k in ("pack", "grey", "sprites")]


def test_dice_recent_pack_and_clean_disable(session: dict) -> None:
    f = session["facts"]
    assert 0 < f["dice_seed"] < 2**31 - 1 and f["use_pack"] == str(session["pack"])
    assert f["disabled"] == {"addon": False, "settings": False, "operator": False}


# ---- PBR materials, Keep, new seeds in place, Bake, tile preview, the variation browser ----------
MAPS = ("color", "normal", "height", "roughness", "ao")


def cli_maps(pack: Path, seed: int, size: str, out: Path) -> dict[str, np.ndarray]:
    """``ganforge generate --maps ...`` files as float arrays (top-left origin)."""
    from click.testing import CliRunner

    from ganforge.core.cli import cli

    out.mkdir(parents=True, exist_ok=True)
    result = CliRunner().invoke(cli, ["generate", str(pack), "--seed", str(seed), "--size", size, "--maps",
                                      ",".join(MAPS), "-o", str(out / "t.png")])
    assert result.exit_code == 0, result.output
    return {m: read_png(out / f"t_{m}.png") for m in MAPS}


def read_png(path: Path) -> np.ndarray:
    image = Image.open(path)
    return np.asarray(image, dtype=np.float64) / (65535.0 if image.mode.startswith("I") else 255.0)


def assert_maps_equal(session: dict, prefix: str, want: dict[str, np.ndarray]) -> None:
    for m in MAPS:
        got = np.load(session["out"] / f"{prefix}_{m}.npy")
        got = got[..., :3] if want[m].ndim == 3 else got[..., 0]
        step = 0.5 / 65535 if m == "height" else HALF_STEP  # height: a float image vs a 16-bit PNG
        assert got.shape == want[m].shape and np.abs(got - want[m]).max() <= step + 1e-6, (prefix, m)


def test_make_material_builds_the_full_pbr_tree(session: dict) -> None:
    f = session["facts"]
    assert f["pbr"] == {"result": ["FINISHED"], "error": None}
    m = f["pbr_material"]
    assert m["name"] == "bricks s5" and m["displacement"] == "BUMP"
    images = m["images"]
    assert sorted(images) == sorted(MAPS)
    assert {k: v["colorspace"] for k, v in images.items()} == {
        "color": "sRGB", "normal": "Non-Color", "height": "Non-Color", "roughness": "Non-Color", "ao": "Non-Color"}
    assert images["height"]["float"] and not images["normal"]["float"]
    assert images["color"]["name"] == f["generate_image"]["name"]  # the generated image itself
    assert all(v["packed"] and v["size"] == [64, 32] and v["extension"] == "REPEAT" for v in images.values())
    links = {tuple(lk) for lk in m["links"]}
    for link in [("TEX_COORD", "UV", "MAPPING", "Vector"), ("MAPPING", "Vector", "TEX_IMAGE", "Vector"),
                 ("TEX_IMAGE", "Color", "MIX", "A_Color"), ("TEX_IMAGE", "Color", "MIX", "B_Color"),
                 ("MIX", "Result_Color", "BSDF_PRINCIPLED", "Base Color"),
                 ("TEX_IMAGE", "Color", "BSDF_PRINCIPLED", "Roughness"), ("TEX_IMAGE", "Color", "NORMAL_MAP", "Color"),
                 ("NORMAL_MAP", "Normal", "BSDF_PRINCIPLED", "Normal"), ("TEX_IMAGE", "Color", "DISPLACEMENT", "Height"),
                 ("DISPLACEMENT", "Displacement", "OUTPUT_MATERIAL", "Displacement"),
                 ("BSDF_PRINCIPLED", "BSDF", "OUTPUT_MATERIAL", "Surface")]:
        assert link in links, link
    assert sum(lk[0] == "MAPPING" for lk in links) == 1 and len([lk for lk in m["links"] if lk[0] == "MAPPING"]) == 5
    box = f["pbr_box"]
    assert box["displacement"] == "DISPLACEMENT" and all(v["projection"] == "BOX" for v in box["images"].values())
    box_links = {tuple(lk) for lk in box["links"]}
    assert ("TEX_COORD", "Object", "MAPPING", "Vector") in box_links
    assert not any(lk[2] == "NORMAL_MAP" for lk in box_links)  # no UV tangents: the height's bump instead


def test_every_map_equals_the_cli(session: dict, tmp_path: Path) -> None:
    assert_maps_equal(session, "pbr", cli_maps(session["pack"], 5, "64x32", tmp_path))
    grey_height = np.load(session["out"] / "grey_height.npy")[..., 0]
    np.testing.assert_allclose(grey_height, np.load(session["out"] / "grey_image.npy")[..., 0], atol=HALF_STEP)


def test_keep_and_a_new_seed_update_the_material_in_place(session: dict, tmp_path: Path) -> None:
    f = session["facts"]
    assert f["keep"]["result"] == ["FINISHED"] and f["reseed"]["result"] == ["FINISHED"]
    kept, reseeded = f["kept"], f["reseeded"]
    assert kept["name"] == "bricks s21" and reseeded["name"] == "bricks s22" and f["reseed_plane"]
    assert reseeded["pointer"] == kept["pointer"]
    for m in MAPS:  # the same image datablocks, renamed and rewritten
        assert reseeded["images"][m]["pointer"] == kept["images"][m]["pointer"], m
        assert reseeded["images"][m]["seed"] == 22
    assert reseeded["images"]["normal"]["name"] == "bricks s22 normal" and reseeded["props"]["ganforge_seed"] == 22
    assert_maps_equal(session, "reseed22", cli_maps(session["pack"], 22, "32x32", tmp_path / "a"))
    threaded_run = f["reseed_threaded"]
    assert threaded_run["result"] == ["FINISHED"] and not threaded_run["thread_alive"]
    assert f["reseed_threaded_name"] == "bricks s23"
    assert_maps_equal(session, "reseed23", cli_maps(session["pack"], 23, "32x32", tmp_path / "b"))
    cancel = f["reseed_cancel"]
    assert cancel["result"] == ["CANCELLED"] and cancel["reports"] == [["WARNING", "ganforge: cancelled"]]
    assert f["reseed_cancel_name"] == "bricks s23" and not cancel["running_after"]  # nothing applied
    missing = f["reseed_missing"]
    assert missing["result"] is None and "no such material" in missing["error"]


def test_bake_writes_the_cli_files(session: dict, tmp_path: Path) -> None:
    f = session["facts"]
    assert f["bake"]["result"] == ["FINISHED"]
    baked = session["out"] / "baked"
    assert sorted(p.name for p in baked.iterdir()) == sorted(f"bricks_s22_{m}.png" for m in (*MAPS, "orm"))
    want = cli_maps(session["pack"], 22, "32x32", tmp_path)
    for m in MAPS:  # the same writer; Blender's numpy 1.26 FFT may differ from numpy 2's in the last
        # float bits, which can move a value across a rounding step: one step at most
        step = 1 / 65535 if m == "height" else 1 / 255
        assert np.abs(read_png(baked / f"bricks_s22_{m}.png") - want[m]).max() <= step + 1e-9, m
    assert f["bake_threaded"]["result"] == ["FINISHED"]
    assert len(list((session["out"] / "baked_threaded").iterdir())) == len(MAPS)


def test_tile_preview_is_three_by_three(session: dict) -> None:
    assert session["facts"]["tile"]["result"] == ["FINISHED"]
    tiled, single = np.load(session["out"] / "tile3x3.npy"), np.load(session["out"] / "seed5.npy")
    assert tiled.shape == (96, 192, 4)
    np.testing.assert_array_equal(tiled, np.tile(single, (3, 3, 1)))


def test_variation_browser(session: dict) -> None:
    f = session["facts"]
    assert f["timer_registered"]
    # Five quick slider moves: one preview, of the last seed.
    assert f["browse_first"] == {"started": 1, "applied": [7]}
    preview = np.load(session["out"] / "preview7.npy")[..., :3]
    small = runtime.load(session["pack"]).generate(seed=7, size="32x32")[0]
    assert preview.shape == (96, 96, 3) and np.abs(preview - np.tile(small, (3, 3, 1))).max() <= HALF_STEP
    # Seeds 9 and 10 asked for while 8 rendered are skipped: 11 renders next.
    assert f["browse_busy"] == {"started": 3, "applied": [7, 8, 11]}
    keys = f["browse_keys"]
    assert keys["results"] == [["RUNNING_MODAL"]] * 3 + [["PASS_THROUGH"]] and keys["seed"] == 12
    assert keys["release"] == ["PASS_THROUGH"]
    assert f["browse_enter"] == ["FINISHED"] and f["browse_enter_material"] == {"new": 1, "name": "bricks s12"}
    assert f["browse_esc"] == ["CANCELLED"] and f["browse_sync"]["result"] == ["FINISHED"]
    assert f["grid"]["result"] == ["FINISHED"] and f["grid_seeds"] == [30, 31, 32, 33]
    assert f["grid_shorter"] == ["ganforge grid 1", "ganforge grid 2"] and f["picked"] == 41
    panel = f["panel"]  # the sidebar's code, run against a stand-in layout
    assert panel["error"] is None, panel
    for op in ("ganforge.make_material", "ganforge.browse", "ganforge.browse_grid", "ganforge.keep",
               "ganforge.bake_maps", "ganforge.tile_preview", "ganforge.reseed_material", "ganforge.pick_seed"):
        assert f"operator:{op}" in panel["calls"], op
    assert panel["calls"].count("template_icon") == 2  # the grid's two thumbnails


def test_pbr_material_survives_save_and_reopen(session: dict) -> None:
    f = session["facts"]
    before, after = f["pbr_material"], f["reopened_pbr"]
    assert after["links"] == before["links"] and after["displacement"] == before["displacement"]
    for m in MAPS:
        a, b = after["images"][m], before["images"][m]
        assert (a["name"], a["colorspace"], a["float"], a["packed"]) == (b["name"], b["colorspace"], b["float"], True)
        np.testing.assert_array_equal(np.load(session["out"] / f"reopened_pbr_{m}.npy"),
                                      np.load(session["out"] / f"pbr_{m}.npy"))
