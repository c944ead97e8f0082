"""A base install (no ``cpu``/``gpu`` extra) has no onnxruntime: the first use of a pack says
which extra to install, in one line, instead of an ImportError traceback. (The real base install
is built and checked in test_packaging.py.)"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ganforge.core import plugins
from ganforge.core.cli import cli
from ganforge.core.errors import GanforgeError


def test_a_missing_onnxruntime_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ganforge.core import runtime

    pack = tmp_path / "p.onnx"
    pack.write_bytes(b"x")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what `import onnxruntime` meets without it
    with pytest.raises(GanforgeError, match=r"pip install 'ganforge\[cpu\]' \(or 'ganforge\[gpu\]' for CUDA\)"):
        runtime.load(pack)
    plugins.reset()
    result = CliRunner().invoke(cli, ["generate", str(pack), "-o", str(tmp_path / "o.png")], prog_name="ganforge")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: running a pack needs onnxruntime"), lines
    assert "ganforge[cpu]" in lines[0]
