"""Image data: folders with categories, .npz, alpha, fit policies, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ganforge.core.errors import DataError
from ganforge.core.modalities.image import io


def sprite(size: tuple[int, int], colour: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """An RGBA disc on a transparent background whose hidden colour is random garbage."""
    w, h = size
    r = np.random.default_rng(seed)
    img = np.zeros((h, w, 4), np.uint8)
    img[..., :3] = r.integers(0, 256, (h, w, 3))  # colour of transparent pixels: meaningless
    yy, xx = np.mgrid[:h, :w]
    inside = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (min(w, h) / 3) ** 2
    img[inside] = (*colour, 255)
    return img


def save(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(array)
    if mode:
        img = img.convert(mode)
    img.save(path)
    return path


def warnings_of(fn, *args, **kwargs):
    said: list[str] = []
    return fn(*args, warn=said.append, **kwargs), said


def test_category_folders_with_mixed_sizes_and_modes(tmp_path):
    root = tmp_path / "icons"
    save(root / "fruit" / "a.png", sprite((20, 30), (255, 0, 0)))
    save(root / "fruit" / "b.png", sprite((16, 16), (250, 10, 0)), "P")  # palette, no alpha after convert
    save(root / "tools" / "c.png", sprite((40, 20), (0, 0, 255)))
    save(root / "tools" / "d.jpg", sprite((16, 16), (0, 0, 250))[..., :3])
    data, said = warnings_of(io.read_dataset, root, 16)
    assert data.categories == ["fruit", "tools"] and data.labels.tolist() == [0, 0, 1, 1]
    assert data.images.shape == (4, 16, 16, 4) and data.images.dtype == np.uint8 and not said


def test_alpha_is_premultiplied_so_hidden_colour_disappears(tmp_path):
    root = tmp_path / "set"
    save(root / "a.png", sprite((32, 32), (255, 255, 0), seed=1))
    save(root / "b.png", sprite((48, 32), (0, 255, 0), seed=2))
    data = io.read_dataset(root, 32)
    a = data.images[0]
    transparent = a[..., 3] == 0
    assert transparent.any() and not a[transparent].any()  # (0, 0, 0, 0), garbage colour gone
    assert (a[..., :3] <= a[..., 3:]).all()  # premultiplied: colour never exceeds alpha
    # resampled image (48x32 -> 32): padding is transparent, no colour bleeds from hidden pixels
    b = data.images[1]
    assert not b[b[..., 3] == 0].any() and (b[..., :3].astype(int) <= b[..., 3:].astype(int) + 1).all()
    straight = data.straight()
    assert straight.shape == (2, 32, 32, 4) and straight[0][~transparent][..., :3].max() > 0.99


@pytest.mark.parametrize("fit,expect_corner_alpha", [("pad", 0), ("crop", 255), ("stretch", 255)])
def test_fit_policies(tmp_path, fit, expect_corner_alpha):
    wide = np.zeros((16, 48, 4), np.uint8)
    wide[..., 1] = 200
    wide[..., 3] = 255
    wide[0, 0, 3] = 254  # the set has alpha, so padding is transparent
    save(tmp_path / "d" / "wide.png", wide)
    data = io.read_dataset(tmp_path / "d", 32, fit)
    assert data.images.shape == (1, 32, 32, 4)
    assert data.images[0, 0, 16, 3] == expect_corner_alpha  # the top edge: padded only by "pad"


def test_grey_and_rgb_sets_keep_their_channels(tmp_path):
    grey = (np.random.default_rng(0).random((24, 24)) * 255).astype(np.uint8)
    save(tmp_path / "g" / "a.png", grey)
    save(tmp_path / "g" / "b.png", np.dstack([grey] * 3))  # grey content stored as RGB
    assert io.read_dataset(tmp_path / "g", 16).channels == 1
    save(tmp_path / "c" / "a.png", np.dstack([grey, grey // 2, grey]))
    save(tmp_path / "c" / "b.png", grey)
    data = io.read_dataset(tmp_path / "c", 16, "crop")
    assert data.channels == 3 and data.images.shape == (2, 16, 16, 3)


def test_npz_with_labels_and_categories(tmp_path):
    images = np.stack([sprite((8, 8), (255, 0, 0), i) for i in range(6)])
    np.savez(tmp_path / "d.npz", images=images, labels=np.array([0, 1, 2, 0, 1, 2]),
             categories=np.array(["a", "b", "c"]))
    data = io.read_dataset(tmp_path / "d.npz", 8)
    assert data.categories == ["a", "b", "c"] and data.labels.tolist() == [0, 1, 2, 0, 1, 2]
    assert data.channels == 4 and data.images.shape == (6, 8, 8, 4)
    np.savez(tmp_path / "plain.npz", images=images[..., 0])  # (N, H, W) grey, no labels
    plain = io.read_dataset(tmp_path / "plain.npz", 16)
    assert plain.labels is None and plain.channels == 1 and plain.images.shape == (6, 16, 16, 1)


@pytest.mark.parametrize("arrays,message", [
    ({"images": np.zeros((4, 8, 8, 3), np.uint8), "labels": np.zeros(3, int)}, "one per image"),
    ({"images": np.zeros((4, 8, 8, 3), np.uint8), "labels": np.array([0, 1, 5, 1]),
      "categories": np.array(["a", "b"])}, "0..1"),
    ({"images": np.zeros((4, 8, 8, 3), np.float32)}, "must be uint8"),
    ({"pictures": np.zeros((4, 8, 8, 3), np.uint8)}, "no 'images'"),
    ({"images": np.zeros((4, 8, 8, 3), np.uint8), "categories": np.array(["a"])}, "no 'labels'"),
])
def test_bad_npz_is_refused_with_one_line(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=message) as e:
        io.read_dataset(tmp_path / "bad.npz", 8)
    assert str(tmp_path / "bad.npz") in str(e.value) and "\n" not in str(e.value)


def test_corrupt_files_and_thin_categories_are_skipped_with_a_warning(tmp_path):
    root = tmp_path / "set"
    for i in range(3):
        save(root / "cats" / f"{i}.png", sprite((16, 16), (200, 100, 0), i))
        save(root / "dogs" / f"{i}.png", sprite((16, 16), (0, 100, 200), i))
    save(root / "lonely" / "only.png", sprite((16, 16), (9, 9, 9)))
    (root / "dogs" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    save(root / "stray.png", sprite((16, 16), (1, 2, 3)))
    data, said = warnings_of(io.read_dataset, root, 16)
    assert data.categories == ["cats", "dogs"] and len(data.images) == 6
    assert any("broken.png" in w for w in said) and any("'lonely'" in w for w in said)
    assert any("outside the category folders" in w for w in said)
    reasons = {Path(s["file"]).name: s["reason"] for s in data.skipped}
    assert set(reasons) == {"broken.png", "only.png", "stray.png"}


def test_unusable_folders_are_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no usable images"):
        io.read_dataset(tmp_path / "empty", 32)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.png").write_bytes(b"garbage")
    with pytest.raises(DataError, match="skipped 1"):
        io.read_dataset(tmp_path / "junk", 32, warn=lambda m: None)
    with pytest.raises(DataError, match="no such file"):
        io.read_dataset(tmp_path / "missing", 32)
    with pytest.raises(DataError, match="fit policy"):
        io.read_dataset(tmp_path / "junk", 32, "zoom")


def test_torch_dataset_samples_images_and_labels(tmp_path):
    import torch

    from ganforge.core.modalities.image.data import build_dataset

    images = np.stack([sprite((8, 8), (255, 0, 0), i) for i in range(10)])
    np.savez(tmp_path / "d.npz", images=images, labels=np.arange(10) % 2, categories=np.array(["x", "y"]))
    ds = build_dataset(tmp_path / "d.npz", 8, {"limit": 6})
    assert ds.data_info["count"] == 6 and ds.data_info["categories"] == ["x", "y"]
    x, y = ds.sample(5, torch.Generator().manual_seed(0))
    assert x.shape == (5, 4, 8, 8) and y.shape == (5,) and -1 <= x.min() and x.max() <= 1
    x2, y2 = ds.sample(5, torch.Generator().manual_seed(0))
    assert torch.equal(x, x2) and torch.equal(y, y2)  # the engine's generator decides everything
    with pytest.raises(DataError, match="unknown image data option"):
        build_dataset(tmp_path / "d.npz", 8, {"zoom": 2})


def test_a_small_file_declaring_a_huge_image_is_skipped_before_decoding(tmp_path):
    """A 16-bit 12000² PNG compresses to a few hundred KB and would decode to gigabytes."""
    import tracemalloc

    from PIL import Image

    root = tmp_path / "set"
    for i in range(2):
        save(root / f"{i}.png", sprite((16, 16), (200, 100, 0), i))
    Image.new("I;16", (12000, 12000)).save(root / "huge.png")
    assert (root / "huge.png").stat().st_size < 1_000_000
    tracemalloc.start()
    data, said = warnings_of(io.read_dataset, root, 16)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(data.images) == 2 and peak < 200 << 20
    assert any("huge.png" in w and "megapixel" in w for w in said)
