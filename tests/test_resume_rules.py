"""Resume rules live in one function (training/config.py's resume_config): the CLI and the
Python API (training/run.py) both call it, so a changed learned field is refused by both,
never silently ignored. Torch-free and fast: the CLI refuses before training starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from ganforge.core import plugins
from ganforge.core.cli import cli
from ganforge.core.errors import RunError
from ganforge.core.training import config as config_module
from ganforge.core.training.config import RUNTIME_FIELDS, TrainConfig, resume_config


def test_runtime_fields_are_taken_and_learned_ones_must_match() -> None:
    saved = TrainConfig(modality="texture", steps=100, lr_g=2e-4, augment=["color"], model={"base": 32})
    merged = resume_config(saved, {"steps": 200, "device": "cpu", "lr_g": 2e-4, "augment": ("color",),
                                   "model": {"base": 32}}, "runs/a")
    assert merged.steps == 200 and merged.device == "cpu" and merged.lr_g == 2e-4
    assert saved.steps == 100  # the saved config is not touched
    with pytest.raises(RunError, match=r"^lr_g cannot change when resuming runs/a \(saved: 0\.0002, given: 0\.1\)$"):
        resume_config(saved, {"lr_g": 0.1}, "runs/a")
    with pytest.raises(RunError, match=r"^--model-option cannot change"):
        resume_config(saved, {"model": {"bsae": 64}}, "runs/a", label=lambda f: "--model-option")
    with pytest.raises(RunError, match=r"^runs/a: is a 'texture' run, not 'music'$"):
        resume_config(saved, {"modality": "music"}, "runs/a")
    every = {name: getattr(saved, name) for name in RUNTIME_FIELDS}
    assert resume_config(saved, {**saved.to_dict(), **every}, "runs/a") == saved


def _saved_run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    TrainConfig(modality="texture", family="texture", data="builtin:skimage", out=str(run)).save(run / "config.json")
    return run


@pytest.mark.parametrize(("args", "flag"), [(["--lr", "0.1"], "--lr"), (["--crop", "32"], "--crop"),
                                            (["--loss", "hinge"], "--loss"),
                                            (["--model-option", "base=16"], "--model-option")])
def test_the_cli_refuses_a_changed_option_with_one_line(tmp_path: Path, args: list[str], flag: str) -> None:
    plugins.reset()
    result = CliRunner().invoke(cli, ["train", "texture", "--out", str(_saved_run(tmp_path)), "--resume", *args],
                                prog_name="ganforge")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {flag} cannot change when resuming"), lines


def test_the_cli_and_the_run_call_the_same_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both callers go through resume_config: replacing it changes both."""
    calls: list[str] = []

    def spy(saved, given, run, label=None):  # type: ignore[no-untyped-def]
        calls.append(str(run))
        raise RunError("spied")

    monkeypatch.setattr(config_module, "resume_config", spy)
    plugins.reset()
    run = _saved_run(tmp_path)
    result = CliRunner().invoke(cli, ["train", "texture", "--out", str(run), "--resume"], prog_name="ganforge")
    assert result.exit_code == 2 and "spied" in result.stderr
    import ast

    source = Path(config_module.__file__).with_name("run.py").read_text(encoding="utf-8")
    called = {n.func.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert "resume_config" in called and "_merge_for_resume" not in source
    assert calls == [str(run)]
