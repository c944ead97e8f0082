"""The torch-free runtime on real packs: seeded determinism, the draw contract, the memory guard,
bad files and bad metadata, and no torch import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from ganforge.core import runtime
from ganforge.core.errors import GanforgeError, PackError
from ganforge.core.modalities.texture import codec as texture_codec
from ganforge.core.modalities.texture.family import TextureFamily
from ganforge.exporters.onnx.export import export_generator

TINY = {"base": 16, "stages": 2, "local_dim": 4, "global_dim": 4, "min_width": 8}


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    family = TextureFamily(dict(TINY), {"channels": 3, "crop": 32})
    torch.manual_seed(1)
    out = tmp_path_factory.mktemp("rt") / "tex.onnx"
    export_generator(family, family.build_generator().eval(), out, facts={}, modality="texture")
    return out


@pytest.fixture(scope="module")
def rt(pack: Path) -> runtime.PackRuntime:
    return runtime.load(pack, device="cpu", threads=1)


def _edit(src: Path, dst: Path, **props: str) -> Path:
    model = onnx.load(str(src))
    for p in model.metadata_props:
        if p.key in props:
            p.value = props[p.key]
    onnx.save(model, str(dst))
    return dst


def test_open_facts(rt: runtime.PackRuntime, pack: Path) -> None:
    assert rt.meta.modality == "texture" and rt.path == pack
    # resolved through the plugin registry, made once and shared
    assert isinstance(rt.codec, texture_codec.TextureCodec) and runtime.load(pack).codec is rt.codec
    assert len(rt.sha256) == 64 and rt.providers == ["CPUExecutionProvider"]
    opts = rt.session.get_session_options()
    assert opts.intra_op_num_threads == 1
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_generate_shape_range_and_determinism(rt: runtime.PackRuntime) -> None:
    a = rt.generate(seed=3, count=2, size="32x16")
    assert a.shape == (2, 16, 32, 3) and a.dtype == np.float32
    assert 0.0 <= a.min() and a.max() <= 1.0 and a.std() > 0
    assert rt.generate(seed=3, count=2, size="32x16").tobytes() == a.tobytes()
    assert not np.array_equal(rt.generate(seed=4, size="32x16")[0], a[0])


def test_item_i_of_a_batch_is_seed_plus_i(rt: runtime.PackRuntime) -> None:
    dims = {"h": 3, "w": 5}
    batch = rt.draw_inputs(5, 3, dims)
    alone = rt.draw_inputs(6, 1, dims)
    for name in ("z_local", "z_global"):
        np.testing.assert_array_equal(batch[name][1:2], alone[name])
    # The documented contract, reproduced by hand: per item, inputs in metadata order.
    rng = np.random.Generator(np.random.PCG64(6))
    channels = alone["z_local"].shape[1]  # the coarse latent and the noise maps it carries
    np.testing.assert_array_equal(alone["z_local"][0], rng.standard_normal((channels, 3, 5), dtype=np.float32))
    # z_global: a smooth field, one coarse normal vector per 4 latent cells (3 x 5 -> 1 x 1)
    coarse = rng.standard_normal((4, 1, 1), dtype=np.float32)
    np.testing.assert_array_equal(alone["z_global"][0], np.broadcast_to(coarse, (4, 3, 5)))
    three = rt.generate(seed=5, count=3, size="20x12")
    np.testing.assert_allclose(three[1], rt.generate(seed=6, size="20x12")[0], atol=1e-6)


def test_item_by_item_equals_batched(rt: runtime.PackRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    batched = rt.generate(seed=9, count=3, size="16x16")
    monkeypatch.setattr(runtime, "BATCH_WORK_BYTES", 1)  # forces one item per run
    assert rt.plan(3, {"h": 4, "w": 4}) == 1
    np.testing.assert_allclose(rt.generate(seed=9, count=3, size="16x16"), batched, atol=1e-6)
    raw = rt.generate_raw(seed=9, count=3, size="16x16")
    assert raw[0].shape == (3, 3, 16, 16)


def test_wrong_size_names_the_nearest(rt: runtime.PackRuntime) -> None:
    with pytest.raises(GanforgeError, match=r"size 30x30 is not a multiple of the pack's stride 4; "
                                            r"nearest valid: 28x28 or 32x32"):
        rt.generate(size="30x30")


def test_memory_guard_refuses_before_allocating(rt: runtime.PackRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*a: object, **k: object) -> None:
        raise AssertionError("the guard should refuse before drawing or running anything")

    monkeypatch.setattr(rt, "draw_inputs", never)
    monkeypatch.setattr(rt, "run", never)
    tracemalloc.start()
    with pytest.raises(GanforgeError, match="over the 4,096 MiB bound.*GANFORGE_MAX_OUTPUT_MB"):
        rt.generate(count=200, size="16384x16384")  # 600 GiB of output
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1 << 20
    monkeypatch.setenv("GANFORGE_MAX_OUTPUT_MB", "1")
    with pytest.raises(GanforgeError, match="over the 1 MiB bound"):
        rt.generate(size="512x512")
    monkeypatch.setenv("GANFORGE_MAX_OUTPUT_MB", "100")
    monkeypatch.setenv("GANFORGE_MAX_WORK_MB", "1")
    with pytest.raises(GanforgeError, match="working memory.*GANFORGE_MAX_WORK_MB"):
        rt.generate(size="512x512")
    with pytest.raises(GanforgeError, match="exceeds the largest supported side"):
        rt.generate(size="20000x16")


def test_bad_files_name_the_file(pack: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(pack.read_bytes()[: pack.stat().st_size // 2])
    text = tmp_path / "notes.onnx"
    text.write_text("this is not a model\n")
    for bad in (truncated, text, tmp_path / "missing.onnx"):
        with pytest.raises(PackError, match=str(bad)):
            runtime.load(bad, device="cpu")


def test_bad_metadata_names_the_file(pack: Path, tmp_path: Path) -> None:
    future = _edit(pack, tmp_path / "future.onnx", **{"ganforge.schema": json.dumps("99")})
    with pytest.raises(PackError, match=rf"{future}: pack schema version '99' is not supported"):
        runtime.load(future, device="cpu")

    meta = {p.key: p.value for p in onnx.load(str(pack)).metadata_props}
    renamed = json.loads(meta["ganforge.inputs"])
    renamed[0]["name"] = "noise"
    wrong = _edit(pack, tmp_path / "wrong.onnx", **{"ganforge.inputs": json.dumps(renamed)})
    with pytest.raises(PackError, match=rf"{wrong}: metadata inputs \['noise', 'z_global'\] do not match"):
        runtime.load(wrong, device="cpu")

    unknown = _edit(pack, tmp_path / "unknown.onnx", **{"ganforge.modality": json.dumps("smell")})
    with pytest.raises(PackError, match=rf"{unknown}: unknown modality 'smell'"):
        runtime.load(unknown, device="cpu")

    stride = _edit(pack, tmp_path / "stride.onnx", **{
        "ganforge.decoder": json.dumps({**json.loads(meta["ganforge.decoder"]), "stride": 10**9})})
    with pytest.raises(PackError, match=rf"{stride}: texture decoder 'stride'"):
        runtime.load(stride, device="cpu")

    plain = tmp_path / "plain.onnx"
    model = onnx.load(str(pack))
    del model.metadata_props[:]
    onnx.save(model, str(plain))
    with pytest.raises(PackError, match=rf"{plain}: not a ganforge pack"):
        runtime.load(plain, device="cpu")


def test_cuda_request_without_cuda(pack: Path) -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    with pytest.raises(GanforgeError, match="no CUDA support"):
        runtime.load(pack, device="cuda")
    assert runtime.load(pack, device="auto").providers == ["CPUExecutionProvider"]


def test_generation_never_imports_torch(pack: Path, tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import sys
        from ganforge.core import runtime
        rt = runtime.load({str(pack)!r})
        images = rt.generate(seed=1, count=2, size="16x16")
        rt.write(images, {str(tmp_path / "t.png")!r}, tile_preview=True)
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "onnx", "onnxscript"))
        assert not heavy, heavy
        print(images.shape)
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "(2, 16, 16, 3)" in done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "t_000.png", "t_000_tiled2x2.png", "t_001.png", "t_001_tiled2x2.png"]


def test_untrained_pack_is_seamless(rt: runtime.PackRuntime) -> None:
    x = rt.generate(seed=0, count=8, size="64x64")
    wrap = np.abs(x[:, :, 0] - x[:, :, -1]).mean() + np.abs(x[:, 0] - x[:, -1]).mean()
    inner = np.abs(np.diff(x, axis=2)).mean() + np.abs(np.diff(x, axis=1)).mean()
    assert wrap <= 1.2 * inner, (wrap, inner)
