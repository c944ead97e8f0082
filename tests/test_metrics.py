"""Offline metrics (ganforge.core.metrics) against hand-computed cases. Torch-free."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from ganforge.core.metrics import features, frechet, memorisation, swd


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed))


# ---- Fréchet distance ------------------------------------------------------------------------------
def test_fd_of_identical_sets_is_zero():
    a = rng().standard_normal((200, 8))
    assert frechet.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)


def test_fd_of_a_shifted_set_is_the_squared_shift():
    # A shift leaves the sample covariance unchanged, so FD = |shift|² exactly.
    a = rng().standard_normal((300, 5))
    shift = np.array([1.0, -2.0, 0.5, 0.0, 3.0])
    assert frechet.frechet_distance(a, a + shift) == pytest.approx(float(shift @ shift), rel=1e-9)


def test_fd_between_known_gaussians():
    # 1-D N(0, a²) vs N(0, b²): (a - b)²; diagonal covariances add up per axis.
    assert frechet.frechet_from_stats(0.0, 4.0, 0.0, 1.0) == pytest.approx(1.0)
    mu1, mu2 = np.zeros(2), np.array([3.0, 4.0])
    s1, s2 = np.diag([1.0, 9.0]), np.diag([4.0, 1.0])
    # 25 + (1-2)² + (3-1)² = 30
    assert frechet.frechet_from_stats(mu1, s1, mu2, s2) == pytest.approx(30.0)


def test_fd_of_large_samples_approaches_the_population_value():
    a = rng(1).standard_normal((20000, 3))
    b = rng(2).standard_normal((20000, 3)) * 2.0 + 1.0
    # |mu|² = 3, tr(I + 4I - 2·2I) = 3 -> 6
    assert frechet.frechet_distance(a, b) == pytest.approx(6.0, rel=0.03)


def test_fd_rejects_mismatched_features():
    with pytest.raises(ValueError, match="same D"):
        frechet.frechet_distance(np.zeros((3, 2)), np.zeros((3, 4)))


# ---- KID --------------------------------------------------------------------------------------------
def test_kid_hand_computed():
    # k(x, y) = (x·y/1 + 1)³. Kxx off-diagonal: k(0,1) = 1; Kyy: k(2,3) = 343;
    # Kxy: k(0,2)=1, k(0,3)=1, k(1,2)=27, k(1,3)=64 -> mean 23.25. MMD² = 1 + 343 - 46.5.
    x, y = np.array([[0.0], [1.0]]), np.array([[2.0], [3.0]])
    assert frechet.mmd2_unbiased(x, y) == pytest.approx(297.5)
    assert frechet.kid(x, y) == (pytest.approx(297.5), 0.0)


def test_kid_is_near_zero_for_one_distribution_and_grows_with_a_shift():
    a, b = rng(1).standard_normal((600, 16)), rng(2).standard_normal((600, 16))
    same, _ = frechet.kid(a, b, subset_size=300, subsets=20)
    shifted, std = frechet.kid(a, b + 0.5, subset_size=300, subsets=20)
    assert abs(same) < 0.01
    assert shifted > 0.05 and std > 0
    assert frechet.kid(a, b + 1.0, subset_size=300, subsets=20)[0] > shifted


# ---- SWD --------------------------------------------------------------------------------------------
def test_sliced_wasserstein_of_1d_point_sets():
    # In one dimension every unit direction is ±1: W1({0,1,2}, {1,2,3}) = 1.
    a, b = np.array([[0.0], [1.0], [2.0]]), np.array([[1.0], [2.0], [3.0]])
    assert swd.sliced_wasserstein_descriptors(a, b, directions=16) == pytest.approx(1.0, rel=1e-6)


def test_swd_identical_sets_zero_and_grows_with_difference():
    images = rng().random((40, 32, 32, 4))
    result = swd.swd(images, images)
    assert result["swd"] == 0.0 and set(result) == {"swd", "swd_32", "swd_16"}
    small = swd.swd(np.clip(images + 0.05, 0, 1), images)["swd"]
    large = swd.swd(np.clip(images + 0.3, 0, 1), images)["swd"]
    assert 0 < small < large


def test_laplacian_pyramid_separates_detail_from_flat_images():
    flat = np.full((2, 32, 32, 1), 0.5)
    bands = swd.laplacian_pyramid(flat, 3)
    assert [b.shape[1] for b in bands] == [32, 16, 8]
    assert np.allclose(bands[0], 0) and np.allclose(bands[1], 0) and np.allclose(bands[2], 0.5)


# ---- memorisation -----------------------------------------------------------------------------------
def test_memorisation_flags_copies_but_not_fresh_draws():
    train = rng(0).random((300, 64))
    copies = memorisation.memorisation(train[:100] + 1e-4, train)
    assert copies["share"] == 1.0 and copies["flagged"] and copies["distance_ratio"] < 0.01
    fresh = memorisation.memorisation(rng(1).random((300, 64)), train)
    assert fresh["share"] < 0.25 and not fresh["flagged"]
    assert fresh["distance_ratio"] == pytest.approx(1.0, abs=0.15)


def test_memorisation_needs_matching_sizes():
    with pytest.raises(ValueError, match="differ in size"):
        memorisation.memorisation(np.zeros((2, 3)), np.zeros((4, 5)))


# ---- features ---------------------------------------------------------------------------------------
def test_features_are_deterministic_and_ignore_the_colour_of_transparent_pixels():
    images = rng().random((6, 32, 32, 4)).astype(np.float32)
    images[:, :8, :, 3] = 0.0  # a transparent band
    recoloured = images.copy()
    recoloured[:, :8, :, :3] = rng(5).random((6, 8, 32, 3))  # whatever colour it had
    f = features.random_cnn_features(images)
    assert f.shape == (6, 352)
    np.testing.assert_array_equal(f, features.random_cnn_features(recoloured))
    features._weights.cache_clear()
    np.testing.assert_array_equal(f, features.random_cnn_features(images))  # weights are re-derived


def test_features_accept_grey_rgb_and_other_sizes():
    grey = rng().random((3, 64, 64, 1))
    rgb = np.repeat(grey, 3, axis=3)
    np.testing.assert_allclose(features.random_cnn_features(grey), features.random_cnn_features(rgb))
    assert features.random_cnn_features(rng().random((2, 16, 16, 3))).shape == (2, 352)


def test_features_tell_real_structure_from_blur():
    # Sharp random blocks vs the same images box-blurred: a usable embedding separates them.
    base = np.repeat(np.repeat(rng().random((200, 8, 8, 3)), 4, axis=1), 4, axis=2)
    blurred = features.resize_area(base, 8).repeat(4, axis=1).repeat(4, axis=2)
    blurred = (blurred + np.roll(blurred, 2, axis=1) + np.roll(blurred, 2, axis=2)) / 3
    other = np.repeat(np.repeat(rng(1).random((200, 8, 8, 3)), 4, axis=1), 4, axis=2)
    fa, fb, fo = (features.random_cnn_features(x) for x in (base, blurred, other))
    assert frechet.kid(fa, fb)[0] > 10 * abs(frechet.kid(fa, fo)[0])


def test_metrics_do_not_import_torch():
    import subprocess  # a fresh process: other tests in this one may have loaded torch

    code = ("import sys; import ganforge.core.metrics.frechet, ganforge.core.metrics.swd, "
            "ganforge.core.metrics.features, ganforge.core.metrics.memorisation, "
            "ganforge.core.modalities.image.codec, ganforge.core.modalities.image.metrics, "
            "ganforge.core.commands.eval; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
