"""Every training setting a user can get wrong gets one `error:` line and exit 2 before any work
(issue 18): no traceback, no allocator failure, no run folder left half-made."""

from __future__ import annotations

import pytest
from test_cli import invoke, one_error_line


@pytest.mark.parametrize(("args", "needle"), [
    (["--lr", "inf"], "lr_g"),
    (["--lr", "nan"], "lr_g"),
    (["--seed", "-1"], "seed"),
    (["--seed", str(2**64)], "seed"),
    (["--crop", "20"], "multiple of the generator stride"),
    (["--batch", "1000000"], "batch"),
    (["--model-option", "base=-1"], "base"),
    (["--model-option", "base=1000000"], "base"),
    (["--model-option", "bsae=64"], "bsae"),
    (["--model-option", "stats_weight=-1"], "stats_weight"),
])
def test_bad_setting_is_one_line(texture_dir, tmp_path, args, needle) -> None:
    out = tmp_path / "run"
    one_error_line(invoke("train", "texture", "--data", texture_dir, "--crop", "32", "--steps", "1",
                          "--no-progress", "--out", out, *args), needle)
    assert not (out / "checkpoints").exists()


def test_unwritable_run_folder_is_one_line_before_training(texture_dir) -> None:
    one_error_line(invoke("train", "texture", "--data", texture_dir, "--crop", "32", "--steps", "1",
                          "--no-progress", "--out", "/proc/ganforge-run"), "/proc/ganforge-run")


def test_export_to_an_unwritable_place_is_one_line_before_exporting(tiny_config) -> None:
    from ganforge.core.training.run import train

    run_dir = train(tiny_config(steps=1), progress=False).run_dir
    one_error_line(invoke("export", run_dir, "-o", "/proc/ganforge.onnx"), "/proc")


def test_int8_export_of_a_model_that_is_not_a_texture_is_one_line(tmp_path) -> None:
    pytest.importorskip("torch")
    from ganforge.core.errors import PackError
    from ganforge.core.modalities.music.family import MusicFamily
    from ganforge.exporters.onnx.export import export_generator

    info = {"tracks": 1, "pitches": 12, "low": 60, "steps_per_beat": 4, "bars": 1, "track_names": ["k"],
            "programs": [0], "drums": [False]}
    family = MusicFamily({"z_dim": 4, "cond_dim": 4, "channels": 8, "d_channels": 8}, info)
    with pytest.raises(PackError, match="--int8 is for texture packs") as e:
        export_generator(family, family.build_generator(), tmp_path / "m.onnx", facts={}, modality="music", int8=True)
    assert "\n" not in str(e.value) and not (tmp_path / "m.onnx").exists()
