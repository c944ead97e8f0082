"""``ganforge blender build``: the zip's manifest and wheels, Blender's own validation, the cache,
and the bundled wheels generating on their own (no ganforge, no torch from this environment)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tomllib
from click.testing import CliRunner

from ganforge.core import plugins, runtime
from ganforge.core.cli import cli
from ganforge.core.errors import GanforgeError
from ganforge.plugins.blender import build as blender_build

ROOT = Path(__file__).resolve().parents[1]
TINY = {"base": 16, "stages": 2, "local_dim": 4, "global_dim": 4, "min_width": 8}


def bpy_python() -> Path | None:
    env = os.environ.get(blender_build.BPY_PYTHON_ENV)
    path = Path(env) if env else ROOT / ".venv-blender" / "bin" / "python"
    return path if path.exists() else None


@pytest.fixture
def with_blender(monkeypatch: pytest.MonkeyPatch) -> None:
    python = bpy_python()
    if python is None:
        pytest.skip("no bpy: run `make blender-venv` (or set GANFORGE_BPY_PYTHON)")
    monkeypatch.setenv(blender_build.BPY_PYTHON_ENV, str(python))


@pytest.fixture(scope="module")
def linux_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    (zip_path,) = blender_build.build(tmp_path_factory.mktemp("dist"), ["linux-x64"], check=False)
    return zip_path


def test_zip_manifest_and_wheels(linux_zip: Path) -> None:
    zf = zipfile.ZipFile(linux_zip)
    names = set(zf.namelist())
    manifest = tomllib.loads(zf.read("blender_manifest.toml").decode())
    assert linux_zip.name == "ganforge-0.1.0-linux_x64.zip"
    assert manifest["type"] == "add-on" and manifest["id"] == "ganforge"
    assert manifest["blender_version_min"] == "4.2.0" and manifest["platforms"] == ["linux-x64"]
    assert set(manifest["permissions"]) == {"files"}
    wheels = [w.removeprefix("./") for w in manifest["wheels"]]
    assert set(wheels) == {n for n in names if n.startswith("wheels/")}
    ort = sorted(w for w in wheels if "onnxruntime" in w)
    assert [w.split("-")[2] for w in ort] == ["cp311", "cp313"] and all("manylinux" in w for w in ort)
    assert any(w.startswith("wheels/ganforge-0.1.0-py3-none-any") for w in wheels)
    assert not any("numpy" in w or "torch" in w for w in wheels)  # Blender ships numpy
    assert {"__init__.py", "operators.py", "ui.py", "logic.py", "jobs.py", "blend_data.py",
            "materials.py", "pbr_operators.py", "browser.py"} <= names
    assert not names & {"build.py", "host.py"}
    for name in names - {n for n in names if n.startswith("wheels/")}:
        assert b"import torch" not in zf.read(name), name


def test_runtime_wheel_is_a_valid_wheel(linux_zip: Path, tmp_path: Path) -> None:
    zf = zipfile.ZipFile(linux_zip)
    (name,) = [n for n in zf.namelist() if n.startswith("wheels/ganforge-")]
    wheel = zipfile.ZipFile(zf.open(name))
    files = set(wheel.namelist())
    assert {"ganforge/core/runtime.py", "ganforge/core/modalities/texture/codec.py",
            "ganforge/exporters/onnx/__init__.py", "ganforge-0.1.0.dist-info/RECORD"} <= files
    assert "ganforge/__init__.py" not in files and not any("__pycache__" in f for f in files)
    record = wheel.read("ganforge-0.1.0.dist-info/RECORD").decode().splitlines()
    assert {line.split(",")[0] for line in record} == files


def _extract(zip_path: Path, into: Path) -> None:
    zf = zipfile.ZipFile(zip_path)
    for name in zf.namelist():
        if name.startswith("wheels/") and "cp313" not in name:
            zipfile.ZipFile(zf.open(name)).extractall(into)


def test_bundled_wheels_generate_alone(linux_zip: Path, tmp_path: Path) -> None:
    """The cp311 wheels plus numpy, without site-packages: what Blender's Python will have."""
    import torch

    from ganforge.core.modalities.texture.family import TextureFamily
    from ganforge.exporters.onnx.export import export_generator

    family = TextureFamily(dict(TINY), {"channels": 3, "crop": 32})
    torch.manual_seed(0)
    pack = tmp_path / "t.onnx"
    export_generator(family, family.build_generator().eval(), pack, facts={}, modality="texture")
    site = tmp_path / "site"
    _extract(linux_zip, site)
    numpy_dir = Path(np.__file__).parent
    for entry in (numpy_dir, numpy_dir.with_name("numpy.libs")):
        if entry.exists():
            (site / entry.name).symlink_to(entry)
    script = textwrap.dedent(f"""
        import sys, json
        sys.path[:0] = [{str(site)!r}]
        import numpy as np
        from ganforge.core import runtime, plugins
        import onnxruntime
        img = runtime.load({str(pack)!r}).generate(seed=3, size="32x32")[0]
        np.save({str(tmp_path / "img.npy")!r}, img)
        print(json.dumps({{"ort": onnxruntime.__file__, "core": runtime.__file__, "torch": "torch" in sys.modules,
                          "warnings": plugins.get_registry().warnings,
                          "hosts": sorted(plugins.get_registry().hosts)}}))
    """)
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", script], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    facts = json.loads(proc.stdout)
    assert facts["ort"].startswith(str(site)) and facts["core"].startswith(str(site))
    assert not facts["torch"] and facts["warnings"] == [] and "blender" in facts["hosts"]
    expected = runtime.load(pack).generate(seed=3, size="32x32")[0]
    np.testing.assert_array_equal(np.load(tmp_path / "img.npy"), expected)


