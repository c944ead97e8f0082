"""Nearest-neighbour memorisation check: are generated samples copies of training items?

For each training item we measure the distance to its nearest *other* training item; the
``quantile`` (10%) of those distances is the threshold: "as close as the closest tenth of training
pairs are to each other". A fresh draw from the data distribution falls under it about
``quantile`` of the time; a generator that copies its training set does so almost always. The
check is flagged when the share of samples under the threshold exceeds ``flag_ratio`` times the
expected share.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _nearest(queries: np.ndarray, items: np.ndarray, exclude_self: bool = False, chunk: int = 512) -> np.ndarray:
    """Euclidean distance from each query to its nearest item (float64)."""
    sq_items = (items ** 2).sum(1)
    out = np.empty(len(queries))
    for start in range(0, len(queries), chunk):
        q = queries[start:start + chunk]
        d2 = (q ** 2).sum(1)[:, None] + sq_items[None, :] - 2 * q @ items.T
        if exclude_self:
            d2[np.arange(len(q)), np.arange(start, start + len(q))] = np.inf
        out[start:start + chunk] = np.sqrt(np.clip(d2.min(axis=1), 0.0, None))
    return out


def memorisation(samples: np.ndarray, training: np.ndarray, quantile: float = 0.1, flag_ratio: float = 2.5,
                 max_training: int = 5000, seed: int = 0) -> dict[str, Any]:
    """Compare samples (N, ...) with training items (M, ...) as flat vectors.

    Returns ``share`` (samples closer to a training item than the threshold), ``expected``
    (= ``quantile``), ``threshold``, the median nearest distances of samples and of training
    pairs, their ratio (``distance_ratio``: < 1 means samples sit closer to the training set than
    its own members do) and ``flagged``.
    """
    a = np.asarray(samples, np.float64).reshape(len(samples), -1)
    t = np.asarray(training, np.float64).reshape(len(training), -1)
    if a.shape[1] != t.shape[1]:
        raise ValueError(f"samples and training items differ in size ({a.shape[1]} vs {t.shape[1]} values)")
    if len(t) < 2:
        raise ValueError("the memorisation check needs at least 2 training items")
    if len(t) > max_training:  # a fixed random subset keeps it O(N·max_training)
        t = t[np.random.Generator(np.random.PCG64(seed)).choice(len(t), max_training, replace=False)]
    train_nn = _nearest(t, t, exclude_self=True)
    sample_nn = _nearest(a, t)
    threshold = float(np.quantile(train_nn, quantile))
    share = float(np.mean(sample_nn < threshold))
    med_train = float(np.median(train_nn))
    return {"share": share, "expected": quantile, "threshold": threshold,
            "sample_median_nn": float(np.median(sample_nn)), "train_median_nn": med_train,
            "distance_ratio": float(np.median(sample_nn) / max(med_train, 1e-12)),
            "flagged": bool(share > flag_ratio * quantile)}
