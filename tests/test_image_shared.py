"""The image modality on the shared twemoji set (skipped without ../shared; CI requires it)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from shared_data import shared_path

from ganforge.core.cli import cli


def twemoji() -> Path:
    return shared_path("image/twemoji64.npz")


@pytest.mark.shared
def test_twemoji_reads_as_a_conditional_rgba_set():
    from ganforge.core.modalities.image.io import read_dataset

    data = read_dataset(twemoji(), 32)
    assert data.images.shape == (3786, 32, 32, 4) and len(data.categories) == 10
    assert "Smileys & Emotion" in data.categories and np.bincount(data.labels).min() > 0
    transparent = data.images[..., 3] == 0
    assert transparent.mean() > 0.1 and not data.images[transparent].any()  # premultiplied


@pytest.mark.shared
def test_train_and_export_on_twemoji(tmp_path):
    data = twemoji()
    run = tmp_path / "run"
    result = CliRunner().invoke(cli, ["train", "image", "--data", str(data), "--size", "32", "--steps", "2",
                                      "--batch", "4", "--out", str(run), "--no-progress"], prog_name="ganforge")
    assert result.exit_code == 0, result.output
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert any(r.get("event") == "sample" and "kid" in r for r in log)
    result = CliRunner().invoke(cli, ["export", str(run), "-o", str(tmp_path / "emoji.onnx")], prog_name="ganforge")
    assert result.exit_code == 0, result.output
    from ganforge.core import runtime

    pack = runtime.load(tmp_path / "emoji.onnx", device="cpu")
    assert pack.meta.decoder["categories"][7] == "Smileys & Emotion"
    assert pack.generate(0, 2, category="Flags").shape == (2, 32, 32, 4)
