"""RelGAN's ``d_steps`` model option: several discriminator updates per generator update (the
RelGAN authors' oracle setting is 5), resumable exactly, and a bad value is a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from text_helpers import TINY_TEXT_MODEL, train_config, write_corpus

CKPT = "checkpoints/step_{:09d}.safetensors"


def _opt_steps(run: Path, step: int, prefix: str) -> float:
    from safetensors.torch import load_file

    tensors = load_file(str(run / CKPT.format(step)))
    counts = {float(v) for k, v in tensors.items() if k.startswith(prefix + ".") and k.endswith(".step")}
    assert len(counts) == 1, counts  # every parameter was updated as often
    return counts.pop()


@pytest.mark.parametrize("d_steps", [1, 3])
def test_d_updates_d_steps_times_per_generator_update(tmp_path: Path, d_steps: int) -> None:
    from ganforge.core.training.run import train

    model = {**TINY_TEXT_MODEL, "pretrain_steps": 2, "d_steps": d_steps}
    run = tmp_path / "run"
    train(train_config(run, write_corpus(tmp_path / "c.txt"), "relgan", steps=6, model=model), progress=False)
    assert _opt_steps(run, 6, "opt_d") == 4 * d_steps  # 4 adversarial steps
    assert _opt_steps(run, 6, "opt_g") == 6  # 2 MLE steps, then one G update per step


def test_several_d_steps_resume_exactly(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from ganforge.core.training.run import train

    data = write_corpus(tmp_path / "c.txt")
    model = {**TINY_TEXT_MODEL, "pretrain_steps": 2, "anneal_steps": 8, "d_steps": 2}
    train(train_config(tmp_path / "straight", data, "relgan", steps=8, model=model), progress=False)
    train(train_config(tmp_path / "split", data, "relgan", steps=5, model=model), progress=False)
    train(train_config(tmp_path / "split", data, "relgan", steps=8, model=model), resume=True, progress=False)
    a = load_file(str(tmp_path / "straight" / CKPT.format(8)))
    b = load_file(str(tmp_path / "split" / CKPT.format(8)))
    for k in a:
        if k.startswith(("G.", "D.")):
            assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("bad", [0, -1, 2.5, "five", True])
def test_bad_d_steps_is_a_clear_error(tmp_path: Path, bad: object) -> None:
    from ganforge.core.errors import RunError
    from ganforge.core.training.run import train

    cfg = train_config(tmp_path / "run", write_corpus(tmp_path / "c.txt"), "relgan", steps=1,
                       model={**TINY_TEXT_MODEL, "d_steps": bad})
    with pytest.raises(RunError, match=r"d_steps=.*must be a whole number"):  # the type check or the range
        train(cfg, progress=False)
    assert not (tmp_path / "run" / "checkpoints").exists() or not any((tmp_path / "run" / "checkpoints").iterdir())
