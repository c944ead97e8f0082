"""Measures that see what a user sees (recognisability, variety inside a category,
density/coverage) and the image family's collapse-guarded best-checkpoint score, on small
synthetic sprites: discs whose colour is the category, at random places and sizes."""

from __future__ import annotations

import numpy as np
import pytest

from ganforge.core.metrics import categories as cat
from ganforge.core.metrics.features import random_cnn_features

COLOURS = [(1.0, 0.1, 0.1), (0.1, 0.8, 0.1), (0.1, 0.2, 1.0), (0.9, 0.8, 0.1)]


def discs(per_category: int, seed: int, size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """(N, size, size, 4) straight RGBA in [0, 1] and labels; every image differs in place and size."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(COLOURS)), per_category)
    images = np.zeros((len(labels), size, size, 4), np.float32)
    yy, xx = np.mgrid[:size, :size]
    for i, k in enumerate(labels):
        cy, cx = rng.uniform(size * 0.25, size * 0.75, 2)
        inside = (yy - cy) ** 2 + (xx - cx) ** 2 < rng.uniform(2.0, size * 0.4) ** 2
        images[i][inside] = (*COLOURS[k], 1.0)
    return images, labels


@pytest.fixture(scope="module")
def real() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    images, labels = discs(40, seed=0)
    return images, labels, random_cnn_features(images)


def copies_one_per_category(images: np.ndarray, labels: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """A 'generator' that returns the first training image of the asked category every time."""
    asked = np.arange(count) % len(COLOURS)
    first = {k: images[np.flatnonzero(labels == k)[0]] for k in range(len(COLOURS))}
    return np.stack([first[k] for k in asked]), asked


def test_held_out_real_reads_as_varied_and_recognisable(real):
    images, labels, feats = real
    fresh, fresh_labels = discs(40, seed=1)
    report = cat.category_report(random_cnn_features(fresh), fresh_labels, feats, labels, len(COLOURS))
    floor = report["floor"]
    assert floor["accuracy"] > 0.9 and report["accuracy"] > 0.9  # colour is easy for a linear probe
    assert 0.9 < report["accuracy_ratio"] < 1.1
    assert 0.8 < floor["variety"] < 1.25 and 0.8 < report["variety"] < 1.25
    assert 0.7 < report["variety_worst"] and report["collapsed_categories"] == []
    assert report["coverage"] > 0.6 and abs(report["coverage"] - floor["coverage"]) < 0.25
    assert report["chance_accuracy"] == 0.25 and report["fit_images"] + report["held_out_images"] == len(images)


def test_a_generator_that_copies_one_image_per_category_is_flagged(real):
    images, labels, feats = real
    fake, asked = copies_one_per_category(images, labels, 80)
    report = cat.category_report(random_cnn_features(fake), asked, feats, labels, len(COLOURS))
    assert report["variety"] < 0.05 and report["variety_worst"] < 0.05
    assert sorted(report["collapsed_categories"]) == [0, 1, 2, 3]
    # four points cover about the k balls around each: a fraction of what as many fresh images cover
    assert report["coverage"] < 0.3 and report["coverage"] < 0.4 * report["floor"]["coverage"]
    assert report["floor"]["variety_worst"] > 0.7  # while real data is not flagged


def test_wrong_categories_are_not_recognised(real):
    images, labels, feats = real
    fresh, fresh_labels = discs(20, seed=2)
    report = cat.category_report(random_cnn_features(fresh), (fresh_labels + 1) % len(COLOURS), feats, labels,
                                 len(COLOURS))
    assert report["accuracy"] < 0.2 and report["accuracy_ratio"] < 0.25


def test_unconditional_reports_variety_and_coverage_without_a_probe(real):
    _, _, feats = real
    fresh, _ = discs(20, seed=3)
    report = cat.category_report(random_cnn_features(fresh), None, feats, None, 1)
    assert "accuracy" not in report and 0.7 < report["variety"] < 1.3 and report["coverage"] > 0.4


def test_density_and_coverage_follow_naeem():
    rng = np.random.default_rng(0)
    real = rng.standard_normal((400, 8))
    same = cat.density_coverage(real, rng.standard_normal((400, 8)))
    assert 0.8 < same["density"] < 1.2 and same["coverage"] > 0.9
    one_mode = cat.density_coverage(real, np.zeros((400, 8)))  # every sample on the mean
    assert one_mode["coverage"] < 0.1 and one_mode["density"] > 1.0  # dense but covering little
    far = cat.density_coverage(real, rng.standard_normal((400, 8)) + 10.0)
    assert far["density"] == 0.0 and far["coverage"] == 0.0


def test_mean_pairwise_distance_and_split():
    x = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]])
    assert cat.mean_pairwise_distance(x) == pytest.approx((5 + 0 + 5) / 3)
    assert np.isnan(cat.mean_pairwise_distance(x[:1]))
    labels = np.array([0] * 5 + [1] * 4 + [2])
    fit, held = cat.split_real(labels)
    assert sorted(np.concatenate([fit, held]).tolist()) == list(range(10))
    assert np.bincount(labels[fit], minlength=3).tolist() == [3, 2, 1]


def test_the_best_checkpoint_score_penalises_a_collapsed_category(real):
    """ImageFamily.evaluate's first key (the engine keeps the best checkpoint by it): a
    generator that draws one image per category gets KID plus at least the full penalty; one
    that draws fresh images of each category gets (almost) none."""
    import torch
    from torch import nn

    from ganforge.core.modalities.image import family as fam

    images, labels, _ = real
    fresh, fresh_labels = discs(40, seed=4)

    def to_tensor(x: np.ndarray) -> torch.Tensor:  # straight RGBA -> premultiplied NCHW in [-1, 1]
        pm = np.concatenate([x[..., :3] * x[..., 3:], x[..., 3:]], axis=3)
        return torch.from_numpy(pm.transpose(0, 3, 1, 2).copy()) * 2 - 1

    class Bank(nn.Module):
        """Returns images of the asked category from a bank, the i-th call's i-th one."""

        def __init__(self, bank: np.ndarray, bank_labels: np.ndarray, copy: bool) -> None:
            super().__init__()
            self.dummy = nn.Parameter(torch.zeros(1))
            self.bank, self.labels, self.copy = to_tensor(bank), torch.from_numpy(bank_labels), copy

        def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            out = []
            for i, k in enumerate(labels.tolist()):
                idx = torch.nonzero(self.labels == k)[:, 0]
                out.append(self.bank[idx[0 if self.copy else i % len(idx)]])
            return torch.stack(out)

    family = fam.ImageFamily({"eval_samples": 64}, {"channels": 4, "crop": 16, "categories": list("abcd")})
    gen = torch.Generator().manual_seed(0)
    idx = torch.randint(0, len(images), (120,), generator=gen)
    batch = (to_tensor(images)[idx], torch.from_numpy(labels)[idx])
    varied = family.evaluate(Bank(fresh, fresh_labels, copy=False), batch, seed=0)
    collapsed = family.evaluate(Bank(fresh, fresh_labels, copy=True), batch, seed=0)
    assert list(varied)[0] == "kid_guarded"  # the key the engine ranks checkpoints by
    assert varied["variety_worst"] > 0.7 and varied["kid_guarded"] == pytest.approx(varied["kid"])
    assert collapsed["variety_worst"] < 0.05
    assert collapsed["kid_guarded"] >= collapsed["kid"] + 0.9 * cat.COLLAPSE_WEIGHT * cat.COLLAPSE_RATIO
    assert collapsed["kid_guarded"] > varied["kid_guarded"] + 0.5


def test_a_given_held_out_set_is_the_floor(real):
    """The benchmark's form: the probe and the balls come from all of ``real`` (its train split),
    the floor from a test split kept apart."""
    images, labels, feats = real
    test, test_labels = discs(10, seed=5)
    fake, asked = copies_one_per_category(images, labels, 40)
    report = cat.category_report(random_cnn_features(fake), asked, feats, labels, len(COLOURS),
                                 held_out=(random_cnn_features(test), test_labels))
    assert report["fit_images"] == len(images) and report["held_out_images"] == len(test)
    assert report["floor"]["accuracy"] > 0.9 and report["floor"]["variety_worst"] > 0.6
    assert report["variety_worst"] < 0.05 and report["density_coverage_items"] == 40
