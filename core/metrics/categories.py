"""Measures that see what a user of a conditional image model sees (numpy, offline).

KID and FD compare whole distributions; they do not say whether a sample of "Animals" looks like
an animal, nor whether all the animals look alike. These do, on the fixed-seed random-CNN
features of :mod:`.features` (standardised per dimension by the real data, so no single layer's
scale dominates a distance):

- **recognisability**: a linear probe (class-weighted ridge regression onto one-hot categories,
  closed form, so deterministic and torch-free) is fitted on real images; its balanced accuracy
  (mean per-category recall) on *held-out* real images is the ceiling, and the same accuracy on
  generated samples, scored against the category each was asked for, is the measure. The ratio
  of the two is what is reported as a target. Balanced, because real sets are lopsided (twemoji:
  60% "People & Body"): plain accuracy would reward a probe that always answers the big class.
- **variety inside a category**: mean pairwise feature distance among samples of one category
  over the same among real images of it. 1.0 is as varied as the data; a category whose samples
  are all the same image reads 0. The worst category is what a collapse shows up in.
- **density and coverage** (Naeem et al. 2020, "Reliable fidelity and diversity metrics for
  generative models"): with ``r_i`` the distance of real ``x_i`` to its k-th nearest real
  neighbour, density = mean over samples of (how many real balls contain it) / k (about 1 for
  real data, above 1 when samples crowd dense regions), coverage = share of real balls that
  contain at least one sample (low when modes are missing).

:func:`category_report` splits the real set (stratified, seeded) into a *fit* half and a
*held-out* half: the probe, the real variety and the k-NN balls come from the fit half; the
held-out half is scored exactly like the samples and is reported as the floor (what real data
reads), so every number sits beside the value it should be compared with.
"""

from __future__ import annotations

from typing import Any

import numpy as np

RIDGE = 10.0  # chosen on twemoji features (balanced accuracy flat from 0.1 to 100)
K_NEAREST = 5  # Naeem et al.'s default
MIN_PER_CATEGORY = 4  # fewer images than this give a variety too noisy to judge a category by
MAX_PAIRS_SIDE = 500  # per category, a seeded subset bounds the O(n²) pairwise distances
COLLAPSE_RATIO = 0.5  # variety ratio under which a category counts as collapsed
# The best-checkpoint rule's penalty per unit of worst-category variety under COLLAPSE_RATIO:
# 2 × 0.5 = 1.0 for a category drawn as one image, above the KID of unstructured noise on these
# features (~0.7), so such a checkpoint never wins on KID.
COLLAPSE_WEIGHT = 2.0


