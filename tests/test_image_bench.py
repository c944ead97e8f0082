"""The image benchmark's rules that need no data set: the split, the subset, and a baseline's
snapshots (benchmarks/bench_image.py, benchmarks/image_baselines.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


def test_split_is_stratified_disjoint_and_seeded():
    import bench_image

    labels = np.repeat(np.arange(4), [5, 40, 100, 21])
    parts = bench_image.split(labels)
    together = np.concatenate([parts["train"], parts["val"], parts["test"]])
    assert sorted(together.tolist()) == list(range(len(labels)))  # each image once
    assert np.bincount(labels[parts["val"]], minlength=4).tolist() == [0, 4, 10, 2]
    assert all(np.array_equal(parts[k], bench_image.split(labels)[k]) for k in parts)
    small = bench_image.subset(parts["train"], labels, 0.1)
    assert set(small) <= set(parts["train"]) and np.bincount(labels[small], minlength=4).min() >= 2


def test_runs_picks_a_subset_by_name_and_refuses_unknown_names():
    import argparse

    import bench_image

    args = argparse.Namespace(models="ganforge,dcgan,fastgan", ganforge_option=[], ganforge_family="fastgan",
                              ganforge_batches="", budget_lr=1e-3, runs="")
    assert [s["name"] for s in bench_image.run_specs(args)] == [
        "ganforge-fastgan", "dcgan", "dcgan@0.001", "fastgan", "fastgan@0.001"]
    args.runs = "dcgan@0.001,ganforge-fastgan"
    picked = bench_image.run_specs(args)
    assert [(s["name"], s["lr"]) for s in picked] == [("ganforge-fastgan", 2e-4), ("dcgan@0.001", 1e-3)]
    args.runs = "dcgan@0.01"
    with pytest.raises(SystemExit, match="choose from"):
        bench_image.run_specs(args)


@pytest.mark.parametrize("kind", ["dcgan", "fastgan"])
def test_a_baseline_saves_snapshots_that_sample_by_category(kind, tmp_path):
    import image_baselines

    rng = np.random.default_rng(0)
    images = (rng.random((24, 32, 32, 4)) * 255).astype(np.uint8)
    facts = image_baselines.train_baseline(kind, 2e-4, images, np.arange(24) % 3, 3, budget_s=1.0,
                                           out=tmp_path, snapshot_s=0.5)
    snaps = sorted(tmp_path.glob("snap_*.pt"))
    assert facts["steps"] >= 1 and facts["snapshots"] == len(snaps) >= 1
    out = image_baselines.sampler(snaps[-1])(np.array([0, 1, 2, 2]), seed=3)
    assert out.shape == (4, 32, 32, 4) and 0.0 <= out.min() and out.max() <= 1.0


@pytest.mark.parametrize("kind", ["dcgan", "fastgan"])
def test_the_label_term_does_not_swamp_a_fresh_discriminator(kind):
    """At initialisation the projection's label term is on the scale of the rest of the logit
    (nn.Embedding's default N(0, 1) made it ~100 against ~1, and a 30-minute DCGAN gave noise)."""
    import image_baselines
    import torch

    torch.manual_seed(0)
    _, D = image_baselines.build(kind, 32, 4, 10)
    x = torch.randn(64, 4, 32, 32)
    with torch.no_grad():
        per_label = torch.stack([D(x, torch.full((64,), k)) for k in range(10)])  # (labels, images)
    spread_over_labels = per_label.std(dim=0).mean()
    assert spread_over_labels < 5.0, spread_over_labels
