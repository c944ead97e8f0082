"""Packaging: a real wheel and a real editable install, each in a fresh venv.

Two venvs get ganforge with ``--no-deps`` (no network); their dependencies come from the test's
own environment through a path entry (a ``.pth`` line, which does not run that environment's own
``.pth`` hooks, so its editable install of ganforge stays invisible). One, the base install as a
user gets it, resolves the declared dependencies from the package index (skipped when no index
is reachable): that is what catches a dependency the code needs but the metadata lacks.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def run(*args: str | Path, cwd: Path | None = None, timeout: int = 300) -> str:
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=timeout)
    assert proc.returncode == 0, f"{args}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def fresh_venv(path: Path) -> Path:
    """A venv without pip whose imports fall back to this environment's site-packages."""
    run(sys.executable, "-m", "venv", "--without-pip", path)
    python = path / "bin" / "python"
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    (site / "zz_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def pip_install(python: Path, *args: str | Path) -> None:
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-build-isolation",
        "--no-index", "-q", *args, timeout=600)


CHECK = """
import json, sys
import ganforge, ganforge.core.runtime, ganforge.core.cli
from ganforge.core import plugins
registry = plugins.get_registry()
print(json.dumps({
    "core": ganforge.core.__file__,
    "namespace": getattr(ganforge, "__file__", None) is None,
    "torch": "torch" in sys.modules,
    "modalities": sorted(registry.modalities),
    "exporters": sorted(registry.exporters),
    "builtins": sorted(plugins.BUILTINS),
    "loaded": sorted(r.name for r in plugins.get_records() if r.error is None and r.source == "builtin"),
    "warnings": registry.warnings,
}))
"""


def check_install(python: Path, venv: Path) -> dict:
    facts = json.loads(run(python, "-c", CHECK, cwd=venv))
    assert facts["namespace"], "ganforge must stay a namespace package"
    assert not facts["torch"], "importing the runtime, the CLI and the plugins must not import torch"
    assert "texture" in facts["modalities"] and "onnx" in facts["exporters"], facts
    assert facts["loaded"] == facts["builtins"], facts  # every built-in is in the install and loads
    assert facts["warnings"] == []
    assert run(venv / "bin" / "ganforge", "--version", cwd=venv).startswith("ganforge, version ")
    return facts


#: The editor clients, tracked beside the server (plugins/editor/).
CLIENT_FILES = ("nvim/lua/ganforge/init.lua", "vscode/package.json", "vscode/package-lock.json",
                "vscode/tsconfig.json", "vscode/src/extension.ts")


def build_wheel(dist: Path) -> Path:
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
        "-w", dist, ROOT, timeout=600)
    (wheel,) = dist.glob("ganforge-*.whl")
    return wheel


def test_wheel_contents_and_install(tmp_path):
    wheel = build_wheel(tmp_path / "dist")
    names = zipfile.ZipFile(wheel).namelist()
    assert "ganforge/__init__.py" not in names
    for required in ("ganforge/core/__init__.py", "ganforge/core/cli.py", "ganforge/core/runtime.py",
                     "ganforge/core/modalities/texture/__init__.py", "ganforge/core/commands/generate.py",
                     "ganforge/exporters/__init__.py", "ganforge/exporters/onnx/__init__.py",
                     "ganforge/plugins/__init__.py"):
        assert required in names, required
    assert not [n for n in names if n.startswith(("tests/", "ganforge/tests/")) or "__pycache__" in n]
    for client in CLIENT_FILES:  # setup.py says the editor clients travel in the wheel
        assert f"ganforge/plugins/editor/{client}" in names, client
    assert not [n for n in names if "node_modules" in n]
    info = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    entry_points = zipfile.ZipFile(wheel).read(info).decode()
    assert "ganforge = ganforge.core.cli:main" in entry_points
    from ganforge.core.plugins import BUILTINS

    for name, module in BUILTINS.items():  # pyproject's entry points and the built-in list agree
        assert f"{name} = {module}" in entry_points, name

    venv = tmp_path / "venv"
    python = fresh_venv(venv)
    pip_install(python, wheel)
    facts = check_install(python, venv)
    assert facts["core"].startswith(str(venv)), facts["core"]


def test_editable_install(tmp_path):
    venv = tmp_path / "venv"
    python = fresh_venv(venv)
    pip_install(python, "-e", ROOT)
    facts = check_install(python, venv)
    assert facts["core"] == str(ROOT / "core" / "__init__.py")


def test_base_install_resolves_its_dependencies_and_names_the_runtime_extra(tmp_path):
    """``pip install ganforge`` with its real dependencies and nothing else: the CLI, the plugins
    and the codecs load torch-free, and generating says which extra brings onnxruntime."""
    wheel = build_wheel(tmp_path / "dist")
    venv = tmp_path / "base"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", str(wheel)],
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0 and any(s in proc.stderr for s in ("NewConnectionError", "Network is unreachable",
                                                               "No matching distribution", "Temporary failure")):
        pytest.skip(f"no package index reachable: {proc.stderr.strip().splitlines()[-1]}")
    assert proc.returncode == 0, proc.stderr
    facts = json.loads(run(python, "-c", CHECK, cwd=venv))
    assert facts["loaded"] == facts["builtins"] and facts["warnings"] == [] and not facts["torch"], facts
    missing = run(python, "-c", "import importlib.util as u; print([m for m in ('torch', 'onnxruntime') "
                                "if u.find_spec(m)])", cwd=venv)
    assert missing.strip() == "[]", "the base install must stay torch- and onnxruntime-free"
    pack = tmp_path / "any.onnx"
    pack.write_bytes(b"not really a pack")
    proc = subprocess.run([venv / "bin" / "ganforge", "generate", pack, "-o", tmp_path / "out.png"],
                          capture_output=True, text=True, timeout=120, cwd=venv)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "pip install 'ganforge[cpu]'" in proc.stderr, proc.stderr