def standardiser(real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and standard deviation of real features (a dead unit gets std 1)."""
    real = np.asarray(real, np.float64)
    sd = real.std(axis=0)
    return real.mean(axis=0), np.where(sd > 1e-8, sd, 1.0)


class LinearProbe:
    """Class-weighted ridge regression onto one-hot labels; predicts the largest output."""

    def __init__(self, num_classes: int, ridge: float = RIDGE) -> None:
        self.k, self.ridge = int(num_classes), float(ridge)
        self.weights: np.ndarray | None = None

    def fit(self, x: np.ndarray, labels: np.ndarray) -> LinearProbe:
        labels = np.asarray(labels, np.int64)
        x1 = np.c_[np.asarray(x, np.float64), np.ones(len(x))]
        counts = np.bincount(labels, minlength=self.k)
        # each category weighs the same in total, however many images it has
        w = (len(labels) / (self.k * np.maximum(counts, 1)))[labels]
        xw = x1 * w[:, None]
        self.weights = np.linalg.solve(xw.T @ x1 + self.ridge * np.eye(x1.shape[1]), xw.T @ np.eye(self.k)[labels])
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.weights is None:
            raise ValueError("fit the probe first")
        return (np.c_[np.asarray(x, np.float64), np.ones(len(x))] @ self.weights).argmax(axis=1)


def per_category_recall(predicted: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Share of items of each category predicted as that category (NaN where there are none)."""
    out = np.full(num_classes, np.nan)
    for k in range(num_classes):
        mask = labels == k
        if mask.any():
            out[k] = float(np.mean(predicted[mask] == k))
    return out


def mean_pairwise_distance(x: np.ndarray, seed: int = 0) -> float:
    """Mean Euclidean distance over all pairs i < j (NaN for fewer than 2 rows)."""
    x = np.asarray(x, np.float64)
    if len(x) > MAX_PAIRS_SIDE:
        x = x[np.random.Generator(np.random.PCG64(seed)).choice(len(x), MAX_PAIRS_SIDE, replace=False)]
    n = len(x)
    if n < 2:
        return float("nan")
    sq = (x ** 2).sum(axis=1)
    d = np.sqrt(np.clip(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0, None))
    return float(d[np.triu_indices(n, 1)].mean())


def variety(fake: np.ndarray, fake_labels: np.ndarray, real: np.ndarray, real_labels: np.ndarray,
            num_classes: int, min_count: int = MIN_PER_CATEGORY, seed: int = 0) -> dict[str, Any]:
    """Per category: mean pairwise distance among samples over the same among real images.

    Categories with fewer than ``min_count`` items on either side get None (too few pairs to
    judge by). Returns ``per_category`` (list), ``mean`` and ``worst`` over the judged ones,
    ``worst_category`` (index) and ``collapsed`` (indices under :data:`COLLAPSE_RATIO`)."""
    ratios: list[float | None] = []
    for k in range(num_classes):
        f, r = fake[fake_labels == k], real[real_labels == k]
        if len(f) < min_count or len(r) < min_count:
            ratios.append(None)
            continue
        ratios.append(mean_pairwise_distance(f, seed) / max(mean_pairwise_distance(r, seed), 1e-12))
    judged = [(v, k) for k, v in enumerate(ratios) if v is not None]
    if not judged:
        return {"per_category": ratios, "mean": float("nan"), "worst": float("nan"),
                "worst_category": None, "collapsed": []}
    worst, worst_k = min(judged)
    return {"per_category": ratios, "mean": float(np.mean([v for v, _ in judged])), "worst": float(worst),
            "worst_category": int(worst_k), "collapsed": [k for v, k in judged if v < COLLAPSE_RATIO]}


def _pairwise_sq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.clip((a ** 2).sum(1)[:, None] + (b ** 2).sum(1)[None, :] - 2 * a @ b.T, 0.0, None)


def density_coverage(real: np.ndarray, fake: np.ndarray, k: int = K_NEAREST) -> dict[str, float]:
    """Naeem et al. 2020's density and coverage of ``fake`` against ``real`` (both (N, D))."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if len(real) <= k:
        raise ValueError(f"density/coverage need more than k={k} real items, got {len(real)}")
    d_rr = _pairwise_sq(real, real)
    np.fill_diagonal(d_rr, np.inf)
    radii = np.partition(d_rr, k - 1, axis=1)[:, k - 1]  # squared distance to the k-th neighbour
    inside = _pairwise_sq(real, fake) < radii[:, None]  # (real, fake): fake j inside ball i
    return {"density": float(inside.sum() / (k * len(fake))), "coverage": float(inside.any(axis=1).mean())}


def split_real(labels: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Stratified halves of a labelled set: (fit indices, held-out indices); a category with
    one image goes to the fit half."""
    rng = np.random.Generator(np.random.PCG64(seed))
    fit, held = [], []
    for k in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == k))
        cut = (len(idx) + 1) // 2
        fit.append(idx[:cut])
        held.append(idx[cut:])
    return np.sort(np.concatenate(fit)), np.sort(np.concatenate(held))


