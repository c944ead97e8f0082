"""PBR maps (ganforge.core.pbr): analytic normals, flat fields, wrap-around, conventions, ORM."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from test_export_trained import seam_ratios

from ganforge.core import pbr
from ganforge.core.errors import GanforgeError

#: Central differences on a sine of period 64 px are off by (2π/64)²/6 ≈ 0.16 % of the slope;
#: normals are unit vectors, so 2e-3 per component leaves room for float32 and nothing else.
NORMAL_TOLERANCE = 2e-3


def periodic_texture(size: int = 96, seed: int = 0, channels: int = 3) -> np.ndarray:
    """A seamless texture by construction: smooth random noise built in the Fourier domain."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((size, size, channels))
    x = np.stack([pbr.blur(noise[..., c], 2.0) for c in range(channels)], axis=-1)
    x = (x - x.min()) / (x.max() - x.min())
    return x.astype(np.float32)


def decode_normal(encoded: np.ndarray) -> np.ndarray:
    return encoded * 2.0 - 1.0


def analytic(gx: np.ndarray, gy_row: np.ndarray, strength: float) -> np.ndarray:
    """Unit normals of z = strength * h given dh/dcol and dh/drow (rows go down, +Y up)."""
    n = np.stack([-strength * gx, strength * gy_row, np.ones_like(gx)], axis=-1)
    return n / np.linalg.norm(n, axis=-1, keepdims=True)


def test_normal_of_a_sine_equals_the_analytic_normal() -> None:
    size, period, amp, strength = 128, 64, 0.5, 8.0
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    k = 2 * np.pi / period
    h = 0.5 + amp * np.sin(k * cols) * np.cos(k * rows)
    gx = amp * k * np.cos(k * cols) * np.cos(k * rows)
    gy = -amp * k * np.sin(k * cols) * np.sin(k * rows)
    got = decode_normal(pbr.normal(h.astype(np.float32), strength))
    want = analytic(gx, gy, strength)
    assert np.abs(got - want).max() < NORMAL_TOLERANCE
    assert np.abs(want[..., 0]).max() > 0.3  # the slopes are steep enough to test something


def test_normal_of_a_cone_equals_the_analytic_normal() -> None:
    size, radius, strength = 96, 30.0, 20.0
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    cy = cx = size / 2
    r = np.hypot(cols - cx, rows - cy)
    h = np.maximum(0.0, 1.0 - r / radius)
    with np.errstate(invalid="ignore", divide="ignore"):
        gx = np.where(r < radius, -(cols - cx) / (radius * r), 0.0)
        gy = np.where(r < radius, -(rows - cy) / (radius * r), 0.0)
    got = decode_normal(pbr.normal(h.astype(np.float32), strength))
    want = analytic(gx, gy, strength)
    # The slope's size is constant but its direction turns around the apex: the stencil's error
    # falls as 1/r² (0.016 at r = 2, under 2e-3 from r = 6). The apex and the rim (kinks) are left out.
    smooth = (r > 6) & (np.abs(r - radius) > 1.5)
    assert np.abs(got - want)[smooth].max() < NORMAL_TOLERANCE
    # Up-slope points to the apex: left of it the normal leans left (x < 0.5 encoded).
    assert pbr.normal(h.astype(np.float32), strength)[48, 30, 0] < 0.5


def test_flat_height_gives_the_straight_up_normal() -> None:
    flat = np.full((16, 24), 0.3, dtype=np.float32)
    np.testing.assert_allclose(pbr.normal(flat), np.broadcast_to([0.5, 0.5, 1.0], (16, 24, 3)), atol=1e-7)
    maps = pbr.derive(np.broadcast_to(np.float32([0.6, 0.3, 0.1]), (16, 16, 3)))
    assert np.all(maps["height"] == 0.5) and np.all(maps["ao"] == 1.0)
    assert np.all(pbr.derive(np.full((8, 8, 3), 0.4, np.float32), ["height"])["height"] == 0.4)  # grey: as is
    np.testing.assert_allclose(maps["normal"], np.broadcast_to([0.5, 0.5, 1.0], (16, 16, 3)), atol=1e-7)


def test_directx_flips_green_only() -> None:
    h = pbr.height(periodic_texture(64, seed=1))
    gl, dx = pbr.normal(h, 3.0), pbr.normal(h, 3.0, "directx")
    np.testing.assert_allclose(dx[..., 1], 1.0 - gl[..., 1], atol=1e-6)
    np.testing.assert_array_equal(dx[..., [0, 2]], gl[..., [0, 2]])
    # OpenGL: a slope rising toward the bottom of the image faces up the image (+Y: green > 0.5),
    # as the upper flank of a bump does.
    ramp = np.tile(np.linspace(0.0, 1.0, 32, dtype=np.float32)[:, None], (1, 32))
    assert pbr.normal(ramp)[16, 16, 1] > 0.5 and pbr.normal(ramp, normal_format="directx")[16, 16, 1] < 0.5


