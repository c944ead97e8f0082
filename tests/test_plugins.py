"""The plugin system, through the public API and the CLI, with real third-party distributions.

Each fixture plugin under tests/fixtures/thirdparty is exposed the way `pip install` would:
a generated ``.dist-info`` with an ``entry_points.txt`` in the ``ganforge`` group.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ganforge.core import plugins
from ganforge.core.cli import cli
from ganforge.core.errors import GanforgeError
from ganforge.core.pack import InputSpec, OutputSpec, PackMeta

FIXTURES = Path(__file__).parent / "fixtures" / "thirdparty"
PLUGIN_MODULES = ("ganforge_stripes", "ganforge_broken_import", "ganforge_misspelled", "ganforge_raising",
                  "ganforge_duplicate", "ganforge_stripes_module")


def make_dist(site: Path, dist: str, entry_points: dict[str, str], version: str = "1.2.3") -> Path:
    """Write the ``.dist-info`` an installed plugin distribution would have."""
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[ganforge]\n{lines}")
    return info


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A fresh site folder on sys.path (with the fixture modules), plugins reloaded around it."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(FIXTURES))
    monkeypatch.syspath_prepend(str(site))
    for var in (plugins.STRICT_ENV, plugins.DISABLE_ENV):
        monkeypatch.delenv(var, raising=False)
    plugins.reset()
    yield site
    plugins.reset()
    for name in [m for m in sys.modules if m.split(".")[0] in PLUGIN_MODULES]:
        del sys.modules[name]


def stripes_pack(path: Path, bands: int = 16, latent: int = 8) -> Path:
    """A tiny real ONNX pack for the stripes modality: bars = tanh(z @ W)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(0).standard_normal((latent, bands)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["z", "W"], ["h"]), helper.make_node("Tanh", ["h"], ["bars"])],
        "stripes",
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", latent])],
        [helper.make_tensor_value_info("bars", TensorProto.FLOAT, ["batch", bands])],
        [numpy_helper.from_array(w, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    meta = PackMeta("stripes", [InputSpec("z", ["batch", latent], "float32", "normal", "latent")],
                    [OutputSpec("bars", "NL", [-1.0, 1.0], "levels")], decoder={"bands": bands},
                    family="linear", version="test")
    helper.set_model_props(model, meta.to_props())
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), prog_name="ganforge")


# ---- built-ins ---------------------------------------------------------------------------------
def test_builtins_register_through_the_hooks(site):
    registry = plugins.get_registry()
    assert registry.modalities["texture"].codec == "ganforge.core.modalities.texture.codec:TextureCodec"
    assert registry.owners["modality:texture"] == "texture"
    assert "texture/texture" in registry.families
    texture = next(r for r in plugins.get_records() if r.name == "texture")
    assert texture.source == "builtin" and texture.error is None
    assert "ganforge_register_modalities" in texture.hooks
    assert registry.warnings == []


def test_builtins_are_not_registered_twice_via_their_own_entry_points(site):
    # The installed ganforge distribution lists texture/onnx as entry points too.
    names = [r.name for r in plugins.get_records()]
    assert names.count("texture") == 1 and names.count("onnx") == 1


def test_builtins_found_without_installation_metadata(site, monkeypatch):
    import importlib.metadata as md

    monkeypatch.setattr(md, "entry_points", lambda **kw: [])
    plugins.reset()
    assert "texture" in plugins.get_registry().modalities


