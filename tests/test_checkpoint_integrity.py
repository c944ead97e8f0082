"""Checkpoints carry a digest of their tensors: flipped bytes, NaN weights or hand-edited metadata
are refused with one line, and resume/export fall back to the previous checkpoint (issue 18)."""

from __future__ import annotations

import pytest
import torch

from ganforge.core.errors import RunError
from ganforge.core.training import checkpoint as ckpt
from ganforge.core.training.run import load_for_export, train


def test_flipped_bytes_in_tensor_data_are_caught_and_skipped(tiny_config, capsys) -> None:
    run_dir = train(tiny_config(steps=2, checkpoint_every=1), progress=False).run_dir
    newest = ckpt.list_checkpoints(run_dir)[-1]
    data = bytearray(newest.read_bytes())
    data[-200] ^= 0xFF  # inside the last tensor's bytes: the header still parses
    newest.write_bytes(bytes(data))
    with pytest.raises(RunError, match="damaged checkpoint"):
        ckpt.load(newest)
    assert load_for_export(run_dir).facts["steps"] == 1  # the older one, and a warning names the newer
    assert newest.name in capsys.readouterr().err


@pytest.mark.parametrize(("tensors", "meta", "needle"), [
    ({"G.w": torch.tensor([1.0, float("nan")])}, {"step": 3}, "non-finite"),
    ({"G.w": torch.ones(2)}, {"step": -5}, "step -5"),
    ({"G.w": torch.ones(2)}, {"step": "3"}, "step '3'"),
])
def test_nan_weights_and_bad_metadata_are_refused(tmp_path, tensors, meta, needle) -> None:
    path = tmp_path / "step_000000003.safetensors"
    ckpt.save(path, tensors, meta)
    with pytest.raises(RunError, match=needle) as e:
        ckpt.load(path)
    assert "\n" not in str(e.value)


def test_digest_sees_every_byte_and_the_names() -> None:
    a = {"x": torch.arange(6, dtype=torch.float32).reshape(2, 3), "n": torch.tensor(3)}
    base = ckpt.digest(a)
    assert base == ckpt.digest({k: v.clone() for k, v in a.items()})
    b = {k: v.clone() for k, v in a.items()}
    b["x"][1, 2] = 5.000001
    assert ckpt.digest(b) != base
    assert ckpt.digest({"y": a["x"], "n": a["n"]}) != base
    assert ckpt.digest({"x": a["x"].reshape(3, 2), "n": a["n"]}) != base