def test_rebuild_uses_the_cache_and_is_reproducible(linux_zip: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object) -> None:
        raise AssertionError("a cached wheel was downloaded again")

    monkeypatch.setattr(blender_build, "_pip_download", no_network)
    (first,) = blender_build.build(tmp_path / "a", ["linux-x64"], check=False)
    (second,) = blender_build.build(tmp_path / "b", ["linux-x64"], check=False)
    assert first.read_bytes() == second.read_bytes()


def test_failed_download_leaves_no_cache_entry(tmp_path: Path) -> None:
    with pytest.raises(GanforgeError, match="could not download onnxruntime==0.0.1"):
        blender_build.fetch("onnxruntime==0.0.1", tmp_path, "linux-x64", "3.11")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.required
def test_blender_validates_the_zip(tmp_path: Path, with_blender: None) -> None:
    (zip_path,) = blender_build.build(tmp_path, ["linux-x64"])
    command = blender_build.validator()
    assert command is not None and "blender_ext.py" in command[1]
    assert zip_path.is_file()


@pytest.mark.required
def test_invalid_manifest_fails_validation_and_leaves_nothing(tmp_path: Path, with_blender: None,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    good = blender_build.manifest_for
    monkeypatch.setattr(blender_build, "manifest_for",
                        lambda *a: good(*a).replace("GAN generator packs", "GAN generator packs."))
    with pytest.raises(GanforgeError, match="validation failed: .*tagline"):
        blender_build.build(tmp_path, ["linux-x64"])
    assert list(tmp_path.iterdir()) == []


def test_cli_build_and_host(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["blender", "build", "--platform", "linux-x64", "--no-validate", "-o",
                                 str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "ganforge-0.1.0-linux_x64.zip" in result.output and (tmp_path / "ganforge-0.1.0-linux_x64.zip").is_file()
    bad = runner.invoke(cli, ["blender", "build", "--platform", "amiga"])
    assert bad.exit_code == 2 and "amiga" in bad.output
    host = plugins.get_registry().hosts["blender"]
    assert host.modalities == ("texture", "image") and plugins.get_registry().owners["host:blender"] == "blender"


def test_unknown_platform_from_python(tmp_path: Path) -> None:
    with pytest.raises(GanforgeError, match="unknown platform"):
        blender_build.build(tmp_path, ["beos-x86"])
    assert list(tmp_path.iterdir()) == []