def _score(fake: np.ndarray, fake_labels: np.ndarray, real: np.ndarray, real_labels: np.ndarray,
           probe: LinearProbe | None, num_classes: int, seed: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if probe is not None:
        recall = per_category_recall(probe.predict(fake), fake_labels, num_classes)
        out["accuracy"] = float(np.nanmean(recall))
        out["accuracy_per_category"] = [None if np.isnan(v) else float(v) for v in recall]
    v = variety(fake, fake_labels, real, real_labels, num_classes, seed=seed)
    out.update(variety=v["mean"], variety_worst=v["worst"], variety_worst_category=v["worst_category"],
               variety_per_category=v["per_category"], collapsed_categories=v["collapsed"])
    return out


def category_report(fake: np.ndarray, fake_labels: np.ndarray | None, real: np.ndarray,
                    real_labels: np.ndarray | None, num_classes: int, seed: int = 0,
                    held_out: tuple[np.ndarray, np.ndarray | None] | None = None) -> dict[str, Any]:
    """Recognisability, variety and density/coverage of samples, with the real-data floor.

    ``fake``/``real``: raw random-CNN features; labels: the category each sample was asked for
    and each real image's (None: one category, no probe). Returns the samples' numbers, the
    same numbers for held-out real images (``floor``), and ``accuracy_ratio`` (samples' balanced
    accuracy over held-out real's: the share of the data's recognisability the model reaches).
    Density and coverage depend on the sample count, so the larger of samples and held-out real
    images is cut (seeded) to the smaller one's count before they are measured. ``held_out``:
    (features, labels) of real images kept apart already (a benchmark's test split); then all of
    ``real`` is the fit side."""
    if fake_labels is None or real_labels is None or num_classes < 2:
        fake_labels, real_labels, num_classes = np.zeros(len(fake), np.int64), np.zeros(len(real), np.int64), 1
    fake_labels, real_labels = np.asarray(fake_labels, np.int64), np.asarray(real_labels, np.int64)
    real = np.asarray(real, np.float64)
    if held_out is None:
        fit, held = split_real(real_labels, seed)
        real, held_f, held_labels, real_labels = real[fit], real[held], real_labels[held], real_labels[fit]
    else:
        held_f = np.asarray(held_out[0], np.float64)
        held_labels = (np.zeros(len(held_f), np.int64) if num_classes == 1 or held_out[1] is None
                       else np.asarray(held_out[1], np.int64))
    mu, sd = standardiser(real)
    zr, zh, zf = (real - mu) / sd, (held_f - mu) / sd, (np.asarray(fake, np.float64) - mu) / sd
    probe = LinearProbe(num_classes).fit(zr, real_labels) if num_classes > 1 else None
    n = min(len(zf), len(zh))
    rng = np.random.Generator(np.random.PCG64(seed + 1))
    f_idx, h_idx = np.sort(rng.permutation(len(zf))[:n]), np.sort(rng.permutation(len(zh))[:n])
    samples = _score(zf, fake_labels, zr, real_labels, probe, num_classes, seed)
    floor = _score(zh, held_labels, zr, real_labels, probe, num_classes, seed)
    samples.update(density_coverage(zr, zf[f_idx]))
    floor.update(density_coverage(zr, zh[h_idx]))
    if probe is not None:
        samples["accuracy_ratio"] = samples["accuracy"] / max(floor["accuracy"], 1e-12)
    return {**samples, "floor": floor, "fit_images": int(len(zr)), "held_out_images": int(len(zh)),
            "density_coverage_items": int(n), "chance_accuracy": 1.0 / num_classes}


def guarded_kid(fake: np.ndarray, fake_labels: np.ndarray | None, real: np.ndarray,
                real_labels: np.ndarray | None, num_classes: int, seed: int = 0) -> dict[str, float]:
    """The best-checkpoint score of conditional images (lower is better), first key
    ``kid_guarded`` = KID + :data:`COLLAPSE_WEIGHT` · max(0, :data:`COLLAPSE_RATIO` − worst
    category's variety ratio), then ``kid``, ``variety`` and ``variety_worst``.

    KID alone is content with a model that draws one good image per category (a few samples per
    category barely move a distribution distance), so a checkpoint that collapses a category
    pays more than unstructured noise's whole KID. ``real`` may hold repeats (a batch drawn with
    replacement): they are dropped for the variety, where a repeat would read as "no variety".
    No labels: one category."""
    from .frechet import kid

    fake, real = np.asarray(fake, np.float64), np.asarray(real, np.float64)
    score = kid(fake, real)[0]
    if fake_labels is None or real_labels is None or num_classes < 2:
        fake_labels, real_labels, num_classes = np.zeros(len(fake), np.int64), np.zeros(len(real), np.int64), 1
    fake_labels, real_labels = np.asarray(fake_labels, np.int64), np.asarray(real_labels, np.int64)
    _, first = np.unique(real, axis=0, return_index=True)
    mu, sd = standardiser(real)
    v = variety((fake - mu) / sd, fake_labels, ((real - mu) / sd)[first], real_labels[first], num_classes, seed=seed)
    worst = v["worst"] if np.isfinite(v["worst"]) else 1.0  # no category judged: no penalty
    return {"kid_guarded": score + COLLAPSE_WEIGHT * max(0.0, COLLAPSE_RATIO - worst), "kid": score,
            "variety": v["mean"] if np.isfinite(v["mean"]) else 1.0, "variety_worst": worst}
