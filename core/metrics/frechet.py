"""Fréchet distance and kernel inception distance (KID) between two sets of feature vectors.

Pure numpy, so ``ganforge eval`` runs without torch. The matrix square root goes through
symmetric eigendecompositions (both covariances are symmetric positive semi-definite), which is
exact up to rounding and needs no scipy:
``tr sqrt(S1 S2) = tr sqrt(S1^½ S2 S1^½)``, and the inner matrix is symmetric PSD.
"""

from __future__ import annotations

import numpy as np


def _check(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets must be (N, D) with the same D, got {a.shape} and {b.shape}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError("each feature set needs at least 2 vectors")
    return a, b


def _psd_sqrt(m: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh((m + m.T) / 2)
    return (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T


def frechet_from_stats(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """``|mu1 - mu2|² + tr(S1 + S2 - 2 (S1 S2)^½)``: the Fréchet (2-Wasserstein) distance²
    between two Gaussians."""
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    s1, s2 = np.atleast_2d(s1).astype(np.float64), np.atleast_2d(s2).astype(np.float64)
    r1 = _psd_sqrt(s1)
    inner = np.linalg.eigvalsh((r1 @ s2 @ r1 + (r1 @ s2 @ r1).T) / 2)
    covmean_trace = float(np.sqrt(np.clip(inner, 0.0, None)).sum())
    value = float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * covmean_trace)
    return max(value, 0.0)  # rounding can leave -1e-12 for identical sets


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between feature sets ``a`` (N, D) and ``b`` (M, D) (FID's formula)."""
    a, b = _check(a, b)
    return frechet_from_stats(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))


def _poly_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² with the cubic polynomial kernel ``k(x, y) = (x·y / d + 1)³`` (KID's)."""
    m, n = len(x), len(y)
    kxx, kyy, kxy = _poly_kernel(x, x), _poly_kernel(y, y), _poly_kernel(x, y)
    sxx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(sxx + syy - 2 * kxy.mean())


def kid(a: np.ndarray, b: np.ndarray, subsets: int = 50, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """Kernel inception distance (Bińkowski et al. 2018): mean and std of the unbiased MMD² over
    ``subsets`` random subsets of ``subset_size`` (capped by the smaller set; with both sets no
    larger than ``subset_size`` a single exact estimate is returned, std 0).

    Unbiased, so it is comparable across sample counts (FD is not) — and it can be slightly
    negative when the two sets come from the same distribution.
    """
    a, b = _check(a, b)
    size = min(subset_size, len(a), len(b))
    if size >= len(a) and size >= len(b):
        return mmd2_unbiased(a, b), 0.0
    rng = np.random.Generator(np.random.PCG64(seed))
    values = [mmd2_unbiased(a[rng.choice(len(a), size, replace=False)], b[rng.choice(len(b), size, replace=False)])
              for _ in range(subsets)]
    return float(np.mean(values)), float(np.std(values))
