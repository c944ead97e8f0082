"""The extension's Blender-free parts: generation, interpolation, pixel layout, jobs, recent packs."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from ganforge.core import runtime
from ganforge.core.errors import GanforgeError, PackError
from ganforge.plugins.blender import logic
from ganforge.plugins.blender.jobs import Job

TINY = {"base": 16, "stages": 2, "local_dim": 4, "global_dim": 4, "min_width": 8}


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from ganforge.core.modalities.texture.family import TextureFamily
    from ganforge.exporters.onnx.export import export_generator

    family = TextureFamily(dict(TINY), {"channels": 3, "crop": 32})
    torch.manual_seed(2)
    out = tmp_path_factory.mktemp("logic") / "tex.onnx"
    export_generator(family, family.build_generator().eval(), out, facts={}, modality="texture")
    return out


def test_textures_follow_the_seed_contract(pack: Path) -> None:
    got = list(logic.generate_textures(pack, 4, 3, 32, 16))
    rt = runtime.load(pack)
    assert [t.seed for t in got] == [4, 5, 6]
    for t in got:  # each is what `ganforge generate --seed S` gives for that seed alone
        np.testing.assert_array_equal(t.pixels, rt.generate(seed=t.seed, size="32x16")[0])
    assert got[1].props["ganforge_seed"] == 5 and got[1].props["ganforge_size"] == [32, 16]


def test_size_zero_is_the_pack_default(pack: Path) -> None:
    (t,) = logic.generate_textures(pack, 0, 1, 0, 0)
    w, h = runtime.load(pack).meta.decoder["default_size"]
    assert t.pixels.shape == (h, w, 3) and t.props["ganforge_size"] == [w, h]


def test_refusals_are_one_line_errors(pack: Path, tmp_path: Path) -> None:
    with pytest.raises(GanforgeError, match="count 65"):
        next(logic.generate_textures(pack, 0, 65, 32, 32))
    with pytest.raises(GanforgeError, match="outside 1..16384"):
        next(logic.generate_textures(pack, 0, 1, 20000, 32))
    with pytest.raises(GanforgeError, match="seed -1"):
        next(logic.generate_textures(pack, -1, 1, 32, 32))
    with pytest.raises(PackError, match="no pack file chosen"):
        next(logic.generate_textures("", 0, 1, 32, 32))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not onnx")
    with pytest.raises(PackError, match="junk.onnx"):
        next(logic.generate_textures(junk, 0, 1, 32, 32))


def test_pack_cache_follows_the_file(pack: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.onnx"
    copy.write_bytes(pack.read_bytes())
    first = logic.open_pack(copy)
    assert logic.open_pack(copy) is first
    copy.write_bytes(pack.read_bytes())
    os.utime(copy, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert logic.open_pack(copy) is not first


def test_operators_refuse_a_pack_that_makes_the_other_kind(pack: Path) -> None:
    # asked of the codec (sized images vs fixed-size sprites), with the operator that would do
    with pytest.raises(PackError, match="a 'texture' pack, not a 'image' pack; use Generate Texture"):
        next(logic.generate_sprites(pack, 0, 1))
    assert not logic.makes_sprites(logic.open_pack(pack))


def test_interpolation_uses_the_runtime_slerp(pack: Path) -> None:
    rt = logic.open_pack(pack)
    dims = rt.codec.resolve_dims(rt.meta, {"size": (32, 32)})
    a, b = rt.draw_inputs(3, 1, dims), rt.draw_inputs(8, 1, dims)
    frame = list(logic.interpolate(pack, 3, 8, 3, 32, 32))[1].pixels
    mixed = {name: runtime.slerp(a[name], b[name], 0.5) for name in a}
    np.testing.assert_array_equal(frame, rt.codec.decode(rt.run(mixed), rt.meta, {})[0])


def test_interpolation_ends_at_both_seeds(pack: Path) -> None:
    frames = list(logic.interpolate(pack, 3, 8, 5, 32, 32))
    rt = runtime.load(pack)
    np.testing.assert_array_equal(frames[0].pixels, rt.generate(seed=3, size="32x32")[0])
    np.testing.assert_array_equal(frames[-1].pixels, rt.generate(seed=8, size="32x32")[0])
    steps = [np.abs(frames[i + 1].pixels - frames[i].pixels).mean() for i in range(4)]
    assert all(s > 0 for s in steps) and [f.props["ganforge_t"] for f in frames] == [0, 0.25, 0.5, 0.75, 1]


def test_interpolation_in_tiles_equals_untiled(pack: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    untiled = list(logic.interpolate(pack, 1, 2, 3, 64, 64))[1].pixels
    monkeypatch.setenv(runtime.TILE_ENV, "1")  # every item over 1 MiB of work runs in tiles
    rt = logic.open_pack(pack)
    dims = rt.codec.resolve_dims(rt.meta, {"size": (64, 64)})
    if rt.schedule(1, dims)[1] is None:
        pytest.skip("this pack has no measured halo: it cannot be tiled")
    tiled = list(logic.interpolate(pack, 1, 2, 3, 64, 64))[1].pixels
    np.testing.assert_allclose(tiled, untiled, atol=1e-5)


def test_blender_pixel_layout() -> None:
    image = np.zeros((2, 3, 3), dtype=np.float32)
    image[0, 0] = (1, 0, 0)  # top-left red
    flat = logic.to_blender_pixels(image)
    assert flat.shape == (2 * 3 * 4,)
    rows = flat.reshape(2, 3, 4)
    assert tuple(rows[1, 0]) == (1, 0, 0, 1) and tuple(rows[0, 0]) == (0, 0, 0, 1)  # bottom row first
    np.testing.assert_array_equal(logic.from_blender_pixels(flat, 3, 2)[..., :3], image)


def test_job_delivers_items_and_errors() -> None:
    job = Job(lambda: iter([1, 2, 3]), 3).start()
    job.join(5)
    msgs = job.poll()
    assert [m.value for m in msgs if m.kind == "item"] == [1, 2, 3] and msgs[-1].kind == "done"
    assert job.finished and job.progress == 1.0

    def failing():
        yield 1
        raise GanforgeError("boom")

    job = Job(failing, 2).start()
    job.join(5)
    kinds = [(m.kind, str(m.value)) for m in job.poll()]
    assert kinds == [("item", "1"), ("error", "boom"), ("done", "None")]


def test_job_cancel_stops_at_the_next_item() -> None:
    gate, produced = threading.Event(), []

    def slow():
        for i in range(100):
            gate.wait(5)
            produced.append(i)
            yield i

    job = Job(slow, 100).start()
    job.cancel()
    gate.set()
    job.join(5)
    assert job.cancelled and len(produced) <= 1
    assert [m.kind for m in job.poll()] == ["done"]


def test_recent_packs(tmp_path: Path) -> None:
    path = tmp_path / "user" / "recent.json"
    assert logic.load_recent(path) == []
    for i in range(12):
        logic.remember_pack(path, f"/p/{i}.onnx")
    recent = logic.remember_pack(path, "/p/5.onnx")
    assert recent[0] == "/p/5.onnx" and len(recent) == logic.RECENT_LIMIT and recent.count("/p/5.onnx") == 1
    assert logic.load_recent(path) == recent and [p.name for p in path.parent.iterdir()] == ["recent.json"]
    path.write_text("{broken")
    assert logic.load_recent(path) == []


def test_pack_summary(pack: Path) -> None:
    rows = dict(logic.pack_summary(pack))
    assert rows["Modality"] == "texture" and rows["Default size"].count("x") == 1
    assert rows["sha256"] == runtime.load(pack).sha256[:16]


def test_map_sets_equal_the_library_and_bake_writes_the_cli_files(pack: Path, tmp_path: Path) -> None:
    from PIL import Image

    from ganforge.core import pbr

    (mapset,) = logic.generate_maps(pack, 3, 32, 16, {"normal_strength": 5.0})
    colour = runtime.load(pack).generate(seed=3, size="32x16")[0]
    want = pbr.derive(colour, pbr.MAPS, pbr.PbrOptions(normal_strength=5.0))
    assert sorted(mapset.maps) == sorted(pbr.MAPS) and mapset.props["ganforge_seed"] == 3
    for name in pbr.MAPS:
        np.testing.assert_array_equal(mapset.maps[name], want[name])
    written = list(logic.bake_maps(pack, 3, 32, 16, tmp_path / "bake", {"normal_strength": 5.0}))
    assert [p.name for p in written] == [f"tex_s3_{m}.png" for m in (*pbr.MAPS, "orm")]
    normal = np.asarray(Image.open(tmp_path / "bake" / "tex_s3_normal.png"), dtype=np.float32) / 255
    assert np.abs(normal - want["normal"]).max() <= 0.5 / 255 + 1e-6
    with pytest.raises(GanforgeError, match="no folder"):
        next(logic.bake_maps(pack, 3, 32, 16, ""))
    assert logic.snap_size(runtime.load(pack), 50) % runtime.load(pack).meta.decoder["stride"] == 0


def test_debouncer_runs_only_the_latest_request() -> None:
    from ganforge.plugins.blender.jobs import Debouncer

    now = [0.0]
    gate = threading.Event()
    made: list[int] = []

    def make(key: int):
        gate.wait(5)
        made.append(key)
        yield key * 10

    deb = Debouncer(make, delay=0.15, clock=lambda: now[0])
    for key in (1, 2, 3):
        deb.request(key)
    assert deb.tick() == [] and not deb.running  # not quiet long enough
    now[0] = 0.2
    deb.tick()
    assert deb.running and deb.started == 1
    deb.request(4)
    deb.request(5)  # while 3 renders: 4 is skipped
    now[0] = 0.5
    gate.set()
    results: list = []
    deadline = time.monotonic() + 10
    while not deb.idle and time.monotonic() < deadline:
        results += deb.tick()
        time.sleep(0.01)
    assert made == [3, 5] and results == [(3, 30), (5, 50)] and deb.started == 2 and deb.shown == 5
    deb.request(6)
    deb.cancel()
    assert deb.idle and deb.tick() == []
