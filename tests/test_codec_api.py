"""The plugin author's contract through the public API: ``ganforge.core.api``, the ``Codec`` class
(a subclass registered by a third-party plugin, a module codec through the adapter), the
runtime's interpolation and pack cache, and the hosts asking codecs instead of naming modalities.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from test_plugins import make_dist, site, stripes_pack  # noqa: F401  (site: a fixture)

from ganforge.core import api, plugins, runtime
from ganforge.core.cli import cli
from ganforge.core.codec import Codec, ModuleCodec, as_codec
from ganforge.core.errors import GanforgeError, PackError
from ganforge.core.pack import InputSpec, OutputSpec, PackMeta

ROOT = Path(__file__).resolve().parents[1]


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), prog_name="ganforge")


def mixed_pack(path: Path, bands: int = 6, latent: int = 8) -> Path:
    """A tiny pack with a normal latent ``z`` and a uniform draw ``u``: bars = tanh(z @ W) + u."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(1).standard_normal((latent, bands)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["z", "W"], ["h"]), helper.make_node("Tanh", ["h"], ["t"]),
         helper.make_node("Add", ["t", "u"], ["bars"])],
        "mixed",
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", latent]),
         helper.make_tensor_value_info("u", TensorProto.FLOAT, ["batch", bands])],
        [helper.make_tensor_value_info("bars", TensorProto.FLOAT, ["batch", bands])],
        [numpy_helper.from_array(w, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    meta = PackMeta("stripes", [InputSpec("z", ["batch", latent], "float32", "normal", "latent"),
                                InputSpec("u", ["batch", bands], "float32", "uniform", "offsets")],
                    [OutputSpec("bars", "NL", [-1.0, 2.0], "levels")], decoder={"bands": bands},
                    family="linear", version="test")
    helper.set_model_props(model, meta.to_props())
    onnx.save(model, str(path))
    return path


# ---- the one import module ---------------------------------------------------------------------
def test_api_module_serves_the_plugin_author_and_stays_torch_free() -> None:
    code = ("import sys; import ganforge.core.api as api; "
            "names = [n for n in api.__all__ if n not in ('Family', 'StepContext')]; [getattr(api, n) for n in names]; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"  # registering a plugin never pulls torch in
    from ganforge.core.hookspecs import hookimpl
    from ganforge.core.training.family import Family, StepContext

    assert api.hookimpl is hookimpl and api.Codec is Codec and api.Family is Family  # Family: lazily
    assert api.StepContext is StepContext
    assert set(api.__all__) >= {"hookimpl", "Modality", "ModelFamily", "Codec", "Family", "GanforgeError",
                                "PackError", "PackMeta"}


# ---- the Codec class -----------------------------------------------------------------------------
class Minimal(Codec):
    def resolve_dims(self, meta, options):
        return {}

    def output_bytes(self, meta, dims, count):
        return count

    def decode(self, outputs, meta, options):
        return outputs[0]

    def write(self, decoded, out, options):
        return []


def test_codec_declares_required_methods_and_documented_defaults() -> None:
    class Incomplete(Codec):
        def resolve_dims(self, meta, options):
            return {}

    with pytest.raises(TypeError, match="decode"):
        Incomplete()
    codec = Minimal()
    meta = PackMeta("minimal", [], [OutputSpec("y", "NL", [0.0, 1.0])])
    assert (codec.output_kind, codec.sized, list(codec.generate_options), codec.eval_sample_count) == (
        "data", False, [], 1000)
    assert codec.graph_output_bytes(meta, {}, 3) == 3  # defaults to output_bytes
    assert codec.tile_plan(meta, {}, 1, lambda d: 0) is None and codec.scalars(meta, {}) == {}
    assert codec.image_size(meta, {}) is None and codec.summary(meta) == []
    codec.validate(meta)
    assert not any(codec.provides(n) for n in ("echo", "load_reference", "sweep", "validate"))
    assert codec.provides("decode")
    with pytest.raises(GanforgeError, match="-o/--out"):
        codec.echo(np.zeros(1))


def test_codec_subclass_takes_a_modules_functions_by_name() -> None:
    namespace = {"resolve_dims": lambda meta, options: {"n": 1}, "output_bytes": lambda meta, dims, count: count,
                 "decode": lambda outputs, meta, options: outputs[0], "write": lambda decoded, out, options: [],
                 "summary": lambda meta: [("from", "module")], "GENERATE_OPTIONS": ["opt"], "helper": print}

    class FromModule(Codec, functions=namespace):
        def summary(self, meta):  # the class body wins over the module
            return [("own", "row")]

    codec = FromModule()
    assert codec.resolve_dims(None, {}) == {"n": 1} and codec.output_bytes(None, {}, 4) == 4
    assert codec.generate_options == ["opt"] and codec.summary(None) == [("own", "row")]
    assert codec.provides("decode") and not codec.provides("echo") and not hasattr(codec, "helper")


def test_builtin_codecs_are_codec_subclasses_that_hosts_can_ask() -> None:
    plugins.reset()
    kinds = {name: plugins.codec_for(name) for name in ("texture", "image", "music", "text")}
    assert all(isinstance(c, Codec) and not isinstance(c, ModuleCodec) for c in kinds.values())
    assert {n: (c.output_kind, c.sized) for n, c in kinds.items()} == {
        "texture": ("image", True), "image": ("image", False), "music": ("notes", False), "text": ("lines", False)}
    assert kinds["text"].provides("echo") and kinds["text"].provides("sweep")
    assert not kinds["texture"].provides("echo") and kinds["texture"].provides("load_reference")
    assert [o.name for o in kinds["texture"].generate_options][:4] == ["size", "tile_preview", "maps", "orm"]
    assert kinds["texture"].eval_sample_count == 128
    assert plugins.codec_for("texture") is kinds["texture"]  # made once per plugin load


def test_as_codec_refuses_what_is_not_a_codec() -> None:
    assert isinstance(as_codec(Minimal), Minimal)
    assert as_codec(codec := Minimal()) is codec
    with pytest.raises(GanforgeError, match="is a int, not a ganforge.core.codec.Codec"):
        as_codec(3, "x")
    import types

    with pytest.raises(GanforgeError, match="lacks resolve_dims, output_bytes, decode, write"):
        as_codec(types.ModuleType("empty"))


def test_thirdparty_codec_subclass_through_a_plugin(site, tmp_path) -> None:  # noqa: F811
    make_dist(site, "ganforge-stripes", {"stripes": "ganforge_stripes"})
    pack = stripes_pack(tmp_path / "stripes.onnx")
    rt = runtime.load(pack, device="cpu")
    assert type(rt.codec).__name__ == "StripesCodec" and rt.codec.summary(rt.meta) == [("Bands", "16")]
    levels = rt.generate(seed=2, count=3)
    assert levels.shape == (3, 16) and levels.dtype == np.int64
    np.testing.assert_array_equal(levels[1], rt.generate(seed=3)[0])  # the seed contract holds
    out = tmp_path / "out"
    out.mkdir()
    result = invoke("generate", str(pack), "--repeat", "3", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert len((out / "stripes_000.txt").read_text().strip()) == 48
    result = invoke("generate", str(pack))  # no echo: it writes files
    assert result.exit_code == 2 and "-o/--out is required for stripes packs" in result.stderr


def test_thirdparty_codec_validate_runs_on_open(site, tmp_path) -> None:  # noqa: F811
    import onnx

    make_dist(site, "ganforge-stripes", {"stripes": "ganforge_stripes"})
    pack = stripes_pack(tmp_path / "stripes.onnx")
    model = onnx.load(str(pack))
    for prop in model.metadata_props:
        if prop.key == "ganforge.decoder":
            prop.value = '{"bands": "many"}'
    onnx.save(model, str(pack))
    with pytest.raises(PackError, match="stripes decoder 'bands' must be an integer"):
        runtime.load(pack, device="cpu")


def test_module_codec_still_works_through_the_adapter(site, tmp_path) -> None:  # noqa: F811
    make_dist(site, "ganforge-stripes-module", {"stripes": "ganforge_stripes_module"})
    pack = stripes_pack(tmp_path / "stripes.onnx")
    rt = runtime.load(pack, device="cpu")
    assert isinstance(rt.codec, ModuleCodec) and [o.name for o in rt.codec.generate_options] == ["repeat"]
    assert rt.codec.summary(rt.meta) == [] and not rt.codec.provides("echo")  # the class's defaults
    result = invoke("generate", str(pack), "--count", "2", "--repeat", "2", "-o", str(tmp_path / "s.txt"))
    assert result.exit_code == 0, result.output
    assert len((tmp_path / "s_001.txt").read_text().strip()) == 32


# ---- interpolation: one slerp, in the runtime ----------------------------------------------------
def test_slerp_keeps_the_norm_and_the_endpoints() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(4096).astype(np.float32), rng.standard_normal(4096).astype(np.float32)
    assert np.array_equal(runtime.slerp(a, b, 0.0), a) and np.array_equal(runtime.slerp(a, b, 1.0), b)
    mid = runtime.slerp(a, b, 0.5)
    assert mid.dtype == np.float32 and abs(np.linalg.norm(mid) / np.linalg.norm(a) - 1) < 0.02
    assert np.linalg.norm(0.5 * (a + b)) / np.linalg.norm(a) < 0.75  # what slerp avoids
    np.testing.assert_allclose(runtime.slerp(a, -a, 0.25), 0.5 * a, atol=1e-5)  # antiparallel: lerp


def test_between_slerps_normal_draws_and_keeps_the_rest(site, tmp_path) -> None:  # noqa: F811
    make_dist(site, "ganforge-stripes", {"stripes": "ganforge_stripes"})
    rt = runtime.load(mixed_pack(tmp_path / "mixed.onnx"), device="cpu")
    a, b = rt.draw_inputs(4, 1, {}), rt.draw_inputs(9, 1, {})
    mid = rt.between(a, b, 0.5)
    np.testing.assert_array_equal(mid["z"], runtime.slerp(a["z"], b["z"], 0.5))
    assert mid["u"] is a["u"]  # a uniform draw picks something: it stays seed A's

    feeds = rt.interpolation_feeds(4, 9, 5, {})
    assert feeds["z"].shape == (5, 8) and feeds["u"].shape == (5, 6)
    np.testing.assert_array_equal(feeds["z"][0], a["z"][0])
    np.testing.assert_array_equal(feeds["z"][-1], b["z"][0])
    decoded = rt.decode_feeds(rt.between(a, b, 1.0), {})
    np.testing.assert_array_equal(decoded, rt.codec.decode(rt.run({"z": b["z"], "u": a["u"]}), rt.meta, {}))
    with pytest.raises(GanforgeError, match="at least 2 steps"):
        rt.interpolation_feeds(4, 9, 1, {})


# ---- the pack cache ------------------------------------------------------------------------------
def test_pack_cache_keeps_a_pack_while_its_file_is_unchanged(site, tmp_path) -> None:  # noqa: F811
    make_dist(site, "ganforge-stripes", {"stripes": "ganforge_stripes"})
    pack = stripes_pack(tmp_path / "stripes.onnx")
    cache = runtime.PackCache(device="cpu", threads=1)
    first = cache.get(pack)
    assert cache.get(str(pack)) is first and len(cache) == 1
    assert first.session.get_session_options().intra_op_num_threads == 1
    other = runtime.PackCache(device="cpu", threads=1)
    assert other.get(pack) is not first  # each host's cache is its own

    stripes_pack(pack, bands=12)  # rewritten: a new size and mtime
    os.utime(pack, ns=(time.time_ns(), time.time_ns() + 10**9))
    second = cache.get(pack)
    assert second is not first and second.meta.decoder["bands"] == 12 and len(cache) == 1  # old dropped
    with pytest.raises(PackError, match=re.escape(f"{tmp_path / 'gone.onnx'}: no such pack file")):
        cache.get(tmp_path / "gone.onnx")
    cache.clear()
    assert len(cache) == 0


# ---- hosts ask the codec, never a modality's codec module ------------------------------------------
def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add(("." * node.level) + (node.module or ""))
    return names


def test_no_host_imports_a_modality_codec() -> None:
    hosts = sorted((ROOT / "plugins").rglob("*.py"))
    assert len(hosts) > 10
    offenders = {str(p.relative_to(ROOT)): sorted(n for n in _imports(p) if "modalities" in n)
                 for p in hosts}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_runtime_and_commands_do_not_probe_codecs() -> None:
    probe = re.compile(r"(getattr|hasattr)\([^)]*codec")
    files = [ROOT / "core" / "runtime.py", *sorted((ROOT / "core" / "commands").glob("*.py"))]
    assert {str(p.relative_to(ROOT)) for p in files if probe.search(p.read_text(encoding="utf-8"))} == set()


def test_hosts_do_not_branch_on_a_modality_name() -> None:
    # the Blender panel and the editor server ask rt.codec (output_kind, sized, summary); only
    # the MIDI bridge, which plays music packs' own inputs, names its modality
    branch = re.compile(r"modality\s*[!=]=")
    files = [*(ROOT / "plugins" / "blender").glob("*.py"), ROOT / "plugins" / "editor" / "server.py"]
    assert {str(p.relative_to(ROOT)) for p in files if branch.search(p.read_text(encoding="utf-8"))} == set()
