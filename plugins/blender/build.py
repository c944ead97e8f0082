"""``ganforge blender build``: one extension zip per platform, its wheels bundled.

Each zip holds the add-on (this folder's Blender modules and manifest), a wheel of the
torch-free ganforge runtime built from the installed package, and wheels of onnxruntime, click
and pluggy for Python 3.11 (Blender 4.2-5.0) and 3.13 (Blender 5.1+). Blender installs the
wheels matching its own Python and platform; numpy comes with Blender. Downloads use
``pip download --only-binary=:all:`` and are cached, so rebuilds are offline and fast. When
``bpy`` is installed, Blender's own extension tooling validates each zip.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import importlib.util
import io
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from ganforge.core import __version__
from ganforge.core.atomic import write_atomic
from ganforge.core.errors import GanforgeError

HERE = Path(__file__).resolve().parent
MANIFEST = "blender_manifest.toml"
#: Files of this folder that are build/CLI side, not part of the add-on.
NOT_ADDON = {"build.py", "host.py"}
#: Blender platform -> pip platform tags (newest first; pip takes any of them).
PLATFORMS: dict[str, list[str]] = {
    "linux-x64": ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
                  "manylinux2014_x86_64"],
    "windows-x64": ["win_amd64"],
    "macos-arm64": ["macosx_14_0_arm64", "macosx_13_0_arm64", "macosx_12_0_arm64", "macosx_11_0_arm64"],
}
#: Blender 4.2-5.0 embed Python 3.11, Blender 5.1+ Python 3.13.
PYTHONS = ("3.11", "3.13")
ONNXRUNTIME = "onnxruntime==1.32.0"
#: Pure-Python dependencies of the runtime (Blender ships numpy, not these).
PURE = ("click==8.5.1", "pluggy==1.7.0")
CACHE_ENV = "GANFORGE_CACHE"
_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed zip timestamps: the same inputs give the same zip


def default_cache() -> Path:
    base = os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "ganforge")
    return Path(base) / "blender-wheels"


# ---- the ganforge runtime wheel ---------------------------------------------------------------
def _package_files() -> list[tuple[str, Path]]:
    """(archive name, file) for every file of ganforge's three sub-packages, wherever installed
    (an editable install maps them to separate folders)."""
    files = []
    for sub in ("core", "exporters", "plugins"):
        module = importlib.import_module(f"ganforge.{sub}")
        root = Path(next(iter(module.__path__)))
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root)
            if path.is_file() and "__pycache__" not in rel.parts and path.suffix not in (".pyc", ".pyo"):
                files.append((f"ganforge/{sub}/{rel.as_posix()}", path))
    return files


def _zip_write(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, _EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def runtime_wheel(dest: Path) -> Path:
    """Build ``ganforge-VERSION-py3-none-any.whl`` in ``dest`` from the installed package."""
    dist = f"ganforge-{__version__}.dist-info"
    meta = {
        f"{dist}/METADATA": (f"Metadata-Version: 2.1\nName: ganforge\nVersion: {__version__}\n"
                             "Summary: ganforge runtime for Blender (torch-free)\n"
                             "Requires-Dist: numpy\nRequires-Dist: onnxruntime\n"
                             "Requires-Dist: click\nRequires-Dist: pluggy\n").encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: ganforge-blender-build\nRoot-Is-Purelib: true\n"
                         b"Tag: py3-none-any\n",
    }
    entries = [(name, path.read_bytes()) for name, path in _package_files()] + list(meta.items())
    record = io.StringIO()
    for name, data in entries:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.write(f"{name},sha256={digest},{len(data)}\n")
    record.write(f"{dist}/RECORD,,\n")
    out = dest / f"ganforge-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in entries:
            _zip_write(zf, name, data)
        _zip_write(zf, f"{dist}/RECORD", record.getvalue().encode())
    return out


# ---- downloads ----------------------------------------------------------------------------------
def _pip_download(spec: str, into: Path, args: list[str]) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", "-d", str(into), *args, spec]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise GanforgeError(f"could not download {spec} ({' '.join(args) or 'any platform'}): {last}")


def fetch(spec: str, cache: Path, platform: str | None = None, python: str | None = None) -> Path:
    """The wheel for ``spec`` (``name==version``), from ``cache`` or downloaded into it."""
    key = spec.replace("==", "-") + (f"-{platform}-cp{python.replace('.', '')}" if platform and python else "")
    folder = cache / key
    found = sorted(folder.glob("*.whl")) if folder.is_dir() else []
    if found:
        return found[0]
    args: list[str] = []
    if platform and python:
        for tag in PLATFORMS[platform]:
            args += ["--platform", tag]
        nodot = python.replace(".", "")
        args += ["--python-version", python, "--implementation", "cp", "--abi", f"cp{nodot}"]
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=cache))
    try:
        _pip_download(spec, tmp, args)
        wheels = sorted(tmp.glob("*.whl"))
        if len(wheels) != 1:
            raise GanforgeError(f"pip download of {spec} gave {len(wheels)} wheels, expected one")
        try:
            os.replace(tmp, folder)  # atomic: a half-finished download never looks cached
        except OSError:  # another build filled it meanwhile
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return sorted(folder.glob("*.whl"))[0]


# ---- the zip ------------------------------------------------------------------------------------
def manifest_for(platform: str, wheels: list[str]) -> str:
    """The manifest with ``platforms`` and ``wheels`` set (inserted before the first table)."""
    text = (HERE / MANIFEST).read_text(encoding="utf-8")
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("["))
    added = [f'platforms = ["{platform}"]', "wheels = ["] + [f'  "./wheels/{w}",' for w in wheels] + ["]", ""]
    return "\n".join(lines[:at] + added + lines[at:]) + "\n"


def addon_files() -> list[Path]:
    return sorted(p for p in HERE.iterdir() if p.suffix == ".py" and p.name not in NOT_ADDON)


def build_zip(platform: str, out_dir: Path, runtime: Path, cache: Path) -> Path:
    wheels = [runtime] + [fetch(spec, cache) for spec in PURE]
    wheels += [fetch(ONNXRUNTIME, cache, platform, py) for py in PYTHONS]
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"ganforge-{__version__}-{platform.replace('-', '_')}.zip"

    def save(tmp: str) -> None:
        with zipfile.ZipFile(tmp, "w") as zf:
            _zip_write(zf, MANIFEST, manifest_for(platform, [w.name for w in wheels]).encode())
            for path in addon_files():
                _zip_write(zf, path.name, path.read_bytes())
            for wheel in wheels:
                info = zipfile.ZipInfo(f"wheels/{wheel.name}", _EPOCH)
                info.compress_type = zipfile.ZIP_STORED  # wheels are already compressed
                with open(wheel, "rb") as f:
                    zf.writestr(info, f.read())

    return write_atomic(out, save)


BPY_PYTHON_ENV = "GANFORGE_BPY_PYTHON"


def _tool_in(bpy_dir: Path) -> Path | None:
    found = sorted(bpy_dir.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    return found[-1] if found else None


def validator() -> list[str] | None:
    """The command that runs Blender's extension validation, or None when Blender is absent.

    Looked for in order: ``bpy`` importable here, a Python with ``bpy`` named by
    ``$GANFORGE_BPY_PYTHON``, a ``blender`` executable on PATH.
    """
    spec = importlib.util.find_spec("bpy")
    if spec is not None and spec.submodule_search_locations:
        tool = _tool_in(Path(next(iter(spec.submodule_search_locations))))
        if tool is not None:
            return [sys.executable, str(tool), "validate"]
    python = os.environ.get(BPY_PYTHON_ENV)
    if python:
        proc = subprocess.run([python, "-c", "import importlib.util as u; "
                               "print(list(u.find_spec('bpy').submodule_search_locations)[0])"],
                              capture_output=True, text=True)
        tool = _tool_in(Path(proc.stdout.strip())) if proc.returncode == 0 else None
        if tool is None:
            raise GanforgeError(f"{BPY_PYTHON_ENV}={python}: no bpy found in that Python")
        return [python, str(tool), "validate"]
    blender = shutil.which("blender")
    return [blender, "--factory-startup", "--command", "extension", "validate"] if blender else None


def validate(zip_path: Path, command: list[str]) -> None:
    """Run Blender's own manifest/package validation on ``zip_path``; GanforgeError on failure."""
    proc = subprocess.run([*command, str(zip_path)], capture_output=True, text=True)
    if proc.returncode != 0:
        text = (proc.stdout + proc.stderr).strip().splitlines()
        raise GanforgeError(f"{zip_path}: Blender's extension validation failed: "
                            f"{text[-1] if text else f'exit status {proc.returncode}'}")


def build(out_dir: Path, platforms: list[str] | None = None, cache: Path | None = None,
          check: bool = True) -> list[Path]:
    """Build the extension zips into ``out_dir``; returns their paths (one per platform)."""
    platforms = platforms or list(PLATFORMS)
    unknown = [p for p in platforms if p not in PLATFORMS]
    if unknown:
        raise GanforgeError(f"unknown platform(s) {unknown}; choose from {', '.join(PLATFORMS)}")
    cache = cache or default_cache()
    tool = validator() if check else None
    with tempfile.TemporaryDirectory(prefix="ganforge-wheel-") as tmp:
        runtime = runtime_wheel(Path(tmp))
        zips = []
        for platform in platforms:
            out = build_zip(platform, out_dir, runtime, cache)
            if tool is not None:
                try:
                    validate(out, tool)
                except GanforgeError:
                    out.unlink(missing_ok=True)  # nothing invalid left behind
                    raise
            zips.append(out)
    return zips
