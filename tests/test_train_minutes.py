"""``ganforge train ... --minutes M``: a wall-clock budget instead of (or besides) --steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TINY_MODEL, write_image
from test_cli import invoke, one_error_line

from ganforge.core.training import checkpoint as ckpt
from ganforge.core.training.config import UNBOUNDED_STEPS, TrainConfig

TINY = ["--crop", "32", "--batch", "2", "--no-progress", "--sample-every", "1000",
        *[a for k, v in TINY_MODEL.items() for a in ("--model-option", f"{k}={v}")]]


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    write_image(tmp_path / "photos" / "a.png", (48, 48), "RGB", 1)
    return tmp_path / "photos"


def _events(run: Path, name: str) -> list[dict]:
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    return [r for r in records if r.get("event") == name]


def test_minutes_stop_save_hint_and_resume_for_more_minutes(photos: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = invoke("train", "texture", "--data", photos, "--out", run, "--minutes", "0.02", *TINY)
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert first.startswith("stopped after ") and " minutes at step " in first, result.stdout
    assert first.endswith(f"; continue with: ganforge train texture --out {run} --resume --minutes 0.02")
    step = int(first.split(" at step ")[1].split(";")[0])
    assert step >= 1
    assert ckpt.list_checkpoints(run)[-1].name == f"step_{step:09d}.safetensors"
    saved = TrainConfig.load(run / "config.json")
    assert saved.minutes == 0.02 and saved.steps == UNBOUNDED_STEPS  # the time decided, not --steps
    [event] = _events(run, "time_budget")
    assert event["step"] == step and event["elapsed_minutes"] >= 0.02

    more = invoke("train", "texture", "--out", run, "--resume", "--minutes", "0.01", "--no-progress")
    assert more.exit_code == 0, more.output
    again = int(more.stdout.splitlines()[0].split(" at step ")[1].split(";")[0])
    assert again > step and "--resume --minutes 0.01" in more.stdout
    assert "for 0.01 more minutes" in more.stderr

    # an explicit --steps on resume ends the run there; the saved time budget no longer applies
    done = invoke("train", "texture", "--out", run, "--resume", "--steps", again + 1, "--no-progress")
    assert done.exit_code == 0, done.output
    assert f"trained {again + 1} steps" in done.stdout


def test_time_bar_shows_time_left_and_the_metric(tiny_config, capsys) -> None:
    from ganforge.core.training.run import train

    result = train(tiny_config(minutes=0.01, steps=UNBOUNDED_STEPS, sample_every=1, log_every=1), progress=True)
    assert result.out_of_time and not result.interrupted and result.step >= 1
    err = capsys.readouterr().err
    assert " left" in err and "swd=" in err and "step=" in err, err[-2000:]


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_invalid_minutes(photos: Path, tmp_path: Path, value: str) -> None:
    one_error_line(invoke("train", "texture", "--data", photos, "--out", tmp_path / "run", "--minutes", value),
                   "minutes", value)
    assert not (tmp_path / "run").exists()


def test_config_validates_minutes() -> None:
    TrainConfig(minutes=0.5).validate()
    TrainConfig(minutes=None).validate()
    for bad in (0, -2.0, float("nan"), True, "3"):
        with pytest.raises(Exception, match="minutes"):
            TrainConfig(minutes=bad).validate()