# ---- a complete third-party plugin -------------------------------------------------------------
def test_thirdparty_modality_end_to_end(site, tmp_path):
    make_dist(site, "ganforge-stripes", {"stripes": "ganforge_stripes"})
    pack = stripes_pack(tmp_path / "stripes.onnx")

    result = invoke("plugins", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    record = next(p for p in report["plugins"] if p["name"] == "stripes")
    assert record["source"] == "entry point"
    assert (record["dist"], record["version"]) == ("ganforge-stripes", "1.2.3")
    assert record["registered"] == ["modality:stripes", "command:stripes-hello", "command:stripes-stop"]
    assert report["registered"]["modality"]["stripes"] == "stripes"

    out = tmp_path / "gen"
    result = invoke("generate", str(pack), "--seed", "3", "--count", "2", "--repeat", "2", "-o", str(out))
    assert result.exit_code == 0, result.output
    written = [Path(line) for line in result.stdout.split()]
    assert written == [out / "stripes_000.txt", out / "stripes_001.txt"]
    first = written[0].read_text().strip()
    assert len(first) == 32 and set(first) <= set("0123456789") and first[:16] == first[16:]

    # The codec's option reached the codec; the seed contract holds through the plugin: item 1 of
    # seed 3 is seed 4 alone.
    result = invoke("generate", str(pack), "--seed", "4", "-o", str(tmp_path / "one.txt"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "one_000.txt").read_text().strip() == written[1].read_text().strip()[:16]

    result = invoke("stripes-hello")
    assert (result.exit_code, result.stdout) == (0, "hello from stripes\n")
    result = invoke("stripes-stop")  # Ctrl-C in any command: one line, exit status 130
    assert (result.exit_code, result.stderr) == (130, "interrupted: stopped by the user\n")
    assert "stripes" not in invoke("train", "--help").stdout  # no trainer: not listed


def test_codec_option_of_another_modality_is_refused(site, tmp_path):
    make_dist(site, "ganforge-stripes", {"stripes": "ganforge_stripes"})
    pack = stripes_pack(tmp_path / "stripes.onnx")
    result = invoke("generate", str(pack), "--size", "64x64", "-o", str(tmp_path / "x"))
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [f"error: --size does not apply to stripes packs ({pack})"]


def test_thirdparty_plugin_through_the_console_script(site, tmp_path):
    make_dist(site, "ganforge-stripes", {"stripes": "ganforge_stripes"})
    exe = Path(sys.executable).with_name("ganforge")
    if not exe.exists():
        pytest.skip("the ganforge console script is not installed in this environment")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(FIXTURES)])}
    proc = subprocess.run([str(exe), "plugins", "--json"], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "stripes" in {p["name"] for p in json.loads(proc.stdout)["plugins"]}


# ---- failure isolation -------------------------------------------------------------------------
def test_plugin_failing_on_import_is_one_warning_line(site, tmp_path):
    make_dist(site, "ganforge-broken", {"broken": "ganforge_broken_import"})
    make_dist(site, "ganforge-stripes", {"stripes": "ganforge_stripes"})
    result = invoke("plugins", "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "ganforge: plugin 'broken' (dist ganforge-broken) failed to load: "
        "ModuleNotFoundError: No module named 'ganforge_no_such_dependency'"
    ]
    report = json.loads(result.stdout)
    broken = next(p for p in report["plugins"] if p["name"] == "broken")
    assert broken["error"].startswith("ModuleNotFoundError") and broken["registered"] == []
    # The rest of the tool works, the good plugin included.
    assert "stripes" in report["registered"]["modality"] and "texture" in report["registered"]["modality"]


def test_strict_mode_turns_a_failure_into_an_error(site, monkeypatch):
    make_dist(site, "ganforge-broken", {"broken": "ganforge_broken_import"})
    monkeypatch.setenv(plugins.STRICT_ENV, "1")
    with pytest.raises(GanforgeError, match="plugin 'broken'.*failed to load"):
        plugins.get_registry()
    plugins.reset()
    result = invoke("plugins")
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("error: plugin 'broken' (dist ganforge-broken) failed to load")
    assert "Traceback" not in result.output


def test_disable_list_blocks_plugins(site, monkeypatch):
    make_dist(site, "ganforge-broken", {"broken": "ganforge_broken_import"})
    make_dist(site, "ganforge-stripes", {"stripes": "ganforge_stripes"})
    monkeypatch.setenv(plugins.DISABLE_ENV, "broken, stripes")
    registry = plugins.get_registry()
    assert registry.warnings == [] and "stripes" not in registry.modalities
    records = {r.name: r for r in plugins.get_records()}
    assert records["broken"].disabled and records["stripes"].disabled
    assert "texture" in registry.modalities


def test_builtins_can_be_disabled(site, monkeypatch):
    monkeypatch.setenv(plugins.DISABLE_ENV, "texture")
    assert "texture" not in plugins.get_registry().modalities
    result = invoke("train", "texture", "--help")
    assert result.exit_code == 2  # click: no such command


def test_misspelled_hook_is_caught_and_isolated(site):
    make_dist(site, "ganforge-misspelled", {"misspelled": "ganforge_misspelled"})
    make_dist(site, "ganforge-stripes", {"stripes": "ganforge_stripes"})
    registry = plugins.get_registry()
    assert len(registry.warnings) == 1
    assert "plugin 'misspelled' (dist ganforge-misspelled) failed to load: unknown hook" in registry.warnings[0]
    assert "ganforge_register_modalitys" in registry.warnings[0]
    assert "misspelled" not in registry.modalities and "stripes" in registry.modalities
    assert plugins.get_manager().get_plugin("misspelled") is None


def test_raising_register_hook_keeps_nothing_of_that_plugin(site):
    make_dist(site, "ganforge-raising", {"raising": "ganforge_raising"})
    registry = plugins.get_registry()
    assert registry.warnings == [
        "plugin 'raising' (dist ganforge-raising) failed to load: RuntimeError: host probe failed"]
    assert "half" not in registry.modalities  # registered before the failure: rolled back
    record = next(r for r in plugins.get_records() if r.name == "raising")
    assert record.registered == [] and record.error == "RuntimeError: host probe failed"


def test_duplicate_names_warn_and_the_builtin_wins(site):
    make_dist(site, "ganforge-duplicate", {"duplicate": "ganforge_duplicate"})
    registry = plugins.get_registry()
    assert registry.modalities["texture"].description == "Seamless tileable textures from photos"
    assert registry.owners["modality:texture"] == "texture"
    assert registry.owners["modality:dupe-extra"] == "duplicate"
    assert registry.warnings == ["plugin 'duplicate' registers modality 'texture', already registered by "
                                 "'texture'; keeping 'texture's"]


def test_plugins_listing_is_human_readable(site):
    make_dist(site, "ganforge-broken", {"broken": "ganforge_broken_import"})
    result = invoke("plugins")
    assert result.exit_code == 0
    for word in ("texture", "builtin", "broken", "failed", "modality:texture"):
        assert word in result.stdout


def test_two_distributions_with_the_same_plugin_name(site):
    make_dist(site, "ganforge-stripes", {"stripes": "ganforge_stripes"})
    make_dist(site, "ganforge-stripes-fork", {"stripes": "ganforge_duplicate"})
    registry = plugins.get_registry()
    assert "stripes" in registry.modalities and "dupe-extra" not in registry.modalities
    assert len(registry.warnings) == 1
    assert "failed to load: ValueError: the plugin name 'stripes' is already used by" in registry.warnings[0]