def test_every_map_tiles_like_the_colour() -> None:
    images = np.stack([periodic_texture(128, seed=s) for s in range(12)])  # AO is sparse: enough rows
    colour_ratios = seam_ratios(images)
    assert max(colour_ratios) <= 1.2
    maps = [pbr.derive(img) for img in images]
    for name in ("normal", "height", "roughness", "ao"):
        stack = np.stack([m[name] for m in maps])
        stack = stack if stack.ndim == 4 else stack[..., None]
        cols, rows = seam_ratios(stack)
        assert cols <= 1.2 and rows <= 1.2, (name, cols, rows)
        # The measure can fail: a window cut out of the same maps is not periodic.
        cut = seam_ratios(stack[:, 7:111, 11:119])
        assert min(cut) > 1.3, (name, cut)


def test_maps_shift_with_the_colour() -> None:
    """On a torus, shifting the input shifts every map the same way: no edge is special."""
    image = periodic_texture(64, seed=3)
    shifted = np.roll(image, (13, -21), axis=(0, 1))
    a, b = pbr.derive(image), pbr.derive(shifted)
    for name in pbr.MAPS:
        np.testing.assert_allclose(np.roll(a[name], (13, -21), axis=(0, 1)), b[name], atol=2e-5, err_msg=name)


def test_height_detail_contrast_and_grey() -> None:
    image = periodic_texture(96, seed=4)
    h = pbr.height(image)
    assert h.dtype == np.float32 and h.shape == (96, 96) and 0.0 <= h.min() and h.max() <= 1.0
    assert abs(float(h.mean()) - 0.5) < 0.02
    fine, broad = (pbr.height(image, pbr.PbrOptions(detail=d)) for d in (1.0, 0.0))
    assert np.abs(np.diff(fine, axis=1)).mean() > 1.5 * np.abs(np.diff(broad, axis=1)).mean()
    flat = pbr.height(image, pbr.PbrOptions(contrast=0.5))
    assert flat.std() < 0.7 * h.std()
    grey = periodic_texture(32, seed=5, channels=1)
    np.testing.assert_array_equal(pbr.height(np.repeat(grey, 3, axis=2)), grey[..., 0])  # its own height


def test_roughness_range_and_inversion() -> None:
    image = periodic_texture(64, seed=6)
    r = pbr.roughness(image, pbr.height(image), pbr.PbrOptions(roughness_range=(0.2, 0.6)))
    assert 0.2 - 1e-6 <= r.min() and r.max() <= 0.6 + 1e-6 and r.max() - r.min() > 0.2
    inv = pbr.roughness(image, pbr.height(image), pbr.PbrOptions(roughness_range=(0.2, 0.6), invert_roughness=True))
    np.testing.assert_allclose(inv, 0.8 - r, atol=1e-6)


def test_ao_darkens_pits_only() -> None:
    h = np.full((64, 64), 0.5, dtype=np.float32)
    h[30:34, 30:34] = 0.1  # a pit
    ao = pbr.ambient_occlusion(h)
    assert ao[31, 31] < 0.8 and ao[5, 5] == 1.0 and ao.max() == 1.0


def test_orm_and_map_names() -> None:
    ao, r = np.full((4, 4), 0.25, np.float32), np.full((4, 4), 0.75, np.float32)
    packed = pbr.orm(ao, r)
    assert packed.shape == (4, 4, 3) and np.all(packed[..., 0] == 0.25) and np.all(packed[..., 1] == 0.75)
    assert np.all(packed[..., 2] == 0.0)
    assert pbr.parse_maps("ao, Color,normal,ao") == ("color", "normal", "ao")
    with pytest.raises(GanforgeError, match="unknown map 'albedo'.*color, normal"):
        pbr.parse_maps("color,albedo")
    with pytest.raises(GanforgeError, match="normal format"):
        pbr.PbrOptions(normal_format="metal")
    assert pbr.PbrOptions.from_options({"roughness_range": "0.1,0.5", "size": "x"}).roughness_range == (0.1, 0.5)


def test_torch_free() -> None:
    import subprocess

    code = "import sys, ganforge.core.pbr; assert 'torch' not in sys.modules and 'PIL' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_png_writer_round_trips_through_pillow(tmp_path) -> None:
    from PIL import Image

    from ganforge.core import png

    rng = np.random.default_rng(0)
    for array in (rng.integers(0, 256, (7, 5), dtype=np.uint8), rng.integers(0, 256, (4, 9, 3), dtype=np.uint8),
                  rng.integers(0, 65536, (6, 3), dtype=np.uint16)):
        path = png.write(tmp_path / "x.png", array)
        np.testing.assert_array_equal(np.asarray(Image.open(path)), array)
    with pytest.raises(TypeError):
        png.encode(np.zeros((2, 2), np.float32))
