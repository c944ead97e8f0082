"""Texture data: what is read, how it is cropped, and one-line errors naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import write_image

from ganforge.core.errors import DataError
from ganforge.core.modalities.texture.data import BUILTIN, build_dataset


def test_folder_mixed_channels_promotes_grey_to_rgb(texture_dir: Path) -> None:
    ds = build_dataset(texture_dir, 32)
    info = ds.data_info
    assert info["channels"] == 3 and info["count"] == 3 and info["crop"] == 32
    assert info["name"] == "textures" and info["skipped"] == []
    assert [Path(f).name for f in info["files"]] == ["a.png", "b.jpg", "c.png"]
    grey = ds.images[2]
    assert grey.shape == (3, 64, 64) and torch.equal(grey[0], grey[1]) and torch.equal(grey[1], grey[2])


def test_all_grey_is_one_channel_and_rgba_drops_alpha(tmp_path: Path) -> None:
    write_image(tmp_path / "g" / "a.png", (40, 40), "L")
    write_image(tmp_path / "g" / "b.webp", (36, 50), "LA")
    assert build_dataset(tmp_path / "g", 32).data_info["channels"] == 1
    ds = build_dataset(write_image(tmp_path / "rgba.png", (40, 40), "RGBA"), 32)
    assert ds.data_info["channels"] == 3 and ds.images[0].shape == (3, 40, 40)
    assert ds.data_info["name"] == "rgba"


def test_sample_shape_range_and_determinism(texture_dir: Path) -> None:
    ds = build_dataset(texture_dir, 32, {"vflip": True, "rot90": True})
    a = ds.sample(8, torch.Generator().manual_seed(3))
    b = ds.sample(8, torch.Generator().manual_seed(3))
    c = ds.sample(8, torch.Generator().manual_seed(4))
    assert a.shape == (8, 3, 32, 32) and a.dtype == torch.float32
    assert a.min() >= -1 and a.max() <= 1 and a.std() > 0.05
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_crops_are_pieces_of_the_image(tmp_path: Path) -> None:
    ds = build_dataset(write_image(tmp_path / "one.png", (32, 32), "RGB"), 32, {"hflip": False})
    whole = ds.images[0].float() / 127.5 - 1
    assert torch.equal(ds.sample(2, torch.Generator().manual_seed(0))[0], whole)


def test_builtin_skimage_textures() -> None:
    ds = build_dataset(BUILTIN, 64)
    assert ds.data_info["channels"] == 1 and ds.data_info["count"] == 3
    assert ds.data_info["files"] == ["skimage.data.brick", "skimage.data.grass", "skimage.data.gravel"]


def test_corrupt_file_among_good_ones_is_skipped_and_reported(texture_dir: Path,
                                                              capsys: pytest.CaptureFixture) -> None:
    good = (texture_dir / "b.jpg").read_bytes()
    (texture_dir / "broken.jpg").write_bytes(good[: len(good) // 2])  # truncated JPEG
    (texture_dir / "notes.png").write_text("not an image")
    ds = build_dataset(texture_dir, 32)
    assert ds.data_info["count"] == 3
    skipped = {Path(s["file"]).name for s in ds.data_info["skipped"]}
    assert skipped == {"broken.jpg", "notes.png"}
    err = capsys.readouterr().err
    assert "broken.jpg" in err and "notes.png" in err


@pytest.mark.parametrize("case", ["missing", "empty", "non_images", "all_corrupt", "too_small", "bad_file"])
def test_bad_input_is_one_line_data_error_naming_the_path(tmp_path: Path, case: str) -> None:
    d = tmp_path / "data"
    d.mkdir()
    target, named = d, str(d)
    if case == "missing":
        target = named = str(tmp_path / "nope")
    elif case == "non_images":
        (d / "readme.txt").write_text("hello")
    elif case == "all_corrupt":
        (d / "x.png").write_bytes(b"\x89PNG garbage")
        (d / "y.jpg").write_bytes(b"")
    elif case == "too_small":
        write_image(d / "big.png", (64, 64))
        named = str(write_image(d / "small.png", (40, 20)))
    elif case == "bad_file":
        target = named = str(d / "file.png")
        Path(target).write_bytes(b"nope")
    with pytest.raises(DataError) as e:
        build_dataset(target, 32, warn=lambda msg: None)
    msg = str(e.value)
    assert named in msg and "\n" not in msg
    if case == "too_small":
        assert "40×20" in msg and "32×32" in msg


def test_unknown_option_is_rejected(texture_dir: Path) -> None:
    with pytest.raises(DataError, match="hflipp"):
        build_dataset(texture_dir, 32, {"hflipp": True})


def test_builtin_colour_photo_for_the_demo() -> None:
    ds = build_dataset("builtin:ihc", 64)
    assert ds.data_info["channels"] == 3 and ds.data_info["files"] == ["skimage.data.immunohistochemistry"]


@pytest.mark.parametrize("case", ["one_pixel_wide", "enormous"])
def test_degenerate_photos_get_one_line(tmp_path: Path, case: str) -> None:
    from PIL import Image

    path = tmp_path / f"{case}.png"
    if case == "one_pixel_wide":
        Image.new("RGB", (1, 500), (200, 10, 10)).save(path)
        expected = "1×500"
    else:  # a few KB on disk that would decode to 144 million pixels
        Image.new("1", (12000, 12000)).save(path)
        expected = "megapixel"
    with pytest.raises(DataError) as e:
        build_dataset(path, 64, warn=lambda msg: None)
    msg = str(e.value)
    assert str(path) in msg and expected in msg and "\n" not in msg


def test_greyscale_photo_trains_one_channel(tmp_path: Path) -> None:
    path = write_image(tmp_path / "grey.png", (80, 72), mode="L")
    ds = build_dataset(path, 64)
    assert ds.data_info["channels"] == 1 and ds.sample(2, torch.Generator().manual_seed(0)).shape == (2, 1, 64, 64)


def test_a_band_of_each_photo_is_held_out_for_the_sample_metric(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    # a photo whose every column has its own value: a crop tells which columns it came from
    columns = np.tile(np.arange(200, dtype=np.uint8)[None, :, None], (64, 1, 3))
    path = tmp_path / "wide.png"
    Image.fromarray(columns).save(path)
    assert build_dataset(path, 32).eval_boxes == [None]  # off by default (data.py says why)
    ds = build_dataset(path, 32, {"hflip": False, "holdout": 0.15})
    assert ds.eval_boxes[0] == (0, 64, 168, 200)  # 15% of 200 is 30 px: the band is a crop wide
    assert ds.data_info["holdout"] == {"fraction": 0.15, "photos": 1}

    def columns_of(batch: torch.Tensor) -> set[int]:
        return set(((batch[:, 0] + 1) * 127.5).round().long().unique().tolist())

    trained = columns_of(ds.sample(256, torch.Generator().manual_seed(0)))
    held = columns_of(ds.eval_sample(64, torch.Generator().manual_seed(0)))
    assert max(trained) < 168 <= min(held) and max(held) == 199 and min(trained) == 0
    # too small for a band and a crop beside it: trained whole, the metric on training crops
    small = build_dataset(write_image(tmp_path / "small.png", (48, 40)), 32, {"holdout": 0.15})
    assert small.eval_boxes == [None] and small.train_boxes == [(0, 40, 0, 48)]
    assert torch.equal(small.eval_sample(4, torch.Generator().manual_seed(1)),
                       small.sample(4, torch.Generator().manual_seed(1)))
    whole = build_dataset(path, 32, {"holdout": 0})
    assert whole.eval_boxes == [None] and whole.train_boxes == [(0, 64, 0, 200)]
    for bad in (0.9, -0.1, True, "x"):
        with pytest.raises(DataError, match=r"^holdout must be a fraction from 0 to 0.5"):
            build_dataset(path, 32, {"holdout": bad})


def test_training_samples_and_metric_use_the_held_out_band(tmp_path: Path) -> None:
    import numpy as np
    from conftest import TINY_MODEL
    from PIL import Image

    from ganforge.core.training.config import TrainConfig
    from ganforge.core.training.run import train

    photo = np.zeros((64, 200, 3), np.uint8)
    photo[:, 168:] = 255  # the band (the last 32 columns) is white, everything trained on black
    Image.fromarray(photo).save(tmp_path / "band.png")
    cfg = TrainConfig(data=str(tmp_path / "band.png"), out=str(tmp_path / "run"), steps=2, crop=32, batch=2,
                      device="cpu", model=dict(TINY_MODEL), sample_every=2, log_every=1,
                      data_options={"holdout": 0.15})
    train(cfg, progress=False)
    sheet = np.asarray(Image.open(tmp_path / "run" / "samples" / "step_000002.png"))
    assert (sheet[:64] == 255).all()  # the real row: crops of the band only


def test_a_run_saved_before_the_band_resumes_on_whole_photos(tiny_config, monkeypatch) -> None:
    from ganforge.core.modalities.texture import data
    from ganforge.core.training import checkpoint as ckpt
    from ganforge.core.training.run import train

    # as when the band was on by default (session 10): a resumed run without it must not get it
    monkeypatch.setitem(data.OPTIONS, "holdout", 0.15)
    cfg = tiny_config(steps=2, checkpoint_every=2)
    train(cfg, progress=False)
    path = ckpt.list_checkpoints(Path(cfg.out))[-1]
    tensors, meta = ckpt.load(path)
    assert meta["data_info"]["holdout"]["fraction"] == 0.15
    del meta["data_info"]["holdout"]  # as a run saved before the option existed
    ckpt.save(path, tensors, meta)
    train(tiny_config(steps=4, checkpoint_every=2), resume=True, progress=False)
    _, resumed = ckpt.load(ckpt.list_checkpoints(Path(cfg.out))[-1])
    assert resumed["data_info"]["holdout"] == {"fraction": 0.0, "photos": 0}
